"""disentanglement_lib's study unsupervised_study_v1 by model number (hwkeras.sweep.study), against
disentanglement_lib's own ``config/unsupervised_study_v1/sweep.py``.

How the reference numbers were produced (outside this repository, nothing of it is in hwkeras):
copy disentanglement_lib's ``utils/hyperparams.py``, ``config/study.py`` and
``config/unsupervised_study_v1/sweep.py`` (github.com/google-research/disentanglement_lib, master)
into /tmp/dlibstudy/disentanglement_lib/ with empty ``__init__.py`` files and a stub
``utils/resources.py`` (sweep.py imports it, get_config() does not use it); then, with six installed:

    from disentanglement_lib.config.unsupervised_study_v1 import sweep
    configs = sweep.get_config()                      # 12600 dicts of gin bindings
    configs[n]                                        # model n, as the table REFERENCE below shows
    hashlib.sha256(json.dumps(configs, sort_keys=True).encode()).hexdigest()   # ALL_BINDINGS_SHA256
"""

import hashlib
import json

import pytest

from hwkeras.sweep import study

#: (model_num, dataset.name, model.name, the method's hyperparameter bindings, model.random_seed),
#: printed from disentanglement_lib's get_config()[model_num] (see the module docstring).
REFERENCE = (
    (0, "dsprites_full", "beta_vae", {"vae.beta": 1.0}, 0),
    (137, "dsprites_full", "beta_vae", {"vae.beta": 4.0}, 37),
    (1234, "dsprites_full", "beta_tc_vae", {"beta_tc_vae.beta": 1.0}, 34),
    (1799, "dsprites_full", "annealed_vae",
     {"annealed_vae.c_max": 100.0, "annealed_vae.iteration_threshold": 100000, "annealed_vae.gamma": 1000}, 49),
    (2213, "color_dsprites", "factor_vae", {"factor_vae.gamma": 30.0}, 13),
    (3057, "color_dsprites", "beta_tc_vae", {"beta_tc_vae.beta": 2.0}, 7),
    (4321, "noisy_dsprites", "dip_vae_i",
     {"dip_vae.lambda_od": 5.0, "dip_vae.lambda_d_factor": 10.0, "dip_vae.dip_type": "i"}, 21),
    (6049, "scream_dsprites", "dip_vae_i",
     {"dip_vae.lambda_od": 1.0, "dip_vae.lambda_d_factor": 10.0, "dip_vae.dip_type": "i"}, 49),
    (7777, "smallnorb", "factor_vae", {"factor_vae.gamma": 100.0}, 27),
    (8866, "smallnorb", "annealed_vae",
     {"annealed_vae.c_max": 50.0, "annealed_vae.iteration_threshold": 100000, "annealed_vae.gamma": 1000}, 16),
    (9999, "cars3d", "dip_vae_ii",
     {"dip_vae.lambda_od": 2.0, "dip_vae.lambda_d_factor": 1.0, "dip_vae.dip_type": "ii"}, 49),
    (10500, "cars3d", "annealed_vae",
     {"annealed_vae.c_max": 5.0, "annealed_vae.iteration_threshold": 100000, "annealed_vae.gamma": 1000}, 0),
    (11111, "shapes3d", "factor_vae", {"factor_vae.gamma": 10.0}, 11),
    (11960, "shapes3d", "dip_vae_ii",
     {"dip_vae.lambda_od": 50.0, "dip_vae.lambda_d_factor": 1.0, "dip_vae.dip_type": "ii"}, 10),
    (12599, "shapes3d", "annealed_vae",
     {"annealed_vae.c_max": 100.0, "annealed_vae.iteration_threshold": 100000, "annealed_vae.gamma": 1000}, 49),
)
#: sha256 of json.dumps(get_config(), sort_keys=True): all 12,600 models' bindings, in order.
ALL_BINDINGS_SHA256 = "386ee7fbc81f745e11b008ae4f9088cbfb6c97c9596752c63d60aeba3ca8cc08"
#: disentanglement_lib's binding of each method's hyperparameters -> hwkeras's option.
OPTION = {"vae.beta": "beta", "beta_tc_vae.beta": "beta", "factor_vae.gamma": "gamma",
          "dip_vae.lambda_od": "lambda_od", "dip_vae.lambda_d_factor": "lambda_d_factor",
          "annealed_vae.c_max": "c_max", "annealed_vae.iteration_threshold": "iteration_threshold",
          "annealed_vae.gamma": "gamma"}
