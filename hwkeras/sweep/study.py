"""disentanglement_lib's study ``unsupervised_study_v1`` (Locatello et al., ICML 2019) as data.

The study is the product datasets x architecture x models x seeds, in that order, and a model
number is the index into it (disentanglement_lib's ``config/unsupervised_study_v1/sweep.py``;
its released models are addressed by these numbers):

    model_num = dataset index * 1800 + setting index * 50 + seed index

7 datasets x 36 settings (6 methods x 6 values of one hyperparameter) x 50 seeds = 12,600
numbers. The seed index is disentanglement_lib's ``model.random_seed`` and the run's ``seed``
here. Every model of the study has the same architecture (``--architecture dlib``) and training
(``--preset locatello``). ``tests/sweep/test_study.py`` holds this table to numbers produced by
disentanglement_lib's own ``sweep.py``.

CHyVAE can join as a seventh method (``with_methods=("chyvae",)``, ``hwkeras sweep --with
chyvae``): a comparison the study did not make, so its trials have no model number (None), and
its settings are numbered after the study's 36 (docs/SWEEPS.md says why these six values of nu).

Pure data: no Keras, no Ray. Bad input is a one-line ValueError.
"""

from dataclasses import dataclass

STUDY = "unsupervised_study_v1"
#: Every model of the study: disentanglement_lib's conv_encoder/deconv_decoder, and shared.gin's training.
ARCHITECTURE = "dlib"
PRESET = "locatello"
SEEDS = 50


@dataclass(frozen=True)
class Dataset:
    dlib: str  # disentanglement_lib's dataset.name
    name: str  # hwkeras's dataset registry name


#: In the study's order.
DATASETS = (
    Dataset("dsprites_full", "dsprites"),
    Dataset("color_dsprites", "color-dsprites"),
    Dataset("noisy_dsprites", "noisy-dsprites"),
    Dataset("scream_dsprites", "scream-dsprites"),
    Dataset("smallnorb", "smallnorb"),
    Dataset("cars3d", "cars3d"),
    Dataset("shapes3d", "shapes3d"),
)


@dataclass(frozen=True)
class Method:
    """One method of the study: ``values`` of one hyperparameter, the others fixed.

    ``name``: disentanglement_lib's ``model.name``; ``model``: hwkeras's registry name;
    ``hyperparameter``: the hwkeras option the study varies; ``fixed``: the options it holds,
    as disentanglement_lib writes them; ``gin``: hwkeras option -> disentanglement_lib's gin
    binding; ``bindings``: disentanglement_lib's other bindings of this method (what it builds).
    """

    name: str
    model: str
    hyperparameter: str
    values: tuple
    fixed: tuple = ()  # ((option, value), ...)
    gin: tuple = ()  # ((option, binding), ...)
    bindings: tuple = ()  # ((binding, value), ...)

    def options(self, value):
        """The hwkeras model options of this method's setting ``value``."""
        return {key: _option_value(key, v) for key, v in ((self.hyperparameter, value), *self.fixed)}


#: hwkeras options that count steps (integers); the others are floats.
_STEP_OPTIONS = ("iteration_threshold",)


def _option_value(key, value):
    return int(value) if key in _STEP_OPTIONS else float(value)


def _dip(name, model, lambda_d_factor, dip_type):
    return Method(name, model, "lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
                  fixed=(("lambda_d_factor", lambda_d_factor),),
                  gin=(("lambda_od", "dip_vae.lambda_od"), ("lambda_d_factor", "dip_vae.lambda_d_factor")),
                  bindings=(("model.model", "@dip_vae()"), ("dip_vae.dip_type", dip_type)))


