"""``hwkeras evaluate``: disentanglement metrics of a trained model, printed and saved as JSON.

    hwkeras evaluate runs/correlated-ellipses-chyvae-20250101-120000
    hwkeras evaluate model.keras --dataset correlated-ellipses --metrics factor_vae,mig

The command parses and calls ``hwkeras.evaluate`` (``hwkeras/runs/evaluate.py``), which holds what it does:
the run's dataset, the metrics record it adds to, the code table of a finite dataset.
"""

import click

from hwkeras.cli.common import Command, backend_option, examples, parse_assignments, parse_metric_params
from hwkeras.metrics.evaluate import METRICS, PROTOCOLS


@click.command("evaluate", cls=Command, epilog=examples(
    "hwkeras evaluate runs/RUN                          # disentanglement_lib's six metrics -> RUN/metrics.json",
    'hwkeras evaluate runs/RUN --metrics mig,dci --param factor_vae.num_train=500',
    'hwkeras evaluate model.keras --dataset dsprites --dataset-option data_dir=data/dsprites --output scores.json',
))
@backend_option
@click.argument("target", metavar="RUN_DIR_OR_MODEL")
@click.option("--metrics", default="all", show_default=True,
              help=f"'all' or a comma-separated list of: {', '.join(METRICS)}.")
@click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default="dlib",
              show_default=True,
              help="dlib: disentanglement_lib's constants for every metric. chyvae: the CHyVAE "
                   "paper's FactorVAE protocol (800 + 800 votes of 200 images, no pruning).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Every metric starts from np.random.RandomState(SEED).")
@click.option("--output",
              help="JSON file to write.  [RUN_DIR/metrics.json, or MODEL.metrics.json]")
@click.option("--dataset", "dataset_name",
              help="Dataset name; required with a .keras file, overrides config.json's.")
@click.option("--dataset-option", "dataset_option_pairs", multiple=True, metavar="KEY=VALUE",
              help="Dataset constructor option (repeatable), e.g. image_size=64.")
@click.option("--param", "param_pairs", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Override a protocol constant (repeatable), e.g. factor_vae.num_train=1000 "
                   "for a quick look; the JSON records what was used.")
@click.option("--overwrite", is_flag=True,
              help="Replace the record at --output instead of adding these metrics to it.")
@click.option("--encode-once/--encode-every-draw", default=True, show_default=True,
              help="On a finite dataset whose images are fixed by their factors, encode each distinct image "
                   "once and look every draw up (same numbers); --encode-every-draw encodes every draw.")
@click.option("--code-cache", "code_cache", type=click.Path(file_okay=False), metavar="DIR",
              help="Folder of the encoded tables, one file per model and dataset.  [~/.cache/hwkeras/codes]")
@click.option("--no-code-cache", is_flag=True, help="Keep the table in memory only (nothing read or written).")
def evaluate_command(target, metrics, protocol, seed, output, dataset_name,
                     dataset_option_pairs, param_pairs, overwrite, encode_once, code_cache, no_code_cache):
    """Disentanglement metrics of a trained model (encoder mean as the representation).

    The dlib protocol encodes about 3 million images for all metrics (BetaVAE alone 1.9
    million); use --metrics or --param to ask for less on a CPU.
    """
    from hwkeras.runs.evaluate import evaluate

    evaluate(target, metrics=metrics, protocol=protocol, seed=seed, output=output, dataset=dataset_name,
             dataset_options=parse_assignments(dataset_option_pairs, "--dataset-option"),
             params=parse_metric_params(param_pairs), overwrite=overwrite, encode_once=encode_once,
             code_cache=code_cache, no_code_cache=no_code_cache)
