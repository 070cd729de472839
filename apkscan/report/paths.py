"""Short, unambiguous names for the files of one run, for report rows.

Why: a batch of device backups holds many ``base.apk``; a row that says only ``base.apk``
(or only ``WeChat com.tencent.mm``) does not say which file it is. Each path is shown by
its shortest suffix of path components that no other path of the run shares; the full
path or provenance chain stays in the report beside it.
"""

from __future__ import annotations

import re
from collections.abc import Collection

CHAIN_SEPARATOR = " ▸ "  # as apkscan.sources.interface writes provenance chains
# names as apkscan.sources.names writes them: "\\" is a backslash, "\xff" a byte of the name
_FILE_SEP = re.compile("/")
_MEMBER_SEP = re.compile(r"/|\\\\|\\(?!x[0-9a-f]{2})")


def _components(path: str, member: bool = False) -> list[str]:
    """A local path splits on ``/`` only (``evil\\clean.apk`` is one file name); a member of a
    container also on a backslash (a Windows-made ZIP's separator), never inside ``\\xff``."""
    sep = _MEMBER_SEP if member else _FILE_SEP
    return [c for part in path.split(CHAIN_SEPARATOR) for c in sep.split(part) if c] or [path]


def short_names(paths: list[str], members: Collection[str] = ()) -> dict[str, str]:
    """Each path's shortest suffix of path components that no other path in the run shares.
    ``members``: the paths that are member names inside a container.

    Five ``base.apk`` from five backups become ``a/base.apk``, ``b/base.apk``...; a
    unique file name stays just the name. Linear in the number of paths per level.
    """
    parts = {p: _components(p, p in members) for p in set(paths)}
    out: dict[str, str] = {}
    pending = set(parts)
    depth = 1
    while pending:
        suffix = {p: tuple(parts[p][-depth:]) for p in parts}
        taken: dict[tuple[str, ...], int] = {}
        for p in parts:
            taken[suffix[p]] = taken.get(suffix[p], 0) + 1
        for p in list(pending):
            if taken[suffix[p]] == 1 or depth >= len(parts[p]):
                out[p] = "/".join(suffix[p]) if depth < len(parts[p]) else p
                pending.discard(p)
        depth += 1
    return out