#: The study's 6 methods in its order; each has 6 settings, so setting s is METHODS[s // 6].values[s % 6].
METHODS = (
    Method("beta_vae", "beta-vae", "beta", (1.0, 2.0, 4.0, 6.0, 8.0, 16.0),
           gin=(("beta", "vae.beta"),), bindings=(("model.model", "@vae()"),)),
    Method("factor_vae", "factor-vae", "gamma", (10.0, 20.0, 30.0, 40.0, 50.0, 100.0),
           gin=(("gamma", "factor_vae.gamma"),),
           bindings=(("model.model", "@factor_vae()"), ("discriminator.discriminator_fn", "@fc_discriminator"))),
    _dip("dip_vae_i", "dip-vae-i", 10.0, "i"),
    _dip("dip_vae_ii", "dip-vae-ii", 1.0, "ii"),
    Method("beta_tc_vae", "beta-tcvae", "beta", (1.0, 2.0, 4.0, 6.0, 8.0, 10.0),
           gin=(("beta", "beta_tc_vae.beta"),), bindings=(("model.model", "@beta_tc_vae()"),)),
    Method("annealed_vae", "annealed-vae", "c_max", (5.0, 10.0, 25.0, 50.0, 75.0, 100.0),
           fixed=(("iteration_threshold", 100000), ("gamma", 1000)),
           gin=(("c_max", "annealed_vae.c_max"), ("iteration_threshold", "annealed_vae.iteration_threshold"),
                ("gamma", "annealed_vae.gamma")),
           bindings=(("model.model", "@annealed_vae()"),)),
)
#: Methods hwkeras adds to the study's six (``with_methods``). CHyVAE's nu: from 12, the smallest
#: with E[Sigma] = I at 10 latents (nu > p + 1), to 10000, where the inverse-Wishart is nearly fixed at
#: its mean (a diagonal-prior VAE); 200 is the CHyVAE paper's setting (docs/SWEEPS.md).
EXTRA_METHODS = (
    Method("chyvae", "chyvae", "nu", (12.0, 20.0, 50.0, 200.0, 1000.0, 10000.0)),
)
SETTINGS_PER_METHOD = 6
SETTINGS = len(METHODS) * SETTINGS_PER_METHOD  # 36
MODELS_PER_DATASET = SETTINGS * SEEDS  # 1800
MODEL_NUMBERS = len(DATASETS) * MODELS_PER_DATASET  # 12600


def dataset(name):
    """A study dataset by hwkeras's name (``dsprites``) or disentanglement_lib's (``dsprites_full``)."""
    for index, entry in enumerate(DATASETS):
        if name in (entry.name, entry.dlib):
            return index, entry
    raise ValueError(f"{name!r} is not a dataset of {STUDY}; its datasets are "
                     f"{', '.join(d.name for d in DATASETS)}")


def method(name, with_methods=()):
    """(index, Method) by hwkeras's model name (``beta-vae``) or disentanglement_lib's (``beta_vae``);
    an added method (``chyvae``) has index 6 and up."""
    for index, entry in enumerate(_methods(with_methods)):
        if name in (entry.model, entry.name):
            return index, entry
    extra = [m.model for m in EXTRA_METHODS]
    hint = (f" ({name} joins with --with {name})" if name in extra else
            f"; {', '.join(extra)} can join with --with")
    raise ValueError(f"{name!r} is not a method of {STUDY}: its methods are "
                     f"{', '.join(m.model for m in METHODS)}{hint}")


def _methods(with_methods):
    """The study's six methods, then the added ones named in ``with_methods``."""
    return METHODS + tuple(m for m in EXTRA_METHODS if m.model in with_methods or m.name in with_methods)


def check_with(with_methods):
    names = [m.model for m in EXTRA_METHODS]
    for name in with_methods:
        if name not in names:
            raise ValueError(f"--with {name}: only {', '.join(names)} can join {STUDY}'s six methods")
    return tuple(dict.fromkeys(with_methods))


def check_model_num(model_num):
    if isinstance(model_num, bool) or not isinstance(model_num, int):
        raise ValueError(f"a model number of {STUDY} is an integer 0 .. {MODEL_NUMBERS - 1}, got {model_num!r}")
    if not 0 <= model_num < MODEL_NUMBERS:
        raise ValueError(f"model number {model_num} is outside {STUDY}'s 0 .. {MODEL_NUMBERS - 1} "
                         f"({len(DATASETS)} datasets x {SETTINGS} settings x {SEEDS} seeds)")
    return model_num


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEEDS:
        raise ValueError(f"{STUDY} has seeds 0 .. {SEEDS - 1}, got {seed!r}")
    return seed


def _configuration(dataset_index, method_index, value_index, seed, with_methods=()):
    data = DATASETS[dataset_index]
    entry = _methods(with_methods)[method_index]
    value = entry.values[value_index]
    setting = method_index * SETTINGS_PER_METHOD + value_index
    in_study = method_index < len(METHODS)
    model_num = dataset_index * MODELS_PER_DATASET + setting * SEEDS + seed if in_study else None
    return {"study": STUDY, "model_num": model_num, "dataset": data.name, "dlib_dataset": data.dlib,
            "method": entry.name, "model": entry.model, "hyperparameter": entry.hyperparameter, "value": value,
            "model_options": entry.options(value), "setting": setting, "seed": seed,
            "architecture": ARCHITECTURE, "preset": PRESET,
            "bindings": _bindings(data, entry, value, seed) if in_study else None}