STUDY = "unsupervised_study_v1"
HWKERAS_MODEL = {"beta_vae": "beta-vae", "factor_vae": "factor-vae", "dip_vae_i": "dip-vae-i",
                 "dip_vae_ii": "dip-vae-ii", "beta_tc_vae": "beta-tcvae", "annealed_vae": "annealed-vae"}
HWKERAS_DATASET = {"dsprites_full": "dsprites", "color_dsprites": "color-dsprites", "noisy_dsprites": "noisy-dsprites",
                   "scream_dsprites": "scream-dsprites", "smallnorb": "smallnorb", "cars3d": "cars3d",
                   "shapes3d": "shapes3d"}


@pytest.mark.parametrize("model_num,dlib_dataset,method,hyperparameters,seed", REFERENCE,
                         ids=[str(r[0]) for r in REFERENCE])
def test_model_number_is_disentanglement_libs(model_num, dlib_dataset, method, hyperparameters, seed):
    c = study.configuration(model_num)
    assert (c["model_num"], c["dlib_dataset"], c["method"], c["seed"]) == (model_num, dlib_dataset, method, seed)
    assert c["dataset"] == HWKERAS_DATASET[dlib_dataset] and c["model"] == HWKERAS_MODEL[method]
    options = {OPTION[k]: v for k, v in hyperparameters.items() if k != "dip_vae.dip_type"}
    assert c["model_options"] == options
    assert c["value"] == options[c["hyperparameter"]]
    assert (c["architecture"], c["preset"]) == ("dlib", "locatello")
    for key, value in hyperparameters.items():
        assert c["bindings"][key] == value and type(c["bindings"][key]) is type(value)
    assert c["bindings"]["model.random_seed"] == seed
    assert study.model_number(c["dataset"], c["model"], c["value"], seed) == model_num
    assert study.model_number(dlib_dataset, method, c["value"], seed) == model_num  # the dlib names too


def test_all_bindings_equal_disentanglement_libs():
    bindings = [study.configuration(n)["bindings"] for n in range(study.MODEL_NUMBERS)]
    assert hashlib.sha256(json.dumps(bindings, sort_keys=True).encode()).hexdigest() == ALL_BINDINGS_SHA256


def test_every_grid_entry_is_reachable_and_the_numbering_is_a_bijection():
    assert study.MODEL_NUMBERS == 7 * 36 * 50 == 12600
    keys = set()
    for n in range(study.MODEL_NUMBERS):
        c = study.configuration(n)
        key = (c["dataset"], c["model"], c["value"], c["seed"])
        assert study.model_number(*key) == n
        keys.add(key)
    grid = {(d.name, m.model, v, s) for d in study.DATASETS for m in study.METHODS for v in m.values
            for s in range(study.SEEDS)}
    assert len(grid) == 12600 and keys == grid  # onto the whole grid, one number each
    # expand() lists each dataset's 1800 numbers, in order, as the numbering does.
    for index, d in enumerate(study.DATASETS):
        numbers = [c["model_num"] for c in study.expand(d.name)]
        assert numbers == list(range(index * 1800, (index + 1) * 1800))


def test_expand_keeps_the_studys_order_and_selects():
    chosen = study.expand("dsprites", models=["factor-vae", "beta_vae"], seeds=2)  # order given is not kept
    assert [(c["model"], c["value"], c["seed"]) for c in chosen[:3]] == [("beta-vae", 1.0, 0), ("beta-vae", 1.0, 1),
                                                                           ("beta-vae", 2.0, 0)]
    assert [c["model_num"] for c in chosen] == [s * 50 + seed for s in list(range(6)) + list(range(6, 12))
                                                for seed in (0, 1)]
    assert study.from_numbers([351, 0]) == [study.configuration(351), study.configuration(0)]
    assert study.parse_model_nums("0, 50-52,7") == [0, 50, 51, 52, 7]


def test_chyvae_joins_as_a_seventh_method_without_a_model_number():
    with_chyvae = study.expand("shapes3d", seeds=1, with_methods=("chyvae",))
    assert len(with_chyvae) == 42
    assert with_chyvae[:36] == study.expand("shapes3d", seeds=1)
    added = with_chyvae[36:]
    assert {c["model"] for c in added} == {"chyvae"} and all(c["model_num"] is None for c in added)
    assert [c["model_options"]["nu"] for c in added] == [12.0, 20.0, 50.0, 200.0, 1000.0, 10000.0]
    assert [c["setting"] for c in added] == list(range(36, 42))
    # nu > latent_dim + 1 at the study's 10 latents, so E[Sigma] = I exists for every setting.
    from hwkeras.hyperparameters import hyperprior_parameters

    for c in added:
        hyperprior_parameters(c["model_options"]["nu"], None, 10)


