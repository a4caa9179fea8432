"""``hwkeras datasets``: each dataset, the layout it expects, where it looks, whether it is there.

    hwkeras datasets                      # looks under $HWKERAS_DATA_DIR or ~/data
    hwkeras datasets --data-dir /mnt/data

With ``--data-dir PATH`` each file dataset is looked for in ``PATH`` itself and then in
``PATH/<folder>`` (e.g. ``PATH/celeba``), exactly as ``hwkeras fit --data-dir PATH`` does.
Nothing is opened or decoded: this only checks that the expected files are where ``hwkeras fit``
would look for them.
"""

import os

import click

from hwkeras.cli.common import Command, InputError, examples


def dataset_rows(data_dir=None):
    """(name, factors, status, location, layout, description) for every registered dataset.

    The entry's ``publisher`` and ``check`` (where to get the file, how to check it) are in
    ``DATASETS[name]``; the listing prints them under each file dataset."""
    from hwkeras.data.registry import DATASETS, find

    rows = []
    for name, entry in DATASETS.items():
        status, location = find(name, data_dir)
        rows.append((name, entry.factors, status, location or "-", entry.layout, entry.description))
    return rows


@click.command("datasets", cls=Command, epilog=examples(
    'hwkeras datasets                      # every dataset, its files and whether they are found',
    'hwkeras datasets --data-dir ~/data    # looks for the files under ~/data/<dataset>',
))
@click.option("--data-dir", type=click.Path(), default=None,
              help="Folder holding one sub-folder per dataset.  [$HWKERAS_DATA_DIR or ~/data]")
def datasets_command(data_dir):
    """List the datasets, the layout each expects, and whether it was found."""
    from hwkeras.data.registry import DATASETS, data_root

    if data_dir is not None:
        data_dir = os.path.expanduser(data_dir)
        if not os.path.isdir(data_dir):
            raise InputError(f"--data-dir {data_dir} is not a directory")
    if data_dir:
        click.echo(f"Looking in {data_dir}")
    else:
        click.echo(f"Default locations under {data_root()} (change with --data-dir or $HWKERAS_DATA_DIR)")
    rows = dataset_rows(data_dir)
    width = max(len(r[0]) for r in rows)
    for name, factors, status, location, layout, description in rows:
        click.echo(f"\n{name.ljust(width)}  {status.upper()}  {description}")
        click.echo(f"{''.ljust(width)}  factors: {factors}")
        if layout != "procedural":
            click.echo(f"{''.ljust(width)}  expects: {layout}")
            click.echo(f"{''.ljust(width)}  {'found at' if status == 'found' else 'looked in'}: {location}")
            entry = DATASETS[name]
            if entry.publisher:
                click.echo(f"{''.ljust(width)}  from: {entry.publisher}")
            if entry.check:
                click.echo(f"{''.ljust(width)}  check: {entry.check}")
    click.echo("\nTrain with: hwkeras fit --dataset NAME [--data-dir PATH]")
