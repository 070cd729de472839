"""CSV: one row per app (and one per input with errors or warnings) for spreadsheets.

Why the neutralising: labels, package names and DNs come from hostile APKs, and a
spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab / CR
before one) as a formula (CSV injection, CWE-1236). Such cells get a leading
apostrophe, OWASP's advice, as does such a start after ``;``, ``,``, ``|`` or a tab inside
a cell (a sheet read with another delimiter); the value is otherwise unchanged. Inputs that could not
be scanned appear as rows with verdict ``error``, inputs read with warnings only (a listing past its
cap) as rows with verdict ``warning``, so totals match the HTML tiles.
Each row says which file it is (``file``: the shortest path suffix unique in the run;
``source``/``container``: the full chain) and what kind of finding made the verdict.
``verdict`` is the app's most severe verdict over every policy of the scan (one policy: its
verdict), and ``policy_decision``/``policy``/``policy_url`` cite the decision that gave it (the
first policy giving it, in ``--policy`` order): a sheet or pipeline filtering the first column
must not pass an app a second policy prohibits while the exit code is 1 (review 86 F1; it was the
first policy's). After the fixed columns come ``verdict:<policy>`` and ``decision:<policy>`` for
every policy of the scan, in ``--policy`` order (one pair for a single policy; the first
policy's verdict is ``verdict:<first>``), so existing column positions never move. An interrupted scan's CSV has
a first row with verdict ``interrupted`` (and the reason under ``errors``), so a sheet of
what finished never passes for the whole run, and the header stays the first line.
Files looked at and not scanned are a row per (place, reason) with verdict ``skipped`` (count
and examples under ``errors``): a symlinked banned APK must leave a row. Custody: every row
names the outermost input file it came from with that file's size and SHA-256
(``input_file``/``input_size``/``input_sha256``); an input file no other row names gets a
row of its own with verdict ``input``. Last come ``recorded_cert_sha256`` and ``recorded_cert``: a
recorded app's first recorded certificate (a device's record, no APK) and whose word it is, never
a verified signer (:mod:`apkscan.report.recorded_view`; added last, review 90). A label,
package or publisher whose characters pass for another script's letters ends with a note naming
them (``TikТok [look-alike: Т=U+0422]``, :mod:`apkscan.report.lookalike`); paths are left as stored (they name files).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

from apkscan.document import ScanDocument
from apkscan.report import recorded_view, view
from apkscan.report.detail_view import Detail
from apkscan.report.escape import visible
from apkscan.report.finding_view import policy_citation
from apkscan.report.paths import custody_of

COLUMNS = [
    "verdict", "kinds", "strength", "basis", "file", "signer_debug", "vendors", "rules", "label", "package", "version_name",
    "version_code", "publisher", "signer_verified", "signer_cert_sha256",
    "unverified_cert_sha256", "schemes_verified", "source", "container", "apk_sha256",
    "tamper", "errors", "policy_decision", "policy", "policy_url", "input_file", "input_size", "input_sha256",
]
# after the policy columns, so no column of an earlier CSV moved (review 90): a recorded app's certificate
TRAILING = ["recorded_cert_sha256", "recorded_cert"]
INTERRUPTED = ("interrupted: the scan was stopped (Ctrl-C or SIGTERM) before it finished; "
               "only the inputs that finished are listed")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# a cell's start under another delimiter, or after a line break in the cell: a reader splitting on
# ";" or a tab sees the quoted cell's line break end its row (review 46 #6)
_AFTER_DELIMITER = re.compile("([;,|\t\r\n][ \t]*)([=+\\-@＝＋－＠])")


def neutralise(value: object) -> str:
    """Text for one cell that no spreadsheet will evaluate as a formula, with bidi controls
    and invisible characters shown as escapes (:func:`apkscan.report.escape.visible`).
    A formula start after a delimiter-like character gets the apostrophe too: Excel in many
    locales splits on ``;``, so ``Notes;=10+20`` would be two cells there, one a formula."""
    text = _AFTER_DELIMITER.sub(r"\1'\2", visible("" if value is None else str(value)))
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def counted(codes: Iterable[str]) -> str:
    """``TAMPER_X×50 ZIP_Y``: each code once, in first-seen order, with its count when > 1."""
    seen = Counter(codes)
    return " ".join(code if n == 1 else f"{code}×{n}" for code, n in seen.items())


def app_record(a: view.AppRow) -> dict[str, object]:
    d = a.detail()
    text, url, ref = _worst_citation(a)
    return {
        "verdict": a.worst,
        "kinds": " ".join(a.kinds),
        "strength": a.strength,
        "basis": "; ".join(a.basis),
        "file": a.file,
        "signer_debug": "yes" if a.signer_debug else "no",
        "vendors": "; ".join(a.vendors),
        "rules": "; ".join(dict.fromkeys(f.rule for f in a.findings)),
        "label": a.label_shown,  # look-alike characters noted (review 82 F5)
        "package": a.package_shown,
        "version_name": a.version,
        "version_code": a.version_code,
        "publisher": a.publisher_shown,
        "signer_verified": "yes" if a.verified else "no",
        "signer_cert_sha256": a.signer_sha256,
        "unverified_cert_sha256": a.present_sha256,
        "schemes_verified": _schemes_verified(a, d),
        "source": a.source,
        "container": a.container,
        "apk_sha256": a.sha256,
        "tamper": counted(i.code for i in d.tamper),
        "errors": counted(i.code for i in d.errors),
        "policy_decision": ref,
        "policy": text,
        "policy_url": url,
        "recorded_cert_sha256": a.recorded_sha256,  # the device's word, never verified (review 90)
        "recorded_cert": recorded_view.said(a),
    }


def _worst_citation(a: view.AppRow) -> tuple[str | None, str | None, str | None]:
    """(text, url, reference) of the decision behind the row's ``verdict`` (the most severe): the
    first policy's citation when it gives that verdict (or there is one policy), else the first
    policy's that does, so a row never reads ``prohibited`` beside an allowing decision."""
    by = next((name for name, e in a.app.verdicts.items() if e.verdict == a.worst), None)
    if by is None or a.verdict == a.worst:
        return a.policy_text, a.policy_url, a.policy_ref
    return policy_citation(a.app.verdicts[by])


