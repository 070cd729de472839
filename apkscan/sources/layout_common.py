"""Helpers shared by the backup-app layout readers (Neo Backup, Swift, Titanium, ...).

Layout readers read small metadata files whole (bounded) and yield APKs as members,
package-only records as :class:`RecordedApp` without certificates (``origin="listed"``:
a name in a file is a claim, not an identity) and data archives as counted skips.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

from apkscan.issues import ApkScanError, Issue, error, tamper
from apkscan.sources import detect
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped, Tree, chain_display
from apkscan.sources.member_facts import to_say
from apkscan.sources.zip_archive import ENCRYPTED

MAX_METADATA_BYTES = 1 << 20
MAX_EXAMPLES = 3
PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
INT_RE = re.compile(r"-?[0-9]{1,19}")  # ASCII only: "²".isdigit() is True, int("²") raises
LISTED_NOTE = "package name from the backup app's own record only: no APK, no certificate"
T = TypeVar("T")


def is_package(name: str) -> bool:
    return len(name) <= 255 and PACKAGE_RE.fullmatch(name) is not None


class MetadataError(Exception):
    """A metadata file could not be read or parsed; ``code`` is the issue code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def member_or_problem(tree: Tree, name: str) -> Member | InputProblem:
    """``tree.member(name)``, or that member's coded error (a bomb, a bad local header): one
    member's problem, never the end of the whole layout."""
    try:
        return tree.member(name)
    except ApkScanError as exc:
        return InputProblem(tree.chain + (name,), [exc.to_issue()])


def apk_after_all(tree: Tree, name: str) -> Member | InputProblem | None:
    """A file skipped by its name (data, logs, OBB, metadata) that is an APK by its bytes, as a
    Member; None when it is what its name says. One that cannot be read is data only when its
    first bytes are no ZIP: a banned APK padded past the bomb ratio under a log's name is that
    member's error, not a skipped file. One with container facts (a name a ZIP lists twice) is
    not skipped silently either: those facts are its problem (:mod:`member_facts`, review 70 F4)."""
    try:
        member = tree.member(name)
    except (KeyError, OSError):
        return None
    except ApkScanError as exc:
        head = getattr(tree, "head", None)
        try:
            looks_like_zip = head is not None and detect.is_zip(head(name, 4))
        except (ApkScanError, OSError, KeyError):
            looks_like_zip = True  # not even its head reads: said, not skipped
        if looks_like_zip or exc.code == ENCRYPTED:  # a locked file may be anything: said, never data
            return InputProblem(tree.chain + (name,), [exc.to_issue()])
        return None  # e.g. a log over the bomb ratio: data, not read
    if detect.member_holds_apk(member):
        return member
    facts = to_say(member.flags)
    return InputProblem(tree.chain + (name,), facts) if facts else None


def install_key(chain: tuple[str, ...], place: str) -> str:
    """The bundle key of one backed-up install (a Neo instance folder, a Swift package, an adb
    ``apps/<pkg>/a/``): its members are assembled like a pulled install folder's."""
    return chain_display(tuple(chain) + (place.rstrip("/") + "/",))


def in_install(item: Member | InputProblem | None, key: str) -> Member | InputProblem | None:
    """``item`` as a member of the install ``key`` (a problem or None stays as it is). Every
    member of the install gets it, whatever its name: the walker reads which are APKs, and the
    scan reads which is the base and which are splits, from their bytes (a planted split under
    an odd name is still compared with the base)."""
    if isinstance(item, Member):
        item.bundle = key
    return item


def copies(tree: Tree, name: str) -> tuple[list[Member | ApkScanError], list[Issue]]:
    """Every record of the metadata file ``name`` with data of its own (each a member, or why it
    cannot be opened): a ZIP that lists the name more than once gives its earlier records first
    (:meth:`~apkscan.sources.zip_tree.ZipTree.earlier`), then the one extractors give. And that
    one's container facts (``TAMPER_DUPLICATE_ENTRY``): the layout reads the file and never hands
    it to the walk, so it says them itself (review 70 F4). KeyError when absent."""
    try:
        last: Member | ApkScanError = tree.member(name)
    except ApkScanError as exc:
        last = exc
    earlier = getattr(tree, "earlier", None)
    return [*(earlier(name) if earlier is not None else ()), last], to_say(getattr(last, "flags", ()))


