"""Remember, per user, what reading the rule and policy files already established.

Why: ``import yaml``, parsing the shipped packs, ``import jsonschema`` and validating them
cost ~0.15 s in every ``scan`` although the packs rarely change. Two kinds of entries, both
keyed by SHA-256 over everything their result depends on:

- a **parsed document** (``parsed/<key>.json``): the data and line map YAML gave for a
  file's exact text (key: the text, PyYAML's installed version, apkscan's version);
- a **clean validation** (``validated/<key>``, an empty marker): the document's data
  (canonical JSON, exactly what the validator saw), the schema file's bytes, apkscan's and
  jsonschema's versions. Only success is remembered; errors are always recomputed.

Any edit gives a new key, so an edited or hostile file is parsed and validated again, with
the same messages. Entries live in ``$XDG_CACHE_HOME/apkscan`` (``~/.cache`` when unset or
relative) and are trusted only in folders owned by this user, writable by no one else and under
folders where no one else could rename them;
a missing, unreadable, read-only or foreign folder just means "parse and validate now".
Entries are JSON, never pickle.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
from functools import cache
from importlib.util import find_spec
from typing import Any

from apkscan import __version__

MAX_ENTRY = 32 << 20  # a parsed-document entry larger than this is not read (rule files are <= 8 MiB)
KINDS = ("parsed", "validated", "regex")  # regex: apkscan.rules.regex_book
_writable = True


def cache_home() -> str:
    """``$XDG_CACHE_HOME/apkscan`` (``~/.cache/apkscan`` when unset or relative: the XDG spec says a
    relative path is ignored); the scan store's default lives here too."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "apkscan")


def cache_dir(kind: str) -> str:
    """``<cache_home()>/<kind>``."""
    return os.path.join(cache_home(), kind)


def private_dirs(folder: str) -> None:
    """Create ``folder`` and each missing parent 0700 (:func:`apkscan.folders.make_private`)."""
    from apkscan.folders import make_private

    make_private(folder)


def read_only() -> None:
    """Read entries, write none, for the rest of this process (the cache lies in the evidence: ``scan ~``)."""
    global _writable
    _writable = False


@cache
def schema_bytes(package: str) -> bytes:
    """The ``schema.json`` shipped in ``package`` (apkscan.rules or apkscan.policy), read once."""
    folder = os.path.dirname(importlib.import_module(package).__file__ or "")
    with open(os.path.join(folder, "schema.json"), "rb") as fh:
        return fh.read()


@cache
def installed(module: str, dist: str) -> str:
    """Which copy of a library is installed (path, dist-info names, size, mtime), without importing it."""
    spec = find_spec(module)
    if spec is None or not spec.origin:
        return ""
    site = os.path.dirname(os.path.dirname(spec.origin))
    try:
        dists = sorted(n for n in os.listdir(site) if n.lower().startswith(dist.lower() + "-"))
        st = os.stat(spec.origin)
    except OSError:
        return ""
    return json.dumps([spec.origin, dists, st.st_size, st.st_mtime_ns])


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def _trusted(folder: str) -> bool:
    """A folder only this user can write, sticky or not: anyone else could otherwise vouch for any
    document. Nor may anyone else rename it away (review 89: a folder above it another user's, or
    writable by others without the sticky bit, let them swap in their own between the check and
    the read): the folders above it pass ssh's StrictModes rule (:func:`apkscan.folders.untrusted`)."""
    from apkscan.folders import untrusted

    try:
        st = os.stat(folder)
    except OSError:
        return False
    mine = not hasattr(os, "geteuid") or st.st_uid == os.geteuid()
    return (stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            and untrusted(folder) is None)


def _write(kind: str, name: str, content: bytes) -> None:
    """Create an entry atomically; any failure (read-only, full, foreign folder) only means no cache."""
    if not _writable:
        return
    folder = cache_dir(kind)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        private_dirs(folder)
        if not _trusted(folder):
            return
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, os.path.join(folder, name))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --- clean validations ----------------------------------------------------------------------


def validation_key(schema_package: str, data: Any) -> str | None:
    """The marker name for ``data`` validated against ``schema_package``'s schema; None: do not cache."""
    try:
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):  # YAML gave something JSON cannot say (bytes, sets): validate
        return None
    return _digest("apkscan-validated/1", __version__, schema_package, installed("jsonschema", "jsonschema"),
                   schema_bytes(schema_package), canonical)


def known_valid(marker: str | None) -> bool:
    """True when this exact document already passed validation (its marker is in a trusted folder)."""
    if marker is None:
        return False
    folder = cache_dir("validated")
    return _trusted(folder) and os.path.isfile(os.path.join(folder, marker))


def remember_valid(marker: str | None) -> None:
    if marker is not None:
        _write("validated", marker, b"")


# --- parsed documents -------------------------------------------------------------------------


@cache
def _builder_code() -> bytes:
    """The code that turns YAML into data: a changed builder must never be served old parses,
    even by a development tree whose version string did not move."""
    from apkscan.rules import yamlsrc

    with open(yamlsrc.__file__ or "", "rb") as fh:
        return hashlib.sha256(fh.read()).digest()


def parse_key(text: str) -> str:
    return _digest("apkscan-parsed/2", __version__, installed("yaml", "PyYAML"), _builder_code(), text)


def parsed(key: str) -> tuple[Any, dict[tuple, int]] | None:
    """(data, lines) YAML gave for the text of ``key``, or None (absent, untrusted, unreadable)."""
    folder = cache_dir("parsed")
    path = os.path.join(folder, key + ".json")
    if not _trusted(folder):
        return None
    try:
        if os.stat(path).st_size > MAX_ENTRY:
            return None
        with open(path, "rb") as fh:
            entry = json.loads(fh.read())
        return entry["data"], {tuple(at): int(line) for at, line in entry["lines"]}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # absent or damaged: parse again
        return None


def remember_parsed(key: str, data: Any, lines: dict[tuple, int]) -> None:
    """Keep (data, lines) when JSON gives back exactly the same values (else: parse every time)."""
    try:
        text = json.dumps({"data": data, "lines": [[list(at), line] for at, line in lines.items()]})
    except (TypeError, ValueError):
        return
    if json.dumps(json.loads(text)) != text:
        return
    _write("parsed", key + ".json", text.encode("utf-8"))