def _schemes_verified(a: view.AppRow, d: Detail) -> str:
    """Schemes that verified; with --quick none did (their signatures alone did: the cell says so)."""
    names = " ".join(s.name for s in d.schemes if s.verified)
    checked = " ".join(s.name for s in d.schemes if s.signature_only)
    if checked:
        return f"none verified; signatures only, content_digests: not checked ({checked})"
    return names


def policy_columns(names: list[str]) -> list[str]:
    return [f"{kind}:{name}" for name in names for kind in ("verdict", "decision")]


def render(doc: ScanDocument | dict, out: TextIO) -> None:
    """Write the CSV (RFC 4180, CRLF rows, header first) for a scan document (typed, or its JSON)."""
    doc = ScanDocument.of(doc)
    writer = csv.writer(out, lineterminator="\r\n")
    names = view.meta(doc).policies
    columns = COLUMNS + policy_columns(names) + TRAILING
    custody = {f.path: f for f in view.input_files(doc)}
    named: set[str] = set()

    def write(rec: dict[str, object], outermost: str | None, chain: Sequence[str] = ()) -> None:
        f = custody_of(outermost, chain, custody)
        if f is not None:
            named.add(f.path)
            rec.update(input_file=f.path, input_size=f.size, input_sha256=f.sha256)
        for n in names:  # a row that is no app: its kind under every policy (as "error")
            rec.setdefault(f"verdict:{n}", rec["verdict"])
        writer.writerow([neutralise(rec.get(c)) for c in columns])

    writer.writerow([neutralise(c) for c in columns])  # a policy file names its policy: a claim too
    if doc.interrupted:
        write(dict(verdict="interrupted", errors=INTERRUPTED), None)
    for a in view.apps(doc):
        rec = app_record(a)
        for pv in a.verdicts:
            rec[f"verdict:{pv.policy}"], rec[f"decision:{pv.policy}"] = pv.verdict, pv.decision
        write(rec, a.outermost, a.app.where.chain)
    for e in view.errors(doc):
        rec = dict(verdict=e.severity, source=e.source, container=e.container, file=e.source,
                   errors=f"{e.code}: {e.message}")
        write(rec, e.outermost, e.chain)
    for s in view.skipped(doc):
        write(dict(verdict="skipped", source=s.where, file=s.where,
                   errors=f"skipped {s.count}: {s.reason}{s.examples_note}"), s.outermost, s.chain)
    for f in custody.values():
        if f.path not in named:
            write(dict(verdict="input", source=f.path, file=f.path, kinds=f.kind), f.path)

