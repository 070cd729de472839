"""Short, unambiguous names for the files of one run, for report rows.

Why: a batch of device backups holds many ``base.apk``; a row that says only ``base.apk``
(or only ``WeChat com.tencent.mm``) does not say which file it is. Each path is shown by
its shortest suffix of path components that no other path of the run shares; the full
path or provenance chain stays in the report beside it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from apkscan.sources.interface import CHAIN_SEPARATOR  # one definition: how scan writes chains

if TYPE_CHECKING:
    from apkscan.document import Source

T = TypeVar("T")

# names as apkscan.sources.names writes them: "\\" is a backslash, "\xff" a byte of the name
_FILE_SEP = re.compile("/")
_MEMBER_SEP = re.compile(r"/|\\\\|\\(?!x[0-9a-f]{2})")


def outermost_input(where: Source, container: str | None = None) -> str | None:
    """The outermost input a record came from; None for an input given directly (it is its
    own outermost). Every reader goes through here, so the custody join (CSV, SARIF), the HTML
    per-source groups and ``apkscan diff`` agree on it.

    ``source.chain`` first (its first element, when it has more than one), then
    ``source.outermost``, then the container (``source.container``, else the record's own: a
    1.0 document) cut at its first chain separator: ``d.tar ▸ a.zip`` came from ``d.tar``."""
    if where.chain:
        return where.chain[0] if len(where.chain) > 1 else None
    container = where.container or container
    if container:
        return where.outermost or container.split(CHAIN_SEPARATOR)[0]
    return None


def custody_of(outermost: str | None, chain: Sequence[str], custody: Mapping[str, T]) -> T | None:
    """The custody record (``input_files``) of the outermost *file* a record's bytes came from.

    Its outermost input's, when that is a file. A backup or acquisition folder has none (a folder
    is not hashed): then the record of the file met in it along the chain, named as the folder
    reader opens it (``folder ▸ apks/x.apk`` -> ``folder/apks/x.apk``, ``folder ▸ backup.ab ▸ …``
    -> ``folder/backup.ab``, ``folder ▸ packages.json`` for its records). CSV and SARIF join
    through here (review 62 M2: such rows named no hashed file)."""
    found = custody.get(outermost or "")
    if found is None and (file := folder_file(chain)) is not None:
        found = custody.get(file)
    return found


def folder_file(chain: Sequence[str]) -> str | None:
    """The path of the file a chain's first member names inside its first element, as a folder
    reader opens it (``files.FolderTree.member``); None for a chain of one."""
    return os.path.join(chain[0], *chain[1].split("/")) if len(chain) >= 2 else None


def _components(path: str, member: bool = False) -> list[tuple[str, str]]:
    """A local path splits on ``/`` only (``evil\\clean.apk`` is one file name); a member of a
    container also on a backslash (a Windows-made ZIP's separator), never inside ``\\xff``.
    Each component comes with what joins it to the one before: ``/``, or the chain separator
    between a container and its member (kept, so ``dev1/pull.zip ▸ base.apk`` reads as such)."""
    sep = _MEMBER_SEP if member else _FILE_SEP
    out = [(CHAIN_SEPARATOR if i and not j else "/", c) for i, part in enumerate(path.split(CHAIN_SEPARATOR))
           for j, c in enumerate(c for c in sep.split(part) if c)]
    return out or [("/", path)]


def _joined(parts: list[tuple[str, str]]) -> str:
    return parts[0][1] + "".join(joiner + c for joiner, c in parts[1:])


def short_names(paths: list[str], members: Collection[str] = ()) -> dict[str, str]:
    """Each path's shortest suffix of path components that no other path in the run shares.
    ``members``: the paths that are (or end in) member names inside a container; a path may be
    a whole provenance chain (``dev1/pull.zip ▸ data/app/base.apk``): its container's components
    take part, so two devices' ``base.apk`` are told apart (review 55 F5).

    Five ``base.apk`` from five backups become ``a/base.apk``, ``b/base.apk``...; a
    unique file name stays just the name. Each level numbers a path's suffix from the number of
    the level before and one more component, for the paths still pending only (a path unique at
    one depth is unique at every deeper one): linear in the components compared, where building
    each suffix again was quadratic in a path's depth (review 46 #2: 8 names of 32,000 components
    held every report for minutes).
    """
    parts = {p: _components(p, p in members) for p in set(paths)}
    out: dict[str, str] = {}
    pending = dict.fromkeys(parts, 0)  # path -> the number of its suffix at the current depth
    numbers: dict[tuple[int, str], int] = {}
    depth = 1
    while pending:
        for p, prev in pending.items():
            comp = parts[p][-depth][1] + (parts[p][1 - depth][0] if depth > 1 else "")  # with the joiner shown after it
            pending[p] = numbers.setdefault((prev, comp), len(numbers) + 1)
        taken = Counter(pending.values())
        for p, number in list(pending.items()):
            if taken[number] == 1 or depth >= len(parts[p]):
                out[p] = _joined(parts[p][-depth:]) if depth < len(parts[p]) else p
                del pending[p]
        depth += 1
    return out
