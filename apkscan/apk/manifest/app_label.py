"""The app's label: Android's reading first, every other reading kept for matching, a disagreement said.

Why several readings: a label is matched by look-alike rules, and the same bytes can read as
"TikTok" to the device and as something else to a parser (review 58). Android's reading is
:mod:`apkscan.apk.manifest.framework_app` (the manifest) and
:mod:`apkscan.apk.manifest.arsc_android` (resources.arsc); beside it are kept apksig's strict
walk of the manifest with androguard's reading of the table (what other scanners see), the raw
string of the attribute (what aapt prints), the labels of later ``<application>`` tags (aapt
prints them; Android 16 can skip a tag by a feature flag), of a tag whose UTF-16 name is
``application`` up to a NUL (aapt's alone) and every reading cut at its first NUL (what aapt
prints). Each value is matched; a reading that differs from Android's is named in
``TAMPER_MANIFEST_AMBIGUOUS_LABEL``. The launcher activities' labels (what the home screen
shows) are matched too, but are no disagreement: apps often name their launcher another way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from apkscan.apk.manifest.framework_app import FrameworkApp, LabelAttr
from apkscan.apk.model import ManifestInfo
from apkscan.issues import Issue, tamper

TAMPER_MANIFEST_AMBIGUOUS_LABEL = "TAMPER_MANIFEST_AMBIGUOUS_LABEL"


class Resources(Protocol):
    def resolve(self, res_id: int) -> dict[str, str]: ...
    def resolve_as_android(self, res_id: int) -> tuple[dict[str, str], list[str]] | None: ...
    def unread_tables(self) -> int: ...
    def android_notes(self) -> list[str]: ...


@dataclass(slots=True)
class Reading:
    """One reading of a label: the default, per locale, other strings it reaches; ``unchecked``:
    only androguard's reading of the table exists."""

    label: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)
    unchecked: bool = False
    unread: str | None = None  # why Android may show a label no reader here finds
    notes: list[str] = field(default_factory=list)  # how the table's bytes read another way too

    def values(self) -> list[str]:
        return [v for v in dict.fromkeys([self.label, *self.labels.values(), *self.other]) if v]


def default(values: dict[str, str]) -> str | None:
    """The default locale's value, else the first locale's."""
    return values.get("", next(iter(values.values()), None))


def of_reference(res: Resources, res_id: int, android_id: int | None = None) -> Reading:
    """A label resource as Android shows it; where a parser reading the table another way sees
    other labels (an entry whose size field lies), another configuration holds another string, or
    another Android version reads the bytes another way (``notes``), those are ``other``.
    ``android_id``: the id as the manifest holds it (package byte 0x00 is the table's to give)."""
    parsers = res.resolve(res_id)  # androguard's reading
    out = Reading(default(parsers), parsers)
    read = res.resolve_as_android(res_id if android_id is None else android_id)
    out.notes = list(res.android_notes()) if read is not None else []
    if (read is None or not read[0]) and res.unread_tables():
        out.unread = (f"the label 0x{res_id:08x} resolves to nothing in the table read, and resources.arsc holds "
                      f"{res.unread_tables()} more RES_TABLE chunk(s) at its top level, which Android 9+ loads and "
                      "apkscan does not read: Android may show a label apkscan did not see")
    if read is not None and not read[0] and read[1]:  # only other readings (a table Android 9+ skips)
        out.other = [v for v in read[1] if v not in parsers.values()]
    if read is None or not read[0]:
        out.unchecked = bool(parsers)  # only androguard's reading: say so
        return out
    android, reachable = read
    if set(android.values()) != set(parsers.values()):  # locale names may be spelt differently
        out.labels, out.label = android, default(android)
    shown = set(out.labels.values())
    out.other = [v for v in dict.fromkeys([*parsers.values(), *reachable]) if v not in shown]
    return out


def of_attr(attr: LabelAttr, res: Resources) -> Reading:
    if attr.ref is not None:
        return of_reference(res, attr.ref, attr.ref & 0xFFFFFF if attr.zero_package else None)
    return Reading(attr.text, {"": attr.text} if attr.text is not None else {})


