"""Put this folder first on PYTHONPATH to run a process in which TensorFlow is absent, as on a GPU
machine that has JAX or PyTorch but no TensorFlow.

None in sys.modules is how Python spells "not importable": ``import tensorflow`` raises
ModuleNotFoundError and ``importlib.util.find_spec`` returns None, as when it is not installed
(libraries such as Keras probe with find_spec; a finder that raised would break those probes).
"""

import sys

for _name in ("tensorflow", "tensorflow_probability", "tf_keras"):
    sys.modules[_name] = None
