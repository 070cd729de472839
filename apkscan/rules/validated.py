"""Remember which rule and policy documents passed JSON Schema validation.

Why: importing jsonschema and validating the shipped packs cost ~0.1 s in every ``scan``
although the packs rarely change. A document that validated cleanly leaves an empty
marker file named by a SHA-256 key over everything the result depends on: the document's
data (canonical JSON, so exactly what the validator saw), the schema file's bytes, the
schema's name, apkscan's and jsonschema's versions. Any edit gives a new key, so an
edited or hostile document is validated again, with the same messages. Only success is
remembered; errors are always recomputed.

The markers live in ``$XDG_CACHE_HOME/apkscan/validated`` (``~/.cache`` when unset or
relative). A marker is trusted only in a folder owned by this user and writable by no one
else; a missing, unreadable, read-only or foreign folder just means "validate now".
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from functools import cache
from importlib import resources
from importlib.util import find_spec
from typing import Any

from apkscan import __version__


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/apkscan/validated``; the XDG spec ignores a relative XDG_CACHE_HOME."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "apkscan", "validated")


@cache
def schema_bytes(package: str) -> bytes:
    """The shipped ``schema.json`` of ``package``, as bytes (read once per process)."""
    return resources.files(package).joinpath("schema.json").read_bytes()


@cache
def _validator_identity() -> str:
    """Which jsonschema would validate, without importing it (importing is the cost we avoid)."""
    spec = find_spec("jsonschema")
    if spec is None or not spec.origin:
        return ""
    package_dir = os.path.dirname(spec.origin)
    site = os.path.dirname(package_dir)
    try:
        dists = sorted(n for n in os.listdir(site) if n.lower().startswith("jsonschema-"))
        st = os.stat(spec.origin)
    except OSError:
        return ""
    return json.dumps([spec.origin, dists, st.st_size, st.st_mtime_ns])


def key(schema_package: str, data: Any) -> str | None:
    """The marker name for ``data`` validated against ``schema_package``'s schema; None: do not cache."""
    try:
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):  # YAML gave something JSON cannot say (bytes, sets): validate
        return None
    h = hashlib.sha256()
    for part in ("apkscan-validated/1", __version__, schema_package, _validator_identity()):
        h.update(part.encode("utf-8") + b"\0")
    h.update(hashlib.sha256(schema_bytes(schema_package)).digest())
    h.update(canonical.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _trusted(folder: str) -> bool:
    """A folder only this user can write: anyone else could otherwise vouch for any document."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
    return stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def known_valid(marker: str | None) -> bool:
    """True when this exact document already passed validation (its marker is in a trusted folder)."""
    if marker is None:
        return False
    folder = cache_dir()
    return _trusted(folder) and os.path.isfile(os.path.join(folder, marker))


def remember_valid(marker: str | None) -> None:
    """Leave the marker; any failure (read-only, full, foreign folder) only means no cache."""
    if marker is None:
        return
    folder = cache_dir()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not _trusted(folder):
            return
        os.close(os.open(os.path.join(folder, marker), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # includes FileExistsError: another process remembered it first
        pass
