"""What fails now, for ``apkscan diff``: inputs the new scan could not read, or skipped, that
the old scan read (or did not see).

Split from :mod:`apkscan.diff` (the comparison of apps): a failure is matched by (source,
place, code) and content, never by the file name alone, and an app whose place the new scan
skipped is a failure too, so making a banned APK unreadable or a link never reads as removing it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from apkscan.diff_places import Roots, SourceKeys, outermost, skipped_places

if TYPE_CHECKING:
    from apkscan.diff import AppState
    from apkscan.document import InputError, ScanDocument

NEW = "new"  # no failure with this code at this place before
OTHER_CONTENT = "failing again, other content"  # the same place and code, other bytes: a new failure
CONTENT_UNKNOWN = "still failing (content unknown)"  # a document without the failing bytes' SHA-256
SKIPPED_NOW = "skipped now"  # an app of the old scan whose place the new scan skipped: worse, as unreadable
STILL_FAILING = "still failing (same content)"  # the same place, code and bytes: listed, not worse (review 82 F2b)


@dataclass(slots=True, frozen=True)
class NewFailure:
    """An input the new scan could not read that the old scan read (or did not see).

    Worse unless CONTENT_UNKNOWN: making a banned APK unreadable (or skipped: a link now) must
    not look like removing it.
    """

    source: str
    name: str  # where in its source: path below the scanned input, or the member chain in a container
    code: str
    message: str
    sha256: str | None = None  # of the bytes that failed, when the document says
    status: str = NEW  # NEW, OTHER_CONTENT, SKIPPED_NOW (worse), CONTENT_UNKNOWN or STILL_FAILING (said, not counted worse)

    @property
    def worse(self) -> bool:
        return self.status not in (CONTENT_UNKNOWN, STILL_FAILING)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source or None, "name": self.name, "code": self.code, "message": self.message,
                "sha256": self.sha256, "status": self.status}


def new_failures(old: ScanDocument, new: ScanDocument, keys: SourceKeys) -> list[NewFailure]:
    """Input errors of the new scan that did not already fail in the old one by (source, place,
    code) and content (the error's SHA-256, or the file's custody record); CONTENT_UNKNOWN ones
    (either side without a SHA-256: ``--quick``, older documents) and STILL_FAILING ones (the same
    bytes failed before) are said, not counted worse.

    The place is the path below the scanned input (or the member chain in a container), never
    the file name alone: every pulled APK is ``base.apk``, and an unrelated one that failed
    before must not hide a banned one made unreadable now (nor other bytes at the same place)."""
    def failures(doc: ScanDocument) -> list[NewFailure]:
        roots, custody = Roots(doc), {f.path: f.sha256 for f in doc.input_files if f.sha256}
        return [_failure(e, keys, roots, custody) for e in doc.errors]
    before: dict[tuple[str, str, str], set[str | None]] = {}
    for f in failures(old):
        before.setdefault((f.source, f.name, f.code), set()).add(f.sha256)
    out = []
    for f in failures(new):
        seen = before.get((f.source, f.name, f.code))
        if seen is None:
            out.append(f)
        elif f.sha256 is None or None in seen:
            out.append(replace(f, status=CONTENT_UNKNOWN))
        elif f.sha256 not in seen:
            out.append(replace(f, status=OTHER_CONTENT))
        else:  # unread in both audits: nothing got worse, but neither could say what it is (review 82 F2b)
            out.append(replace(f, status=STILL_FAILING))
    return out


def _failure(e: InputError, keys: SourceKeys, roots: Roots, custody: dict[str, str]) -> NewFailure:
    """An input error as a failure: an input given itself that failed is its own source and
    place, by its path (its shortest unique suffix with ``--source-by-name``), never its name."""
    code = e.code or (e.errors[0].code if e.errors else "INPUT_ERROR")
    sha = e.sha256 or (custody.get(e.where.path) if len(e.where.chain) <= 1 else None)
    given = roots.given(e.where, e.container)
    if given is not None:
        source = place = keys.key(given)
    else:
        source, place = keys.key(outermost(e.where, e.container)), roots.place(e.where, e.container)
    return NewFailure(source, place, code, e.message or "", sha.lower() if isinstance(sha, str) else None)


def skipped_now(old: ScanDocument, new: ScanDocument, keys: SourceKeys,
                 new_apps: dict[tuple[str, str], AppState]) -> tuple[list[NewFailure], set[tuple[str, str]]]:
    """Apps of the old scan at a place the new scan skipped (a link now, a member not followed):
    each a SKIPPED_NOW failure, worse like an input made unreadable; and the (source, package)
    keys gone from the new scan that these explain (not reported as removed)."""
    places = skipped_places(new, keys, Roots(new))
    if not places:
        return [], set()
    roots, out, explained, seen = Roots(old), [], set(), set()
    listed_now = _app_places(new, keys)
    for app in old.apps:
        source, place = keys.key(outermost(app.where, app.container)), roots.place(app.where, app.container)
        reason = places.get((source, place))
        if reason is None or (source, place) in seen or (source, place) in listed_now:
            continue
        seen.add((source, place))
        out.append(NewFailure(source, place, "INPUT_SKIPPED", reason, app.sha256, SKIPPED_NOW))
        key = (source, app.package if app.package is not None else f"(no package) {app.sha256}")
        if key not in new_apps:
            explained.add(key)
    return out, explained


def _app_places(doc: ScanDocument, keys: SourceKeys) -> set[tuple[str, str]]:
    """Where ``doc`` lists apps: a place both listed and skipped (a Swift ``.dat`` is a device
    record and an app data archive) is still read, so nothing of it is "skipped now"."""
    roots = Roots(doc)
    return {(keys.key(outermost(a.where, a.container)), roots.place(a.where, a.container)) for a in doc.apps}
