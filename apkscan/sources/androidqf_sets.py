"""Which ``apks/`` files of an AndroidQF acquisition are one package's install set (base + splits).

AndroidQF pulls every file ``pm path <pkg>`` lists and names it from the package and the device
path (mvt-project/androidqf ``modules/packages.go``, ``backup-formats.md`` §2): ``<pkg><suffix>.apk``,
the suffix ``"_" +`` element [1] of the path split on ``"==/"`` without its first ``.apk`` (empty when
the path has no ``==/``), and ``_1``, ``_2`` ... before ``.apk`` when that name is taken. On Android 11+
element [1] is ``<pkg>-<rand>`` for every file of the package, so the names say nothing of which
file is the base; they do say which package's listing the file was pulled for. So the listing
(``packages.json``, the acquisition's own record of each package's paths) gives the sets: a file
whose name one package's paths give is that package's; the scan then reads which is the base and
which are splits from their bytes, and compares each split with the base (:mod:`apkscan.splits`), as
for a split bundle. A name is a claim: a file put in the wrong set is a split whose package differs
from the base's (a ``split-mismatch``), never a hidden app.

A file no listed path names (renamed, its package not listed, a listing cut short) is its own set:
a split there is scanned as its own app with ``CONTAINER_BUNDLE_NO_BASE`` (no base to compare it
with), never dropped. A name two packages' paths both give is attributed to neither; paths past
:data:`MAX_PATHS` attribute nothing (the run's parent holds a bounded map whatever the listing holds).
A set is held whole in the run's parent until it ends (review 67 F4), so what one set gathers is
bounded: a numbered name (``_<n>``) is the package's only when it lists that name more than ``n``
times, as AndroidQF numbers a name only when it is taken, and past :data:`MAX_SET` files the rest are
sets of their own, said (``ANDROIDQF_SET_TOO_LARGE``).
"""

from __future__ import annotations

import re

from apkscan.issues import Issue, warning
from apkscan.sources.interface import chain_display

APKS = "apks/"
_NUMBERED = re.compile(r"(.+)_([0-9]{1,9})")
# Paths read from a listing: a phone's ~700 packages list 1-5 files each; past this (a crafted listing
# within packages.json's caps) the rest attribute nothing, so their files are sets of their own.
MAX_PATHS = 100_000
MAX_SET = 256  # files one set gathers: Android installs a base and a few dozen splits at most


def local_stem(package: str, path: str) -> str:
    """The name AndroidQF gives the pulled copy of ``path``, without ``.apk`` and its collision number."""
    parts = path.split("==/")
    return package + (f"_{parts[1].replace('.apk', '', 1)}" if len(parts) > 1 else "")


class InstallSets:
    """The install sets of one acquisition's ``apks/`` folder, read from its package listing."""

    def __init__(self, listing: list[tuple[str, list[str]]]):
        """``listing``: (package, its files' device paths) per readable ``packages.json`` record."""
        owner: dict[str, str | None] = {}
        listed: dict[str, int] = {}  # times a name is listed: AndroidQF numbers the copies past the first
        paths_left = MAX_PATHS
        for package, paths in listing:
            paths, paths_left = paths[:max(paths_left, 0)], paths_left - len(paths)
            for path in paths:
                stem = local_stem(package, path)
                owner[stem] = package if owner.get(stem, package) == package else None  # two packages: neither
                listed[stem] = listed.get(stem, 0) + 1
        self._owner, self._listed = owner, listed
        self.past_cap: dict[str, int] = {}  # package -> its files past MAX_SET (own sets), from keys()

    def package_of(self, rel: str) -> str | None:
        """The package whose listed paths name ``rel`` (a name under ``apks/``), or None."""
        if not rel.endswith(".apk"):
            return None
        stem = rel[:-4]
        if stem in self._owner:
            return self._owner[stem]
        numbered = _NUMBERED.fullmatch(stem)
        if numbered is None or not 0 < int(numbered.group(2)) < self._listed.get(numbered.group(1), 0):
            return None  # a number AndroidQF gives no file of this listing
        return self._owner.get(numbered.group(1))

    def keys(self, chain: tuple[str, ...], root: str, names: list[str]) -> dict[str, str]:
        """Each file directly under ``apks/`` → its set's bundle key: one per listed package, and one
        per file no listed path names (its own set)."""
        out, sizes = {}, {}
        for name in names:
            rel = name[len(root) + len(APKS):] if name.startswith(root + APKS) else None
            if rel is None or not rel or "/" in rel:
                continue
            package = self.package_of(rel)
            if package is not None and sizes.get(package, 0) >= MAX_SET:
                self.past_cap[package] = self.past_cap.get(package, 0) + 1
                package = None  # its own set: a set held whole stays bounded
            elif package is not None:
                sizes[package] = sizes.get(package, 0) + 1
            out[name] = chain_display(chain + ((f"{root}{APKS} (install of {package})" if package is not None
                                                else name),))
        return out

    def past_cap_said(self) -> list[Issue]:
        """What :meth:`keys` turned away from a set past :data:`MAX_SET`, said once per package."""
        return [warning("ANDROIDQF_SET_TOO_LARGE", f"packages.json gives {package} more than {MAX_SET} files "
                        f"under {APKS}: {past} more are scanned as apps of their own, not compared with its base")
                for package, past in self.past_cap.items()]


def paths_of(entry: object) -> list[str]:
    """The device paths a ``packages.json`` record lists (``files[].path``), bounded."""
    files = entry.get("files") if isinstance(entry, dict) and isinstance(entry.get("files"), list) else []
    return [f["path"][:4096] for f in files[:1000] if isinstance(f, dict) and isinstance(f.get("path"), str)]
