"""Helpers shared by the backup-app layout readers (Neo Backup, Swift, Titanium, ...).

Layout readers read small metadata files whole (bounded) and yield APKs as members,
package-only records as :class:`RecordedApp` without certificates (``origin="listed"``:
a name in a file is a claim, not an identity) and data archives as counted skips.
"""

from __future__ import annotations

import json
import re

from apkscan.issues import ApkScanError, error
from apkscan.sources import detect
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped, Tree, chain_display
from apkscan.sources.zip_archive import ENCRYPTED

MAX_METADATA_BYTES = 1 << 20
MAX_EXAMPLES = 3
PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
INT_RE = re.compile(r"-?[0-9]{1,19}")  # ASCII only: "²".isdigit() is True, int("²") raises
LISTED_NOTE = "package name from the backup app's own record only: no APK, no certificate"


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
    member's error, not a skipped file."""
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
    return member if detect.member_holds_apk(member) else None


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


def read_small(tree: Tree, name: str, limit: int = MAX_METADATA_BYTES) -> bytes:
    try:
        with tree.member(name).open() as f:
            data = f.read(limit + 1)
    except ApkScanError as exc:  # its own stable code (INPUT_OPEN_FOR_WRITING, a bomb...), not a vaguer one
        raise MetadataError(exc.code, exc.message) from None
    except (OSError, KeyError) as exc:
        raise MetadataError("INPUT_UNREADABLE", f"cannot read: {exc}") from None
    if len(data) > limit:
        raise MetadataError("BACKUP_METADATA_INVALID", f"larger than {limit} bytes")
    return data


def read_json_object(tree: Tree, name: str) -> dict:
    try:
        value = json.loads(read_small(tree, name))
    except (ValueError, RecursionError) as exc:
        raise MetadataError("BACKUP_METADATA_INVALID", f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MetadataError("BACKUP_METADATA_INVALID", "not a JSON object")
    return value


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