def copy_fact(name: str, i: int, n: int) -> Issue:
    """Said on each record read from copy ``i`` (1-based) of a metadata file listed ``n`` times."""
    which = "the last, the one extractors give" if i == n else "an earlier one, which extractors do not give"
    return tamper("TAMPER_DUPLICATE_ENTRY", f"{name!r} is listed {n} times in the archive with different data: "
                  f"the records of every copy are read; this one is from copy {i} of {n} ({which})")


def read_copy(copy: Member | ApkScanError, limit: int = MAX_METADATA_BYTES) -> bytes:
    """A metadata file's bytes (one copy of it), at most ``limit``."""
    try:
        if isinstance(copy, ApkScanError):
            raise copy
        with copy.open() as f:
            data = f.read(limit + 1)
    except ApkScanError as exc:  # its own stable code (INPUT_OPEN_FOR_WRITING, a bomb...), not a vaguer one
        raise MetadataError(exc.code, exc.message) from None
    except (OSError, KeyError) as exc:
        raise MetadataError("INPUT_UNREADABLE", f"cannot read: {exc}") from None
    if len(data) > limit:
        raise MetadataError("BACKUP_METADATA_INVALID", f"larger than {limit} bytes")
    return data


def json_object(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise MetadataError("BACKUP_METADATA_INVALID", f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MetadataError("BACKUP_METADATA_INVALID", "not a JSON object")
    return value


def each_copy(tree: Tree, name: str,
              parse: Callable[[bytes], T]) -> tuple[list[tuple[list[Issue], T]], list[InputProblem]]:
    """``parse`` of every copy of the metadata file ``name`` (:func:`copies`), in order, each with
    the facts its records carry (:func:`copy_fact`; none for a name listed once), and the
    problems: each copy's own, and the name's container facts, said once."""
    try:
        found, facts = copies(tree, name)
    except KeyError as exc:
        return [], [problem(tree, name, MetadataError("INPUT_UNREADABLE", f"cannot read: {exc}"))]
    out, problems = [], [InputProblem(tree.chain + (name,), facts)] if facts else []
    for i, copy in enumerate(found, 1):
        try:
            out.append(([copy_fact(name, i, len(found))] if len(found) > 1 else [], parse(read_copy(copy))))
        except MetadataError as exc:
            problems.append(problem(tree, name, exc))
    return out, problems


def problem(tree: Tree, name: str, exc: MetadataError) -> InputProblem:
    return InputProblem(tree.chain + (name,), [error(exc.code, str(exc))])


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10 ** 19 else None
    if isinstance(value, str) and INT_RE.fullmatch(value.strip()) is not None:
        return int(value.strip())
    return None


def as_text(value: object, limit: int = 256) -> str | None:
    """A display string: bounded, lone surrogates (legal in JSON) replaced."""
    if not isinstance(value, str) or not value:
        return None
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def listed_app(chain: tuple[str, ...], package: str, recorded_by: str, *, label: object = None,
               version_code: object = None, version_name: object = None, note: str = "") -> RecordedApp:
    return RecordedApp(chain=chain, package=package, recorded_by=recorded_by, version_code=as_int(version_code),
                       version_name=as_text(version_name), label=as_text(label),
                       note=f"{LISTED_NOTE}; {note}" if note else LISTED_NOTE)


class Skips:
    """One :class:`Skipped` per reason, with a count and a few example names."""

    def __init__(self, where: tuple[str, ...]):
        self.where = where
        self.by_reason: dict[str, Skipped] = {}

    def add(self, reason: str, name: str) -> None:
        rec = self.by_reason.setdefault(reason, Skipped(self.where, reason, 0, []))
        rec.count += 1
        if len(rec.examples) < MAX_EXAMPLES:
            rec.examples.append(name)

    def records(self) -> list[Skipped]:
        return list(self.by_reason.values())
