"""Neo Backup / OAndBackupX and old OAndBackup folders (shared ``backup-formats.md`` §4).

Neo Backup: instance folders ``<pkg>/<yyyy-MM-dd-HH-mm-ss[-SSS]>-user_<N>/`` with a sibling
``<instance>.properties`` (JSON), or ``backup.properties`` inside (also the flat
``<pkg>@<instance>`` form). APKs are copied verbatim (``base.apk``, ``split_*.apk``) and
are yielded as members; data archives are skipped, unless their bytes are an APK (a name is
a claim: such a file is yielded as a member after all). Old OAndBackup: ``<pkg>/<pkg>.log``
(JSON) beside ``base.apk`` and ``<pkg>.zip`` (data, same rule).

Each package gets a :class:`RecordedApp` (name, label, version; no certificate) from its
newest backup; the scan lists it only when no APK of that package was scanned from this
folder (an APK's verified signer says more than a record; a folder name proves nothing).
Files outside any recognised instance are yielded as members, so an unusual place cannot
hide an APK from the walker.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator

from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped, Tree
from apkscan.sources.layout_common import (Skips, apk_after_all, each_copy, in_install, install_key, is_package,
                                           json_object, listed_app, member_or_problem)

INSTANCE = r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d(?:-\d{3})?-user_\d+"
SIBLING_RE = re.compile(rf"^(?P<dir>(?:.*/)?{INSTANCE})\.properties$")
INSIDE_RE = re.compile(rf"^(?P<dir>(?:.*/)?(?:[^/@]+@)?{INSTANCE})/backup\.properties$")
OAB_LOG_RE = re.compile(r"^(?P<dir>(?:.*/)?(?P<pkg>[^/]+))/(?P=pkg)\.log$")
NEO_DATA_RE = re.compile(r"^(data|device_protected_files|external_files|obb_files|media_files)"
                         r"\.tar(\.gz|\.zst)?(\.enc)?$")
DATA_REASON = "app data archive (not scanned)"


def _instances(names: list[str], kind: str) -> dict[str, str]:
    """Instance folder → its metadata file, for one layout kind."""
    found: dict[str, str] = {}
    for name in names:
        if kind == "neo":
            m = SIBLING_RE.match(name) or INSIDE_RE.match(name)
        else:
            m = OAB_LOG_RE.match(name)
            if m and not is_package(m.group("pkg")):
                m = None
        if m:
            found.setdefault(m.group("dir"), name)
    return found


def is_neo_backup(names: list[str]) -> bool:
    return bool(_instances(names, "neo"))


def is_oandbackup(names: list[str]) -> bool:
    return bool(_instances(names, "oab"))


def owns(tree: Tree, layout: str) -> Callable[[str], bool]:
    """What the reader reads as its own: each instance's metadata file and the files directly in its
    folder (the app writes an instance flat), where the app writes instances (``<pkg>/<instance>``,
    under one top folder too). Anything else, an instance deeper down too, may be a layout of its
    own: the search tries it (review 70 F3, review 72 F7, F8)."""
    names = tree.names()
    deepest = (1 if layout == "neo" else 0) + (len({n.split("/", 1)[0] for n in names}) == 1
                                               and all("/" in n for n in names))
    instances = {d: m for d, m in _instances(names, layout).items() if d.count("/") <= deepest}
    metadata = set(instances.values())
    return lambda name: name in metadata or name.rpartition("/")[0] in instances


class NeoBackupReader:
    """Neo Backup (``kind="neo"``) or old OAndBackup (``kind="oab"``) folders in a Tree."""

    def __init__(self, tree: Tree, layout: str = "neo"):
        self.tree = tree
        self.layout = layout
        self.kind = "neo-backup" if layout == "neo" else "oandbackup"
        self.recorded_by = "Neo Backup properties" if layout == "neo" else "OAndBackup log"

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        names = sorted(self.tree.names())
        instances = _instances(names, self.layout)
        skips = Skips(self.tree.chain)
        claimed: set[str] = set()
        latest: dict[str, RecordedApp] = {}
        for folder, meta_name in sorted(instances.items()):
            files = [n for n in _under(names, folder + "/") if n != meta_name]
            claimed.update(files)
            claimed.add(meta_name)
            package, records, problems = self._records(folder, meta_name)
            yield from problems
            key = install_key(self.tree.chain, folder)  # one backed-up install: base and splits compared
            for name in files:
                base = name.rsplit("/", 1)[-1]
                if name.lower().endswith(".apk"):
                    yield in_install(member_or_problem(self.tree, name), key)
                elif self._is_data(base, package):
                    if (apk := apk_after_all(self.tree, name)) is not None:  # a data name is a claim
                        yield in_install(apk, key)
                    else:
                        skips.add(DATA_REASON, name)
                else:
                    yield in_install(member_or_problem(self.tree, name), key)
            for record in records:
                latest[record.package] = record  # sorted by folder: the last is the newest backup
        for name in names:
            if name not in claimed:
                yield member_or_problem(self.tree, name)
        for package, record in latest.items():  # listed by the scan unless an APK of that package was scanned
            yield record
        yield from skips.records()

    def _is_data(self, base: str, package: str | None) -> bool:
        if self.layout == "neo":
            return NEO_DATA_RE.match(base) is not None
        return package is not None and base == f"{package}.zip"

    def _records(self, folder: str, meta_name: str) -> tuple[str | None, list[RecordedApp], list[InputProblem]]:
        """(package, its records, problems) from the instance's metadata file: every copy of it, when a
        ZIP lists its name more than once (each copy's package is listed; the instance's is the
        last copy's, the one extractors give: review 70 F4)."""
        guess = _folder_package(folder, self.layout)
        chain = self.tree.chain + (meta_name,)
        metas, problems = each_copy(self.tree, meta_name, json_object)
        package, records = guess, []
        for facts, meta in metas:
            named = meta.get("packageName")
            package = named if isinstance(named, str) and is_package(named) else guess
            if package is not None:
                label = meta.get("packageLabel") if self.layout == "neo" else meta.get("label")
                records.append(listed_app(chain, package, self.recorded_by, label=label,
                                          version_code=meta.get("versionCode"), version_name=meta.get("versionName")))
                records[-1].flags.extend(facts)
        if not metas and guess:  # no copy read: the folder's name says the package
            records.append(listed_app(chain, guess, self.recorded_by,
                                      note="metadata unreadable; package from the folder name"))
        return package, records, problems


def _under(names: list[str], prefix: str) -> list[str]:
    """The names under ``prefix`` in a sorted list (bisect: no scan per instance)."""
    start = bisect.bisect_left(names, prefix)
    end = bisect.bisect_left(names, prefix + "\U0010ffff", start)
    return names[start:end]


def _folder_package(folder: str, layout: str) -> str | None:
    parts = folder.split("/")
    last = parts[-1]
    if layout == "neo":
        candidate = last.split("@", 1)[0] if "@" in last else (parts[-2] if len(parts) > 1 else "")
    else:
        candidate = last
    return candidate if is_package(candidate) else None
