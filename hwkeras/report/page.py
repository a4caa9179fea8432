"""Rendering a page from its Jinja2 template and writing it without leaving half a file behind."""

import datetime
import importlib.metadata
import os
import tempfile

from hwkeras.files import REPORT_GENERATOR

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
    """Writes ``html`` to ``path`` through a temporary file in the same folder and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report.partial-", suffix=".html", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the page from a web server or a colleague
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
