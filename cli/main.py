"""The ``hwkeras`` command line. Each command lives in its own module of ``hwkeras.cli``.

Nothing here imports Keras or TensorFlow: a command loads them when it runs
(``hwkeras.cli.common.start_keras``), so ``--help`` and ``hwkeras datasets`` start at once.
"""

import sys

import click

from hwkeras.cli.datasets import datasets_command
from hwkeras.cli.evaluate import evaluate_command
from hwkeras.cli.export import export_command
from hwkeras.cli.fit import fit_command
from hwkeras.cli.predict import predict_command
from hwkeras.cli.report import report_command
from hwkeras.cli.serve import serve_command
from hwkeras.cli.sweep import sweep_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hwkeras")
def main():
    """Unsupervised disentanglement with a hierarchical (inverse-Wishart) hyperprior."""


for _command in (fit_command, datasets_command, evaluate_command, export_command, predict_command,
                 report_command, serve_command, sweep_command):
    main.add_command(_command)

if __name__ == "__main__":
    sys.exit(main())
