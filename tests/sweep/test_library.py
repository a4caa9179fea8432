"""The sweep as a library (``hwkeras.sweeps``, ``hwkeras.sweep.plan``): the checks a script's call gets
before anything is written or Ray starts, and the page of a sweep whose every trial failed."""

import json
import os

import pytest

from hwkeras.errors import UserError


def test_grid_values_from_a_script_and_from_the_command_line_agree():
    from hwkeras.sweep.plan import parse_grid

    assert parse_grid({"grid": {"beta": [1, 4], "latent_dim": [3]}}) == {"beta": [1.0, 4.0], "latent_dim": [3]}
    assert parse_grid({"grid_pairs": ("beta=1,4", "latent-dim=3")}) == {"beta": [1.0, 4.0], "latent_dim": [3]}
    with pytest.raises(ValueError, match="--grid latent_dim=2.5: '2.5' is not a valid integer"):
        parse_grid({"grid": {"latent_dim": [2.5]}})
    with pytest.raises(ValueError, match="--grid preset=fast: not a preset"):
        parse_grid({"grid": {"preset": ["fast"]}})
    with pytest.raises(ValueError, match="--grid dataset: not an option a sweep can vary; grid keys are"):
        parse_grid({"grid_pairs": ("dataset=dsprites",)})
    with pytest.raises(ValueError, match="give the grid once"):
        parse_grid({"grid": {"beta": [1]}, "grid_pairs": ("beta=4",)})


@pytest.mark.parametrize("options, message", [
    ({"model": "vae"}, "a sweep sets model per trial itself; drop it (models=..., seeds=N for the seeds)"),
    ({"betta": 4}, "a sweep takes no option betta; its options are its own"),
    ({"models": ["vae"], "grid": {"nu": [20]}}, "none of the selected models (vae) takes nu"),
    ({"models": ["vae"], "seeds": 0}, "--seeds must be a positive number of seeds"),
])
def test_run_sweep_refuses_bad_options_before_writing(tmp_path, options, message):
    import hwkeras

    out = tmp_path / "s"
    with pytest.raises(UserError, match=message.replace("(", "\\(").replace(")", "\\)")):
        hwkeras.run_sweep(output_dir=str(out), steps=4, batch_size=4, image_size=32, latent_dim=2, hidden_units=8,
                          evaluate="none", **options)
    assert not out.exists()


def test_resume_sweep_and_select_name_what_is_wrong(tmp_path):
    import hwkeras

    with pytest.raises(UserError, match="is not a sweep directory"):
        hwkeras.resume_sweep(str(tmp_path))
    with pytest.raises(UserError, match="takes the sweep's settings from .*sweep.json; drop seeds"):
        hwkeras.resume_sweep(str(tmp_path), seeds=4)
    with pytest.raises(UserError, match="is not a sweep directory"):
        hwkeras.select(str(tmp_path))


def test_the_page_of_a_sweep_whose_trials_all_failed_says_there_is_no_choice(tmp_path):
    """Every trial failed: no UDR, so no selection; the page says so (its template used to fail on it)."""
    from hwkeras.report import sweep_page
    from hwkeras.sweep import directory, results

    sweep_dir = str(tmp_path / "s")
    spec = {"models": ["vae"], "grid": {}, "seeds": 2, "fit_options": {}, "metric_columns": [], "udr": {}}
    os.makedirs(sweep_dir)
    spec = directory.write_spec(sweep_dir, spec)
    trials = directory.trials_of(spec)
    for trial in trials:
        os.makedirs(results.run_dir(sweep_dir, trial))
        with open(os.path.join(results.run_dir(sweep_dir, trial), results.TRIAL_RECORD), "w") as f:
            json.dump({"trial": trial.name, "status": "failed", "error": "ValueError: planted"}, f)
    rows, chosen, notes = directory.aggregate(sweep_dir, spec, trials)
    assert [r["status"] for r in rows] == ["failed", "failed"] and chosen is None
    path, _ = sweep_page(sweep_dir)
    page = open(path).read()
    assert 'id="udr-chosen" class="meta">No UDR choice:' in page
