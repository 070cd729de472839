"""AndroidQF acquisitions (mvt-project/androidqf): APKs, package records and the nested backup.

Layout (shared ``backup-formats.md`` §2): ``acquisition.json``, ``packages.json``,
``apks/``, ``backup.ab`` and text files, as a folder or a ZIP of it (optionally under one
top-level folder). What is yielded:

- every file in ``apks/`` → :class:`Member`, grouped into install sets: the files whose names
  one package's listed paths give (AndroidQF names each pulled file after its package and path,
  :mod:`androidqf_sets`) share one ``bundle`` key, so the scan assembles that package's base and
  splits as it does a split bundle's (``split-mismatch``: a split of another key or package); a
  file no listed path names is a set of its own (a split there: ``CONTAINER_BUNDLE_NO_BASE``).
  Those names say nothing of roles (on Android 11+ every file of a package has the same name but
  its number), and a record is tied to its APK only by SHA-256 against ``files[].sha256``;
- ``backup.ab`` → :class:`Member` (the walker recurses into it);
- each package of ``packages.json`` (of every copy, when a ZIP lists the name more than once:
  extractors give the last, which must not hide the device's records in another; each such
  record carries ``TAMPER_DUPLICATE_ENTRY``) → :class:`RecordedApp` with the certificate digests
  the device reported and ``apk_sha256s``, the SHA-256s of its files. The scan lists the
  record only when no APK of that package with one of those digests was scanned from this acquisition
  (deleted by "remove trusted", never pulled, or unreadable): when the APK is there its
  verified signers say more. The tie uses the hash the scan computes anyway, so each APK
  is read once. When the record names certificates and that APK verifies under none of
  them, the scan says so (``BACKUP_RECORD_SIGNER_MISMATCH``, :mod:`record_check`).
- the files AndroidQF itself writes (:data:`KNOWN_FILES`: text, JSON, logs, ``bugreport.zip``)
  → one :class:`Skipped` per reason, unless their bytes are an APK (then a :class:`Member`);
- every other file, sub-folders included → :class:`Member`, classified by content by the
  walker: an ``acquisition.json`` beside an APK does not hide it. The search for layouts
  (:mod:`archive_layouts`) may give such files to another layout's reader first (:func:`owns`).

Detection: ``packages.json`` beside ``apks/`` or a companion file, or an ``acquisition.json``
that is AndroidQF's (a JSON object with ``uuid`` and ``androidqf_version`` or ``started``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

from apkscan import jsonbound
from apkscan.apk.crypto.interop import MAX_NAME_TEXT, MAX_READINGS, read_androidqf_name
from apkscan.issues import ApkScanError, Issue, error, warning
from apkscan.sources.interface import (MAX_DEVICE_RECORDS, InputProblem, Member, RecordedApp, RecordedCertificate,
                                      Skipped, Tree)
from apkscan.sources.androidqf_sets import InstallSets, paths_of
from apkscan.sources.layout_common import apk_after_all, copies, copy_fact

MAX_JSON_BYTES = 64 << 20
# A phone's packages.json: ~700 packages x 1-3 files x ~40 values (~16 bytes each): ~80k values.
# 2M is 25x that, and bounds the parse to ~200 MB of objects whatever the bytes' shape.
MAX_JSON_VALUES = 2_000_000
MAX_PACKAGES = MAX_DEVICE_RECORDS
AGE_MAGIC = b"age-encryption.org/v1\n"
PACKAGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")
RECORDED_BY = "AndroidQF packages.json"
# older androidqf versions write no acquisition.json: packages.json plus one of these will do
COMPANIONS = ("backup.ab", "getprop.txt", "dumpsys.txt", "files.json", "root_binaries.json", "processes.txt")
MAX_ACQUISITION_JSON = 1 << 20
# What AndroidQF writes besides apks/, backup.ab and packages.json (mvt-project/androidqf modules).
KNOWN_FILES = frozenset({"acquisition.json", "command.log", "getprop.txt", "dumpsys.txt", "env.txt", "files.json",
                         "root_binaries.json", "processes.txt", "selinux.txt", "services.txt", "mounts.txt",
                         "logcat.txt", "logcat_old.txt", "bugreport.zip", "sms.txt", "key.txt", "hashes.csv"})
KNOWN_FOLDERS = ("logs/",)
_SETTINGS = re.compile(r"settings_[a-z]+\.txt")


def looks_like_age(head: bytes) -> bool:
    """An age-encrypted file (AndroidQF writes ``<uuid>.zip.age`` when given a key)."""
    return head.startswith(AGE_MAGIC)


def age_problem(chain: tuple[str, ...]) -> InputProblem:
    return InputProblem(chain, [error("CONTAINER_AGE_ENCRYPTED",
                                      "age-encrypted (AndroidQF with key.txt): decrypt it first with "
                                      "`age --decrypt -i <key> -o acquisition.zip <file>.zip.age`, then scan the zip")])


def acquisition_root(names: list[str], tree: Tree | None = None) -> str | None:
    """The prefix ("" or "<folder>/") under which the acquisition's files sit, or None.

    An acquisition has ``packages.json`` beside ``apks/`` or one of :data:`COMPANIONS`, or an
    ``acquisition.json`` that is AndroidQF's (read from ``tree``: see :func:`is_acquisition_json`).
    A file merely *named* ``acquisition.json`` claims nothing.
    """
    tops = {n.split("/", 1)[0] for n in names}
    candidates = [""] + ([f"{next(iter(tops))}/"] if len(tops) == 1 else [])
    present = set(names)
    for root in candidates:
        has_apks = any(n.startswith(root + "apks/") for n in names)
        companions = has_apks or any(root + f in present for f in COMPANIONS)
        if root + "packages.json" in present and companions:
            return root
        if root + "acquisition.json" in present and tree is not None and is_acquisition_json(tree, root + "acquisition.json"):
            return root
    return None


def is_acquisition_json(tree: Tree, name: str) -> bool:
    """AndroidQF's ``acquisition.json``: a small JSON object with its ``uuid`` and its version or start
    time, in any copy of it (a ZIP may list the name twice: review 70 F4)."""
    try:
        found, _facts = copies(tree, name)  # the facts of its last copy are said when the reader skips it
    except KeyError:
        return False
    return any(_acquisition_data(copy) for copy in found)


def _acquisition_data(copy: Member | ApkScanError) -> bool:
    try:
        if isinstance(copy, ApkScanError):
            return False
        with copy.open() as fh:
            raw = fh.read(MAX_ACQUISITION_JSON + 1)
        data = json.loads(raw) if len(raw) <= MAX_ACQUISITION_JSON else None
    except (OSError, ValueError, RecursionError, ApkScanError):
        return False
    return (isinstance(data, dict) and isinstance(data.get("uuid"), str) and bool(data["uuid"])
            and any(isinstance(data.get(k), str) for k in ("androidqf_version", "started")))


def is_androidqf(tree: Tree) -> bool:
    return acquisition_root(tree.names(), tree) is not None


def known_file(rel: str) -> bool:
    """A file AndroidQF itself writes (relative to the acquisition's root): read or skipped by name,
    unless its bytes are an APK. Anything else in the folder or ZIP is classified by content."""
    return rel in KNOWN_FILES or rel.startswith(KNOWN_FOLDERS) or bool(_SETTINGS.fullmatch(rel))


def owns(tree: Tree) -> Callable[[str], bool]:
    """What the reader reads as its own: the files AndroidQF writes, directly in the acquisition's
    folder, ``apks/`` and ``logs/`` (it writes them flat). Any other folder, below those too, is no
    part of it: it may hold a layout of its own (review 70 F3, review 72 F7)."""
    root = acquisition_root(tree.names(), tree) or ""
    return lambda name: name.startswith(root) and _own_place(name[len(root):])


def _own_place(rel: str) -> bool:
    """A file AndroidQF writes: one it reads, or skips by name, in its own folder (another file
    there, Titanium's say, is read by content or by the layout it belongs to: review 72 F10)."""
    folder, _, _ = rel.rpartition("/")
    return folder == "apks" or ("/" not in folder and (rel in ("packages.json", "backup.ab") or known_file(rel)))


class AndroidQFReader:
    """One AndroidQF acquisition read from a Tree; see the module docstring."""

    kind = "androidqf"

    def __init__(self, tree: Tree):
        self.tree = tree
        self.recorded: dict[str, RecordedApp] = {}
        self._pending: list[RecordedApp] = []  # packages.json records parsed, not yet yielded
        self._skipped: dict[str, Skipped] = {}
        self._sets = InstallSets([])  # apks/ files per package, from packages.json (:mod:`androidqf_sets`)
        self._unread = False  # packages.json could not be opened or read: its error is said once

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        names = self.tree.names()
        root = acquisition_root(names, self.tree)  # as the registry recognised it: acquisition.json too (review 54 F7)
        if root is None:  # claimed but not readable as one (or cut by the file cap): every file by content
            yield InputProblem(self.tree.chain, [error("ANDROIDQF_INVALID", "no acquisition.json or packages.json")])
            for name in names:
                try:
                    yield self.tree.member(name)
                except (KeyError, ApkScanError) as exc:
                    issue = exc.to_issue() if isinstance(exc, ApkScanError) else error("INPUT_UNREADABLE", str(exc))
                    yield InputProblem(self.tree.chain + (name,), [issue])
            return
        self._pending, problems = self._packages(root)
        yield from problems
        skipped = self._skipped
        sets = self._sets.keys(self.tree.chain, root, names)  # apks/ file -> its install set's bundle key
        if said := self._sets.past_cap_said():
            yield InputProblem(self.tree.chain + (root + "packages.json",), said)
        members: dict[str, list[str]] = {}
        for name, key in sets.items():
            members.setdefault(key, []).append(name)
        for name in names:
            rel = name[len(root):]
            if name in sets:  # a set's files one after another (the scan assembles a bundle as it ends), at its first
                yield from self._install_set(members.pop(sets[name], []), sets[name])
            elif rel == "packages.json":  # read above as the records; an APK under that name is scanned too
                if self._unread:  # said above, once, under its own code
                    continue
                if (member := apk_after_all(self.tree, name)) is not None:
                    yield member
            elif not known_file(rel):  # backup.ab, *.age and every file AndroidQF does not write: by content
                yield self._member(name)
            elif (member := apk_after_all(self.tree, name)) is not None:
                yield member
            else:
                reason = "AndroidQF acquisition file (not scanned)"
                skipped.setdefault(reason, Skipped(self.tree.chain, reason, 0, []))
                skipped[reason].count += 1
                if len(skipped[reason].examples) < 3:
                    skipped[reason].examples.append(name)
        yield from self._flush()

    def _member(self, name: str, bundle: str | None = None) -> Member | InputProblem:
        try:
            member = self.tree.member(name)
        except ApkScanError as exc:  # e.g. over the bomb ratio: this member only
            return InputProblem(self.tree.chain + (name,), [exc.to_issue()])
        member.bundle = bundle
        return member

    def _install_set(self, names: list[str], key: str) -> Iterator[Member | InputProblem]:
        """The ``apks/`` files of one install set, each by content, all under its bundle key: the scan
        reads which is the base and compares every split with it (:mod:`apkscan.splits`)."""
        for name in names:
            yield self._member(name, key)

    def unfinished(self) -> list[RecordedApp | Skipped]:
        """What the walk learnt before its time budget ended it (the walker asks on
        ``CONTAINER_WALK_TIMEOUT``): the ``packages.json`` records, parsed before ``apks/`` is walked,
        and the skip counts, as for an adb backup's ``_manifest`` records."""
        for app in self._pending:
            app.note = f"{app.note}; the acquisition was read only in part (CONTAINER_WALK_TIMEOUT)"
        return list(self._flush())

    def _flush(self) -> Iterator[RecordedApp | Skipped]:
        pending, skipped, self._pending, self._skipped = self._pending, self._skipped, [], {}
        for app in pending:
            self.recorded[app.package] = app
            yield app
        yield from skipped.values()

    def _packages(self, root: str) -> tuple[list[RecordedApp], list[InputProblem]]:
        """The records of ``packages.json``: of every copy, when a ZIP lists the name more than once
        (extractors give the last, which must not hide the device's records in another: review
        70 F4); each such record carries that fact, and the layout says it. At most
        :data:`MAX_PACKAGES` records in all."""
        name = root + "packages.json"
        chain = self.tree.chain + (name,)
        try:
            found, _facts = copies(self.tree, name)  # said as the names are walked (apk_after_all)
        except KeyError:
            return [], []
        records: list[RecordedApp] = []
        listing: list = []
        problems: list[InputProblem] = []
        for i, copy in enumerate(found, 1):
            data = _json_list(copy, chain)
            if isinstance(data, InputProblem):
                problems.append(data)
                self._unread = self._unread or data.issues[0].code != "ANDROIDQF_PACKAGES_INVALID"  # said once
                continue
            fact = [copy_fact(name, i, len(found))] if len(found) > 1 else []
            if (said := _listed(data, chain, fact, records, listing)) is not None:
                problems.append(said)
        self._sets = InstallSets(listing)
        return records, problems


def _json_list(copy: Member | ApkScanError, chain: tuple[str, ...]) -> list | InputProblem:
    """One copy of ``packages.json`` parsed (bounded), or its problem."""
    if isinstance(copy, ApkScanError):  # over the bomb ratio, a bad local header: this file's problem only
        return InputProblem(chain, [copy.to_issue()])
    try:
        with copy.open() as f:
            raw = jsonbound.read_at_most(f, MAX_JSON_BYTES)
    except ApkScanError as exc:
        return InputProblem(chain, [exc.to_issue()])
    except OSError as exc:
        return InputProblem(chain, [error("INPUT_UNREADABLE", f"cannot read: {exc}")])
    if len(raw) > MAX_JSON_BYTES:
        return InputProblem(chain, [error("ANDROIDQF_PACKAGES_INVALID", f"larger than {MAX_JSON_BYTES} bytes")])
    try:
        data = jsonbound.loads(raw, MAX_JSON_VALUES)
    except jsonbound.TooManyValues as exc:
        return InputProblem(chain, [error("ANDROIDQF_PACKAGES_INVALID", f"refused unparsed: {exc}")])
    except (ValueError, RecursionError) as exc:
        return InputProblem(chain, [error("ANDROIDQF_PACKAGES_INVALID", f"not valid JSON: {exc}")])
    if not isinstance(data, list):
        return InputProblem(chain, [error("ANDROIDQF_PACKAGES_INVALID", "not a list of packages")])
    return data


def _listed(data: list, chain: tuple[str, ...], fact: list[Issue], records: list[RecordedApp],
            listing: list) -> InputProblem | None:
    """The records of one parsed copy added to ``records`` (and their files to ``listing``), up to
    :data:`MAX_PACKAGES` in all; the entries not read said."""
    room = max(0, MAX_PACKAGES - len(records))
    bad = 0
    for entry in data[:room]:
        parsed = _package(entry, chain)
        if parsed is None:
            bad += 1
        else:
            parsed.flags.extend(fact)
            records.append(parsed)
            listing.append((parsed.package, paths_of(entry)))
    if not bad and len(data) <= room:
        return None
    over = [e["name"] for e in data[room:room + 5]  # named, as the _manifest cap names its files
            if isinstance(e, dict) and isinstance(e.get("name"), str)]
    more = ", ..." if len(data) > room + 5 else ""
    named = f": {', '.join(repr(n[:256]) for n in over)}{more}" if over else ""
    return InputProblem(chain, [error("ANDROIDQF_PACKAGES_INVALID", f"{bad} package entries unreadable, "
                                      f"{max(0, len(data) - room)} over the limit of {MAX_PACKAGES} records "
                                      f"(not read{named})")])


def _package(entry: object, chain: tuple[str, ...]) -> RecordedApp | None:
    """One packages.json object → its record (with the SHA-256s of its files), or None when unusable."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return None
    package = entry["name"]
    if not PACKAGE_RE.fullmatch(package):
        return None
    files = entry.get("files") if isinstance(entry.get("files"), list) else []
    digests: set[str] = set()
    certs: dict[str, RecordedCertificate] = {}
    trusted = False
    unclear: dict[str, Issue] = {}
    for f in files:
        if not isinstance(f, dict):
            continue
        digest = _hex(f.get("sha256"), 64)
        if digest:
            digests.add(digest)
        trusted = trusted or f.get("trusted_certificate") is True
        cert = _certificate(f.get("certificate"), unclear, _unverified(f))
        key = cert and (cert.sha256 or cert.sha1 or cert.md5 or "")
        if cert is not None and (key not in certs or certs[key].unverified and not cert.unverified):
            certs[key] = cert  # a file that verified under it says more than one that did not
    installer = entry.get("installer")
    notes = [f"installer {installer}" if isinstance(installer, str) and installer not in ("", "null")
             else "no installer"]
    if entry.get("system") is True:
        notes.append("system app")
    if trusted:
        notes.append("AndroidQF judged its certificate trusted")
    notes.append("no APK with its recorded SHA-256 was scanned from this acquisition" if digests else
                 "no file hashes recorded (-fast mode): its APK cannot be matched to apks/")
    return RecordedApp(chain=chain, package=package, recorded_by=RECORDED_BY, certificates=list(certs.values()),
                       note="; ".join(notes), apk_sha256s=frozenset(digests), warnings=list(unclear.values()))


def _unverified(f: dict) -> str:
    """Why AndroidQF could not verify the file's signature (``verified_certificate`` false, its
    ``certificate_error``: modules/packages.go), or "": that certificate is present, not a recorded
    signer (review 88 F2). The field absent (not AndroidQF's writing): "", a recorded signer as before."""
    if f.get("verified_certificate") is not False:
        return ""
    error = _text(f.get("certificate_error"))
    return "AndroidQF could not verify it" + (f" ({error[:300]})" if error else "")


def _certificate(raw: object, unclear: dict[str, Issue], unverified: str = "") -> RecordedCertificate | None:
    """A recorded certificate: its digests, and its names as text and as attributes (AndroidQF's
    ``C=.., O=.., CN=..`` read back), so subject rules see what an adb ``_manifest``'s DER gives.
    A name that cannot be read, or reads several ways, is said in ``unclear`` (one issue a code).
    ``unverified``: why its recorder could not verify the APK's signature (:func:`_unverified`)."""
    if not isinstance(raw, dict):
        return None
    sha256, sha1, md5 = _hex(raw.get("Sha256"), 64), _hex(raw.get("Sha1"), 40), _hex(raw.get("Md5"), 32)
    if not (sha256 or sha1 or md5):
        return None
    names = {which: _name(raw.get(which), which, unclear) for which in ("Subject", "Issuer")}
    return RecordedCertificate(sha256=sha256, sha1=sha1, md5=md5,
                               subject=_text(raw.get("Subject")), issuer=_text(raw.get("Issuer")),
                               subject_attrs=names["Subject"], issuer_attrs=names["Issuer"], unverified=unverified)


def _name(value: object, which: str, unclear: dict[str, Issue]) -> dict[str, list[str]]:
    """The attributes of a ``Subject``/``Issuer`` text ({} when absent or unreadable, said)."""
    if not isinstance(value, str) or not value:
        return {}
    text = value[:MAX_NAME_TEXT + 1].encode("utf-8", "replace").decode("utf-8")  # longer: not read
    reading = read_androidqf_name(text)
    shown = repr(text[:200]) + ("..." if len(text) > 200 else "")
    if reading is None:
        unclear.setdefault("ANDROIDQF_NAME_UNREADABLE", warning(
            "ANDROIDQF_NAME_UNREADABLE", f"certificate {which} {shown} is not in AndroidQF's form "
            f"(C=.., ST=.., L=.., O=.., OU=.., CN=..), longer than {MAX_NAME_TEXT} characters or splits "
            f"more than {MAX_READINGS} ways: no subject rule can match it; check the certificate"))
        return {}
    if reading.readings > 1:
        unclear.setdefault("ANDROIDQF_NAME_AMBIGUOUS", warning(
            "ANDROIDQF_NAME_AMBIGUOUS", f"certificate {which} {shown} reads {reading.readings} ways (a value "
            "holding ', X=' or ';'; AndroidQF escapes neither): rules match every reading, as a claim"))
    return reading.attrs


def _hex(value: object, size: int) -> str | None:
    """A digest as lower-case hex when it is exactly ``size`` hex digits (colons allowed)."""
    if not isinstance(value, str):
        return None
    v = value.replace(":", "").strip().lower()
    return v if len(v) == size and all(c in "0123456789abcdef" for c in v) else None


def _text(value: object) -> str | None:
    """A display string: bounded, lone surrogates (legal in JSON) replaced."""
    if not isinstance(value, str) or not value:
        return None
    return value[:1024].encode("utf-8", "replace").decode("utf-8")
