"""Rendering a page from its Jinja2 template and writing it without leaving half a file behind."""

import datetime
import importlib.metadata
import os

from hwkeras.files import REPORT_GENERATOR, atomic_open

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def render(template_name, **context):
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(template_name).render(generated=generated_stamp(), generator=REPORT_GENERATOR,
                                                          **context)


def generated_stamp():
    try:
        version = importlib.metadata.version("hwkeras")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"hwkeras {version}, {datetime.datetime.now().isoformat(timespec='seconds')}"


def write_page(html, path):
    """Writes ``html`` to ``path``, whole or not at all (``atomic_open``)."""
    with atomic_open(path, encoding="utf-8") as f:
        f.write(html)
    return path
