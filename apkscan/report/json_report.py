"""The ``--json`` document: ``ScanResult.to_dict()`` written atomically, UTF-8, stable order.

Other reports (HTML, SARIF, CSV) render from this document, so a scan saved on one machine
re-renders anywhere. ``-`` writes to stdout.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, TextIO


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def write_json(doc: dict[str, Any], path: str, *, stdout: TextIO | None = None) -> None:
    """Write ``doc`` to ``path`` (``-`` = stdout) via a temporary file, so no half-written JSON."""
    text = dumps(doc)
    if path == "-":
        (stdout or sys.stdout).write(text)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".apkscan-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