def fill(info: ManifestInfo, strict: Reading, app: FrameworkApp | None, res: Resources) -> None:
    """``info``'s label fields: Android's reading when Android reads the manifest, else apksig's
    (``strict``); the others in ``other_labels``, said in ``label_notes``."""
    first = app.applications[0] if app is not None and app.refused is None and app.applications else None
    shown = of_attr(first, res) if first is not None else strict
    info.label, info.labels, info.label_unchecked = shown.label, shown.labels, shown.unchecked
    info.other_labels, info.label_notes = list(shown.other), []
    if shown.other:
        info.label_notes.append("other configurations, or parsers that read resources.arsc another way, give "
                                + ", ".join(map(repr, shown.other)))
    if shown.unread or strict.unread:
        info.label_notes.append(shown.unread or strict.unread)
    info.label_notes += [n for n in dict.fromkeys([*shown.notes, *strict.notes]) if n not in info.label_notes]
    if first is not None:
        if set(strict.values()) != set(shown.values()):
            _also(info, strict.values(), "apksig's strict walk of the manifest (androguard's too) reads "
                  + (", ".join(map(repr, strict.values())) if strict.values() else "no label"))
        if first.raw is not None and first.raw not in shown.values():
            _also(info, [first.raw], f"the attribute's raw string (aapt's reading) is {first.raw!r}")
        if first.zero_package:
            info.label_notes.append("the label is a reference with package byte 0x00, which Android and aapt "
                                    "read as the id of the package that loads the table (0x7f for an app aapt "
                                    "built) and other parsers do not")
        for n, later in enumerate(app.applications[1:], 2):
            values = [] if later is None else [*of_attr(later, res).values(), *([later.raw] if later.raw else [])]
            _also(info, values, f"<application> tag {n} (aapt prints it; Android 16 may read it if a feature "
                  f"flag skips the first) has the label {', '.join(map(repr, values))}")
    for attr in app.aapt_only if app is not None and app.refused is None else ():
        values = [] if attr is None else [*of_attr(attr, res).values(), *([attr.raw] if attr.raw else [])]
        _also(info, values, "a tag whose UTF-16 name reads 'application' up to a NUL (aapt compares it so and "
              f"prints its label; Android reads another name and skips the tag) has the label {', '.join(map(repr, values))}")
    cut = [v.split("\x00", 1)[0] for v in [*info.labels.values(), *info.other_labels] if "\x00" in v]
    _also(info, cut, f"up to its first NUL (as aapt prints it) the label reads {', '.join(map(repr, cut))}")
    if app is not None and app.refused is None:
        info.launcher_labels = _launchers(info, app, res)
    if app is not None and app.cut:
        info.label_notes.append("the manifest has more attribute records than apkscan reads: labels past them "
                                "were not read")


def _also(info: ManifestInfo, values: list[str], note: str) -> None:
    """Keep ``values`` not yet matched as other labels, and say why when there are any."""
    known = {info.label, *info.labels.values(), *info.other_labels}
    new = [v for v in dict.fromkeys(values) if v and v not in known]
    if new or not values and note.endswith("no label"):
        info.other_labels += new
        info.label_notes.append(note)


def _launchers(info: ManifestInfo, app: FrameworkApp, res: Resources) -> list[str]:
    """Every string a launcher activity's label reads as, not already among the app's labels."""
    known = {info.label, *info.labels.values(), *info.other_labels}
    out: list[str] = []
    for attr in app.launchers:
        values = dict.fromkeys([*of_attr(attr, res).values(), *([attr.raw] if attr.raw else [])])
        out += [v for v in values if v not in known and v not in out]
    return out


def ambiguity(info: ManifestInfo) -> Issue | None:
    """TAMPER_MANIFEST_AMBIGUOUS_LABEL naming every reading, when another parser sees other labels,
    or saying that only androguard's reading exists (a table apkscan does not read as Android does)."""
    if info.label_unchecked:
        return tamper(TAMPER_MANIFEST_AMBIGUOUS_LABEL,
                      f"the label {info.label!r} is androguard's reading of a resources.arsc laid out in a way "
                      "apkscan does not read as Android does: Android may show another label")
    if not info.other_labels and not info.label_notes:
        return None
    how = "; ".join(info.label_notes) or "other readings give " + ", ".join(map(repr, info.other_labels))
    return tamper(TAMPER_MANIFEST_AMBIGUOUS_LABEL,
                  f"the label reads as {info.label!r} to Android (default configuration), but the same bytes "
                  f"read other ways too: {how}; rules are matched against all of them")
