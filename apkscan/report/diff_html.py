"""Self-contained HTML page for ``apkscan diff``: the same conventions as the scan report.

One file, no network, the report's stylesheet inline and pinned by a CSP hash (no
script at all), every value autoescaped: package names and labels come from APKs.
"""

from __future__ import annotations

import os
import tempfile
from typing import TextIO

from apkscan.diff import ScanDiff
from apkscan.report import html


def render(result: ScanDiff, out: TextIO) -> None:
    css = html._assets()[0]
    csp = f"default-src 'none'; style-src {html._csp_hash(css)}; base-uri 'none'; form-action 'none'"
    template = html._env().get_template("diff.html.j2")
    out.writelines(template.generate(diff=result, counts=result.counts(), css=css, csp=csp))


def write(result: ScanDiff, path: str) -> None:
    """To ``path`` (``-`` = stdout), through a temporary sibling so a crash leaves no half page."""
    import sys

    if path == "-":
        render(result, sys.stdout)
        return
    fd, tmp = tempfile.mkstemp(prefix=".apkscan-", suffix=".html.tmp", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            render(result, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
