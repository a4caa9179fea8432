import atexit
import os
import shutil
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# JAX's persistent compilation cache, shared by this pytest process and every JAX process it starts
# (the subprocess tests, the sweep's Ray trials): they train the same tiny models, and JAX compiles
# each program once per process otherwise. Everything is cached (no minimum compile time or size);
# a fresh directory each run, removed at exit, so no run reads another's (the results are the same
# either way: a cached executable is the compiled program itself). HWKERAS_TEST_JAX_CACHE keeps one.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = os.environ.get("HWKERAS_TEST_JAX_CACHE") or tempfile.mkdtemp(prefix="hwkeras-test-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    if "HWKERAS_TEST_JAX_CACHE" not in os.environ:
        atexit.register(shutil.rmtree, _cache, ignore_errors=True)
# The user's cache ($XDG_CACHE_HOME/hwkeras: hwkeras evaluate's code tables, dataset caches of read-only
# folders) is the user's, not the tests': each pytest process gets a fresh one, removed at exit, so the
# suite neither fills ~/.cache nor reads what an earlier run left there.
if "XDG_CACHE_HOME" not in os.environ:
    _user_cache = tempfile.mkdtemp(prefix="hwkeras-test-cache-")
    os.environ["XDG_CACHE_HOME"] = _user_cache
    atexit.register(shutil.rmtree, _user_cache, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