@pytest.mark.parametrize("call,message", [
    (lambda: study.configuration(12600), "model number 12600 is outside unsupervised_study_v1's 0 .. 12599"),
    (lambda: study.configuration(-1), "model number -1 is outside"),
    (lambda: study.configuration("7"), "is an integer 0 .. 12599"),
    (lambda: study.expand("mnist"), "'mnist' is not a dataset of unsupervised_study_v1; its datasets are dsprites"),
    (lambda: study.expand("dsprites", models=["vae"]), "'vae' is not a method of unsupervised_study_v1"),
    (lambda: study.expand("dsprites", models=["beta-vae", "beta_vae"]), "names beta-vae, beta_vae twice"),
    (lambda: study.expand("dsprites", seeds=0), "--seeds must be 1 .. 50"),
    (lambda: study.expand("dsprites", seeds=51), "--seeds must be 1 .. 50"),
    (lambda: study.expand("dsprites", with_methods=("vae",)), "--with vae: only chyvae can join"),
    (lambda: study.from_numbers([0, 1800]), "--model-num spans datasets (dsprites 0-1799, color-dsprites 1800-3599)"),
    (lambda: study.from_numbers([3, 3]), "--model-num lists 3 twice"),
    (lambda: study.parse_model_nums("4-2"), "a range runs upwards"),
    (lambda: study.parse_model_nums("x"), "'x' is not a number or a range N-M"),
    (lambda: study.model_number("dsprites", "beta-vae", 3.0, 0), "beta-vae's beta takes 1, 2, 4, 6, 8, 16"),
    (lambda: study.model_number("dsprites", "beta-vae", 1.0, 50), "has seeds 0 .. 49, got 50"),
])
def test_bad_input_is_one_line(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_models_are_named():
    configurations = study.expand("dsprites", seeds=1)
    assert study.missing_models(configurations, ["beta-vae", "factor-vae", "beta-tcvae"]) == [
        "annealed-vae", "dip-vae-i", "dip-vae-ii"]


def test_a_sweeps_selection_round_trips_through_sweep_json():
    chosen = study.selection("unsupervised_study_v1", model_nums="0-1,50-51,300-301,350-351")
    assert chosen == {"name": "unsupervised_study_v1", "dataset": "dsprites",
                      "model_nums": [0, 1, 50, 51, 300, 301, 350, 351]}
    configurations = study.configurations_of(json.loads(json.dumps(chosen)))
    assert [study.configuration_name(c) for c in configurations[::2]] == [
        "beta-vae-beta=1", "beta-vae-beta=2", "factor-vae-gamma=10", "factor-vae-gamma=20"]
    assert study.grid_of(configurations) == {"beta": [1.0, 2.0], "gamma": [10.0, 20.0]}
    everything = study.selection("unsupervised_study_v1", "cars3d", models="dip-vae-ii,annealed-vae", seeds=3,
                                 with_methods=("chyvae",))
    assert everything["models"] == ["dip-vae-ii", "annealed-vae"] and everything["with"] == ["chyvae"]
    configurations = study.configurations_of(json.loads(json.dumps(everything)))
    assert len(configurations) == 3 * 6 * 3  # the two methods, then chyvae
    assert configurations[0]["model_num"] == 9000 + 18 * 50 and configurations[35]["model_num"] == 9000 + 35 * 50 + 2
    assert study.configuration_name(configurations[35]) == "annealed-vae-c_max=100"
    assert study.configuration_name(configurations[-1]) == "chyvae-nu=10000" and configurations[-1]["model_num"] is None
    assert len(study.configurations_of(study.selection("unsupervised_study_v1", "dsprites"))) == 1800


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "study2"}, "--study study2: the studies are unsupervised_study_v1"),
    ({"name": STUDY}, "--study unsupervised_study_v1 needs --dataset"),
    ({"name": STUDY, "dataset_name": "smallnorb", "model_nums": "0"}, "--model-num 0 is dsprites's, not smallnorb's"),
    ({"name": STUDY, "model_nums": [0], "seeds": 2}, "--model-num names the models itself"),
    ({"name": STUDY, "dataset_name": "dsprites", "models": "beta-vae,nope"}, "'nope' is not a method"),
])
def test_a_bad_selection_is_one_line(kwargs, message):
    with pytest.raises(ValueError) as info:
        study.selection(**kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)