def _bindings(data, entry, value, seed):
    """disentanglement_lib's gin bindings of this model (what its ``get_config()[model_num]`` holds)."""
    values = {entry.hyperparameter: value, **dict(entry.fixed)}
    return {"dataset.name": data.dlib, "encoder.encoder_fn": "@conv_encoder", "decoder.decoder_fn": "@deconv_decoder",
            "model.name": entry.name, **dict(entry.bindings), **{gin: values[key] for key, gin in entry.gin},
            "model.random_seed": seed}


def configuration(model_num):
    """Model ``model_num`` of the study as a dict: study, model_num, dataset (hwkeras's name),
    dlib_dataset, method (disentanglement_lib's name), model (hwkeras's), hyperparameter, value,
    model_options (hwkeras's), setting (0 .. 35), seed, architecture, preset, bindings
    (disentanglement_lib's gin bindings)."""
    check_model_num(model_num)
    dataset_index, rest = divmod(model_num, MODELS_PER_DATASET)
    setting, seed = divmod(rest, SEEDS)
    return _configuration(dataset_index, *divmod(setting, SETTINGS_PER_METHOD), seed)


def model_number(dataset_name, method_name, value, seed):
    """The inverse of ``configuration``: the number of (dataset, method, hyperparameter value, seed)."""
    dataset_index, _ = dataset(dataset_name)
    method_index, entry = method(method_name)
    check_seed(seed)
    matches = [i for i, v in enumerate(entry.values) if float(v) == float(value)]
    if not matches:
        raise ValueError(f"{entry.model}'s {entry.hyperparameter} takes {', '.join(f'{v:g}' for v in entry.values)} "
                         f"in {STUDY}, not {value!r}")
    return dataset_index * MODELS_PER_DATASET + (method_index * SETTINGS_PER_METHOD + matches[0]) * SEEDS + seed


def expand(dataset_name, models=None, seeds=None, with_methods=()):
    """The study's configurations on one dataset, in its order (methods, then values, then seeds).

    ``models``: method names (hwkeras's or disentanglement_lib's; None: the study's six), then
    ``with_methods``, kept in the study's order whatever the order given; ``seeds``: K, the seeds
    0 .. K-1 (None: all 50).
    """
    dataset_index, _ = dataset(dataset_name)
    with_methods = check_with(with_methods)
    if seeds is None:
        seeds = SEEDS
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= SEEDS:
        raise ValueError(f"--seeds must be 1 .. {SEEDS} ({STUDY} has seeds 0 .. {SEEDS - 1}), got {seeds!r}")
    if models is None:
        indices = list(range(len(METHODS) + len(with_methods)))
    else:
        models = list(models)
        if not models:
            raise ValueError(f"no methods given; {STUDY}'s methods are {', '.join(m.model for m in METHODS)}")
        indices = [method(name, with_methods + tuple(models))[0] for name in models]
        repeated = sorted({name for name, i in zip(models, indices) if indices.count(i) > 1})
        if repeated:
            raise ValueError(f"--models names {', '.join(repeated)} twice; list each method once")
        added = [method(name, with_methods + tuple(models))[0] for name in with_methods]
        indices = sorted(set(indices) | set(added))
    everyone = with_methods + tuple(models or ())
    return [_configuration(dataset_index, index, value_index, seed, everyone)
            for index in indices for value_index in range(SETTINGS_PER_METHOD) for seed in range(seeds)]


def from_numbers(model_nums):
    """The configurations of these model numbers, in the order given; one dataset (a sweep compares
    its trials on the same images), no number twice."""
    configurations = [configuration(n) for n in model_nums]
    if not configurations:
        raise ValueError("--model-num lists no number; e.g. --model-num 0 or --model-num 0-49")
    repeated = sorted({n for n in model_nums if list(model_nums).count(n) > 1})
    if repeated:
        raise ValueError(f"--model-num lists {', '.join(map(str, repeated))} twice; list each number once")
    datasets = list(dict.fromkeys(c["dataset"] for c in configurations))
    if len(datasets) > 1:
        ranges = ", ".join(f"{d.name} {i * MODELS_PER_DATASET}-{(i + 1) * MODELS_PER_DATASET - 1}"
                           for i, d in enumerate(DATASETS) if d.name in datasets)
        raise ValueError(f"--model-num spans datasets ({ranges}); a sweep trains on one dataset, so run one "
                         f"sweep per dataset")
    return configurations


def parse_model_nums(text):
    """``"0,1,50-51"`` -> [0, 1, 50, 51] (ranges inclusive)."""
    numbers = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise ValueError(f"--model-num {text!r}: {part!r} is not a number or a range N-M; "
                             f"e.g. --model-num 0,50-51") from None
        if last < first:
            raise ValueError(f"--model-num {part}: a range runs upwards, e.g. {last}-{first}")
        numbers.extend(range(first, last + 1))
    return numbers


