"""Self-contained HTML page for ``apkscan diff``: the same conventions as the scan report.

One file, no network, the report's stylesheet inline and pinned by a CSP hash (no
script at all), every value autoescaped: package names and labels come from APKs.
"""

from __future__ import annotations

from typing import TextIO

from apkscan.diff import ScanDiff
from apkscan.report import html


def render(result: ScanDiff, out: TextIO) -> None:
    css = html._assets()[0]
    csp = f"default-src 'none'; style-src {html._csp_hash(css)}; base-uri 'none'; form-action 'none'"
    template = html._env().get_template("diff.html.j2")
    from apkscan.cli.diff_cmd import failure_text, split_lines

    out.writelines(template.generate(diff=result, counts=result.counts(), css=css, csp=csp,
                                     failure_text=failure_text, split_lines=split_lines))


def write(result: ScanDiff, path: str) -> None:
    """To ``path`` (``-`` = stdout), atomically like every report."""
    from apkscan.report.formats import write_text

    write_text(path, lambda out: render(result, out), suffix="html")
