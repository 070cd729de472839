"""Content digests of a run's rules and policies, for the scan store's result keys.

Why not ``pickle``: a pickle of the same rule set differs between processes (sets of
strings are ordered by a randomised hash), so every run would miss. Here a value is walked
into a canonical form (dataclass fields by name, sets sorted, regexes as pattern + flags)
and hashed. An object this walker does not know is hashed by its ``repr``; if that repr
names a memory address the key differs every run: a miss (a parse or a match too many),
never a stale result.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from pathlib import Path
from typing import Any


def _canon(obj: Any) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, enum.Enum):
        return ["enum", type(obj).__qualname__, _canon(obj.value)]
    if isinstance(obj, re.Pattern):
        return ["re", obj.pattern, obj.flags]
    if isinstance(obj, (list, tuple)):
        return [_canon(x) for x in obj]
    if isinstance(obj, (set, frozenset)):
        return ["set", sorted(repr(_canon(x)) for x in obj)]
    if isinstance(obj, dict):
        return ["dict", [[_canon(k), _canon(v)] for k, v in obj.items()]]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [type(obj).__qualname__, [[f.name, _canon(getattr(obj, f.name, None))]
                                         for f in dataclasses.fields(obj)]]
    return ["repr", type(obj).__qualname__, repr(obj)]


def content_digest(*objs: Any) -> str:
    """A stable digest of plain values, dataclasses, regexes and containers of them."""
    return hashlib.sha256(repr(_canon(list(objs))).encode()).hexdigest()[:32]


def code_digest(*packages: str) -> str:
    """A digest of the source of apkscan sub-packages or modules (``"rules"``, ``"scan.py"``):
    a stored result computed by other matching or deciding code is a miss."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in packages:
        target = root / name
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]