def missing_models(configurations, registered):
    """The hwkeras models these configurations need that ``registered`` (the model registry's names) lacks."""
    return sorted({c["model"] for c in configurations} - set(registered))


# --------------------------------------------------------------------------------------------
# A sweep of the study (``hwkeras sweep --study``): what sweep.json keeps, and the trials.
# --------------------------------------------------------------------------------------------

#: The studies ``hwkeras sweep --study`` knows.
STUDIES = (STUDY,)


def selection(name, dataset_name=None, model_nums=None, models=None, seeds=None, with_methods=()):
    """sweep.json's ``study``: which of the study's models a sweep trains, checked; ValueError (one line).

    Either ``model_nums`` (a list, or text such as ``"0,50-51"``; the dataset follows from them, and
    ``dataset_name``, when given, must agree) or ``dataset_name`` with ``models`` (None: all six),
    ``seeds`` (K: 0 .. K-1; None: all 50) and ``with_methods`` (``("chyvae",)``)."""
    if name not in STUDIES:
        raise ValueError(f"--study {name}: the studies are {', '.join(STUDIES)}")
    if model_nums is not None:
        if models is not None or seeds is not None or with_methods:
            given = [o for o, v in (("--models", models), ("--seeds", seeds), ("--with", with_methods)) if v]
            raise ValueError(f"--model-num names the models itself (method, setting, seed, dataset); drop "
                             f"{', '.join(given)}")
        numbers = parse_model_nums(model_nums) if isinstance(model_nums, str) else list(model_nums)
        configurations = from_numbers(numbers)
        if dataset_name is not None and dataset(dataset_name)[1].name != configurations[0]["dataset"]:
            first = configurations[0]
            raise ValueError(f"--model-num {first['model_num']} is {first['dataset']}'s, not "
                             f"{dataset(dataset_name)[1].name}'s; drop --dataset or give that dataset's numbers "
                             f"({dataset(dataset_name)[0] * MODELS_PER_DATASET}-"
                             f"{(dataset(dataset_name)[0] + 1) * MODELS_PER_DATASET - 1})")
        return {"name": name, "dataset": configurations[0]["dataset"], "model_nums": numbers}
    if dataset_name is None:
        raise ValueError(f"--study {name} needs --dataset ({', '.join(d.name for d in DATASETS)}) or --model-num")
    models = [m.strip() for m in models.split(",") if m.strip()] if isinstance(models, str) else models
    expand(dataset_name, models, seeds, with_methods)  # the checks
    return {"name": name, "dataset": dataset(dataset_name)[1].name, "models": list(models) if models else None,
            "seeds": seeds if seeds is not None else SEEDS, "with": list(check_with(with_methods))}


def configurations_of(chosen):
    """The configurations of sweep.json's ``study`` (``selection``'s dict), in the sweep's order."""
    if chosen.get("model_nums") is not None:
        return from_numbers(chosen["model_nums"])
    return expand(chosen["dataset"], chosen.get("models"), chosen.get("seeds"), tuple(chosen.get("with") or ()))


def configuration_name(c):
    """A trial's configuration as a sweep names it: the model and the value the study varies, ``beta-vae-beta=4``
    (its fixed options, e.g. AnnealedVAE's gamma 1000, are the same in every trial of the method)."""
    from hwkeras.sweep.grid import format_value

    return f"{c['model']}-{c['hyperparameter']}={format_value(c['value'])}"


def grid_of(configurations):
    """sweep.json's ``grid`` of a study sweep: each varied hyperparameter with its values, in the sweep's order."""
    values = {}
    for c in configurations:
        values.setdefault(c["hyperparameter"], [])
        if c["value"] not in values[c["hyperparameter"]]:
            values[c["hyperparameter"]].append(c["value"])
    return values


def trials(chosen):
    """The ``hwkeras.sweep.grid.Trial``s of sweep.json's ``study``: named ``<model>-<option>=<value>-seed<seed>``,
    the varied option as the grid value, the method's fixed options in ``fixed``, and in ``study`` what the
    trial's config.json and trial.json record (the study, model_num, disentanglement_lib's method and
    dataset names, setting, gin bindings)."""
    from hwkeras.sweep.grid import Trial

    out = []
    for c in configurations_of(chosen):
        options = dict(c["model_options"])
        values = {c["hyperparameter"]: options.pop(c["hyperparameter"])}
        record = {"name": c["study"], "model_num": c["model_num"], "method": c["method"], "dataset": c["dlib_dataset"],
                  "setting": c["setting"], "bindings": c["bindings"]}
        configuration = configuration_name(c)
        out.append(Trial(f"{configuration}-seed{c['seed']}", configuration, c["model"], c["seed"], values, options,
                         record))
    return out
