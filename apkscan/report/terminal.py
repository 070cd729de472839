"""Terminal output for a person: the compact summary of a scan.

Why the care: APK labels are hostile text and a terminal obeys escape sequences, so
control and bidi-override characters are shown escaped, never written raw. Colour
follows https://no-color.org: off with ``--no-color``, a non-empty ``NO_COLOR``,
``TERM=dumb`` or when the stream is not a terminal. (Progress while scanning:
:mod:`apkscan.batch.progress`, which escapes names with :func:`safe` too.)
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from apkscan.report.escape import safe  # noqa: F401 - re-exported: the one escaper

if TYPE_CHECKING:  # the views and the typed document are imported by render(): inspect only needs safe()
    from apkscan.document import ScanDocument
    from apkscan.report import view

UNLIMITED = 1 << 20  # "columns" of a pipe or a log: nothing is cut
ALIGN_MAX = 48  # widest a column is padded to; longer text overflows its own row only
_COLORS = {"prohibited": "\x1b[1;31m", "review": "\x1b[1;33m", "allowed": "\x1b[32m",
           "errors": "\x1b[1;35m", "dim": "\x1b[2m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def use_color(stream: TextIO, no_color: bool = False) -> bool:
    """Whether to colour ``stream``: never when asked not to or when it is not a TTY."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else
               0 if unicodedata.combining(c) else 1 for c in text)


def fit(text: str, cols: int) -> str:
    """Truncate to ``cols`` display columns (CJK counts double) and pad."""
    if width(text) > cols:
        out, w = [], 0
        for c in text:
            cw = width(c)
            if w + cw > cols - 1:
                break
            out.append(c)
            w += cw
        text = "".join(out) + "…"
    return text + " " * (cols - width(text))


class _Paint:
    def __init__(self, on: bool):
        self.on = on

    def __call__(self, key: str, text: str) -> str:
        return f"{_COLORS[key]}{text}{_RESET}" if self.on and key in _COLORS else text


def render(doc: ScanDocument | dict, out: TextIO, *, color: bool = False, columns: int | None = None,
           limit: int = 50) -> None:
    """Flagged apps (prohibited first, up to ``limit``), errors, allowed apps with tamper
    indicators (a BadPack header is worth a look even when no rule matched), skips, then counts."""
    from apkscan.document import ScanDocument
    from apkscan.document.tally import per_policy
    from apkscan.report import policy_view, view
    from apkscan.report.lookalike import noted
    from apkscan.report.policy_view import headers

    doc = ScanDocument.of(doc)
    paint = _Paint(color)
    cols = columns or _terminal_columns(out)
    apps = view.apps(doc)
    errs = view.errors(doc)
    counts = view.counts(apps, errs)
    meta = view.meta(doc)
    flagged = sorted((a for a in apps if a.flagged),
                     key=lambda a: (view.VERDICT_RANK.get(a.worst, 9),
                                    view.STRENGTH_RANK.get(a.strength or "", 9),
                                    (a.label or "").lower()))
    if meta.interrupted:
        out.write(paint("errors", "INTERRUPTED: this scan was stopped; only the inputs that finished "
                                  "are counted below") + "\n")
    if flagged:
        if len(meta.policies) > 1:
            legend = "  ".join(f"{h} {n}" for h, n in zip(headers(meta.policies), meta.policies))
            out.write(paint("dim", f"policies: {safe(legend)}") + "\n")
        _table(flagged[:limit], out, paint, cols, headers(meta.policies))
        if len(flagged) > limit:
            out.write(paint("dim", f"... and {len(flagged) - limit} more flagged apps "
                                   "(see the HTML/CSV report)") + "\n")
        out.write("\n")
    for e in errs[:limit]:  # a message may name a label or package: look-alikes noted (review 82 F5)
        label = paint("review", "warning") if e.severity == "warning" else paint("errors", "error")
        out.write(f"{label} {safe(noted(e.where))}: {safe(e.code)} {safe(noted(e.message))}\n")
    if len(errs) > limit:
        out.write(f"... and {len(errs) - limit} more inputs with errors or warnings\n")
    marked = [a for a in apps if a.tamper and not a.flagged]  # flagged ones: their details in the reports
    for a in marked[:5]:
        out.write(paint("review", f"tamper indicators on allowed {safe(noted(a.file))}: {safe(', '.join(a.tamper))}") + "\n")
    if len(marked) > 5:
        out.write(paint("review", f"... and {plural(len(marked) - 5, 'more allowed app')} with tamper indicators "
                                  "(see the JSON/HTML report)") + "\n")
    skipped = view.skipped(doc)
    for sk in skipped[:5]:
        out.write(paint("dim", f"skipped {sk.count} in {safe(sk.where)}: {safe(sk.reason)}") + "\n")
    if len(skipped) > 5:
        out.write(paint("dim", f"... and {sum(s.count for s in skipped[5:])} more skipped files (see the JSON/HTML report)") + "\n")
    caveats = [(p.name, p.uncertain, p.uncertain_more) for p in policy_view.uncertain(doc)]
    _footer(out, paint, meta.rules, meta.policy, counts,
            sum(s.count for s in skipped) if skipped else None,
            per_policy(doc) if len(meta.policies) > 1 else None, caveats, doc.quick,
            one_policy_note(doc.schema_version))


Caveat = tuple[str, list[str], int]  # a policy's name, its ``uncertain`` items shown, how many more


QUICK_NOTE = ("quick scan (--quick): content digests not checked and no APK verified, so an app only a verified "
              "signer identifies (a vendor's key, a Kaspersky publisher name) comes out as review under the "
              "shipped policies, not prohibited")


def one_policy_note(version: str) -> str | None:
    """What a 1.0/1.1 document cannot say (review 88 F1): its verdicts are one policy's, and a newer
    document cut down to that form (every other policy's verdicts deleted) reads the same."""
    from apkscan.document.policy_keys import one_policy_schema

    if not one_policy_schema(version):
        return None
    return (f"schema {version} document: it carries one policy's verdicts only; 1.2 and later "
            f"carry every --policy's, and a newer document with the others deleted and relabelled "
            f"{version} reads the same (documents are not signed)")


def _footer(out: TextIO, paint: _Paint, rules: list[tuple[str, str | None]], policy: tuple[str, str | None] | None,
            counts: dict[str, int], skipped: int | None, per_policy: Mapping[str, Mapping[str, int]] | None,
            caveats: list[Caveat], quick: bool = False, older: str | None = None) -> None:
    """The summary's last lines: each policy's ``uncertain`` items, rule packs and policy, what
    ``--quick`` left out, then the counts (``per_policy``: one line per policy of a run with
    several, then each app once by its most severe verdict, as JSON ``counts``; ``skipped``: None
    when nothing was skipped). The caveats come with every run, an all-allowed one too: "allowed"
    under a policy means nothing it can detect (review 65 H1); so does the --quick note: a banned
    app read as "to review" under --quick must not pass for a full scan's (review 86 F3). ``older``: a 1.0/1.1
    document's :func:`one_policy_note`."""
    for name, items, more in caveats:
        out.write(paint("review", f"{safe(name)}, uncertain (what it cannot detect, what its sources leave open):") + "\n")
        out.writelines(f"  - {safe(u)}\n" for u in items)
        if more:
            out.write(f"  ... and {more} more (apkscan policies show, or the JSON report)\n")
    rules_text = ", ".join(f"{n} {v}" if v else n for n, v in rules)
    policy_text = f"{policy[0]} {policy[1] or ''}".strip() if policy else "none"
    if per_policy and len(per_policy) > 1:  # the first alone read as the only one (review 86)
        policy_text = f"{policy_text} and {len(per_policy) - 1} more, each counted below"
    out.write(paint("dim", f"rules: {safe(rules_text or 'none')}; policy: {safe(policy_text)}") + "\n")
    if quick:
        out.write(paint("review", QUICK_NOTE) + "\n")
    if older:
        out.write(paint("review", older) + "\n")
    tail = f"{', ' + plural(skipped, 'file') + ' skipped' if skipped is not None else ''}"
    errors = paint('errors', plural(counts['errors'], 'error'))
    if counts.get("warnings"):  # inputs read with warnings only (a listing past its cap): not errors
        errors += ", " + paint("review", plural(counts["warnings"], "input") + " with warnings")
    if per_policy is None:
        out.write(f"{counts['total']} inputs: {_counted(counts, paint)}, {errors}{tail}\n")
        return
    out.write(f"{counts['total']} inputs: {errors}{tail}; apps per policy:\n")  # counts differ by measure
    for name, c in per_policy.items():
        out.write(f"  {safe(name)}: {_counted(c, paint)}\n")
    out.write(f"  most severe of each app: {_counted(counts, paint)}\n")


def render_allowed(doc: dict, out: TextIO, *, color: bool = False) -> bool:
    """The summary of a scan's own document (``ScanResult.to_dict()``) that lists nothing: every
    app allowed under every policy without a tamper indicator, no error, nothing skipped, not interrupted. :func:`render`
    would write its footer alone, and that is written here from the few fields it reads, without
    typing the document (the typed document and the views cost a one-APK ``scan`` ~25 ms of
    imports). False, nothing written, for any other document or field: :func:`render` says it.
    Never for a saved document: those are hostile and read only through ``ScanDocument``."""
    apps, names, version = doc.get("apps"), _policy_names(doc), doc.get("schema_version")
    if type(version) is not str or version.partition(".")[2] in ("0", "1"):  # 1.0/1.1: render() adds a note
        return False
    if (names is None or type(apps) is not list or doc.get("interrupted") is not False or doc.get("errors") != []
            or doc.get("skipped") != [] or not all(_all_allowed(a, names) for a in apps)):
        return False
    rules, policy = _pack_versions(doc.get("rules")), _policy_line(doc.get("policy"))
    if rules is None or policy is False:
        return False
    caveats = _caveats(doc)
    if caveats is None:
        return False
    counts = {"prohibited": 0, "review": 0, "allowed": len(apps), "errors": 0, "total": len(apps)}
    per_policy = {n: {"prohibited": 0, "review": 0, "allowed": len(apps)} for n in names} if len(names) > 1 else None
    options = doc.get("options")
    _footer(out, _Paint(color), rules, policy, counts, None, per_policy, caveats,
            type(options) is dict and bool(options.get("quick")))
    return True


def _caveats(doc: dict) -> list[Caveat] | None:
    """``policy_view.uncertain`` of the dict; None: a field of another type."""
    from apkscan.report import caveats

    out = []
    for p in doc.get("policies") or [doc.get("policy")]:
        if p is None or type(p) is str:  # no policy, or a 1.0 document's name alone
            continue
        texts = caveats.items(p.get("uncertain")) if type(p) is dict else None
        if texts is None or (texts and type(p.get("name")) is not str):
            return None
        if texts:
            out.append((p["name"], *caveats.shown(texts)))
    return out


def _text(value: Any) -> bool:
    return value is None or type(value) is str


def _policy_names(doc: dict) -> list[str] | None:
    """``ScanDocument.policy_names()`` of the dict; None: a field of another type."""
    policies, one = doc.get("policies", []), doc.get("policy")
    if type(policies) is not list or not all(type(p) is dict and _text(p.get("name")) for p in policies):
        return None
    names = [p["name"] for p in policies if p.get("name")]
    if names:
        return list(dict.fromkeys(names))
    if type(one) is dict:
        one = one.get("name")
    return [one or "policy"] if _text(one) else None


def _all_allowed(app: Any, names: list[str]) -> bool:
    """Allowed under every policy, and no tamper indicator (:func:`render` lists those)."""
    verdicts = app.get("verdicts") if type(app) is dict else None
    identity = app.get("identity") if type(app) is dict else None
    return (type(verdicts) is dict and app.get("verdict") == "allowed"
            and type(identity) is dict and identity.get("tamper") == []
            and all(type(verdicts.get(n)) is dict and verdicts[n].get("verdict") == "allowed" for n in names))


def _pack_versions(rules: Any) -> list[tuple[str, str | None]] | None:
    """``view.meta``'s (pack, version) list of the dict; None: a field of another type."""
    if rules is None:
        return []
    packs = rules.get("packs", []) if type(rules) is dict else None
    if type(packs) is not list or not all(type(p) is dict and type(p.get("name")) is str and _text(p.get("version"))
                                          for p in packs):
        return None
    return [(p["name"], p.get("version")) for p in packs]


def _policy_line(pol: Any) -> tuple[str, str | None] | None | bool:
    """``view.meta``'s (policy, version) of the dict; False: a field of another type."""
    if type(pol) is dict:
        name, title, version = pol.get("name"), pol.get("title"), pol.get("version")
        if not (_text(name) and _text(title) and _text(version)):
            return False
        return (f"{name or 'policy'}: {title}" if title else name or "policy"), version
    return False if not _text(pol) else (pol, None) if pol else None


def _counted(c: dict[str, int], paint: _Paint) -> str:
    return (f"{paint('prohibited', str(c['prohibited']) + ' prohibited')}, "
            f"{paint('review', str(c['review']) + ' to review')}, "
            f"{paint('allowed', str(c['allowed']) + ' allowed')}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def signer_text(a: view.AppRow) -> str:
    """Who verifiably signed it; a debug key, an unverified certificate and a device's record
    (:attr:`view.AppRow.recorded_shown`: never read as verified) are said so."""
    if a.publisher:
        return a.publisher_shown + (" [debug key]" if a.signer_debug else "")
    if a.present_publisher:  # a bundle's is its upload key: never the key devices see
        return f"{'upload key, ' if a.app_bundle else ''}unverified: {a.present_shown}"
    return a.recorded_shown or "unverified"


def strength_text(a: view.AppRow) -> str:
    """``strong (subject-present)``: the strength with what the decisive finding matched on, as
    the HTML and CSV say it (a claim and a verified key must not read the same)."""
    return (a.strength or "-") + (f" ({', '.join(a.basis)})" if a.basis else "")


def _table(rows: list[view.AppRow], out: TextIO, paint: _Paint, cols: int, verdict_heads: list[str]) -> None:
    """One line per flagged app when it fits, else two (verdicts, kind, strength, file; then
    package, signer and the label in quotes, indented). Verdicts (one column per policy), kind
    and strength are never cut (they are the reading); the rest is cut with a visible ``…`` (a
    path from the left: its end tells files apart). The package and signer come before the label,
    a free text: a label printing another app's name, package and publisher, padded with spaces,
    took the whole second line and pushed the app's own package and signer past the cut (review
    46 #1)."""
    from apkscan.report.lookalike import note, noted  # not at import: ``inspect`` needs safe() only

    k = len(verdict_heads)
    verdicts = [[pv.verdict for pv in a.verdicts][:k] or [a.verdict] for a in rows]
    verdicts = [v + ["-"] * (k - len(v)) for v in verdicts]
    # every cell escaped: a saved document given to ``report`` is hostile, its finding kinds too;
    # a name's look-alike characters noted after it (review 82 F5), but on the second line the
    # label's note comes before the label, so a long label cannot push it past the cut
    cells = [(*v, safe("+".join(a.kinds) or "-"), safe(strength_text(a)), safe(noted(a.file) + (" [app bundle]" if a.app_bundle else "")),
              safe(a.package_shown or "-"), safe(signer_text(a)), safe(a.label_shown or "(no label)"))
             for a, v in zip(rows, verdicts)]
    label_notes = [safe(note(a.label)) for a in rows]
    head = (*verdict_heads, "KIND", "STRENGTH", "FILE", "PACKAGE", "SIGNER", "LABEL")
    # columns align up to ALIGN_MAX; a longer cell overflows its row (never padded into every
    # row: one hostile 100k-character label must not multiply the output)
    widths = [max(width(h), *(min(width(c[i]), ALIGN_MAX) for c in cells)) for i, h in enumerate(head)]
    one_line = sum(widths) + len(widths) - 1 <= cols and (cols >= UNLIMITED or all(
        width(c[i]) <= widths[i] for c in cells for i in range(len(head))))
    fixed = k + 2  # verdicts, kind, strength: never cut; FILE is column ``fixed``
    if not one_line:  # the file takes what is left on line 1; line 2 is cut at the end
        widths[fixed] = max(12, min(widths[fixed], cols - sum(widths[:fixed]) - fixed))
    shown = head if one_line else head[:fixed + 1]
    out.write(paint("bold", " ".join(pad(h, w) for h, w in zip(shown, widths)).rstrip()) + "\n")
    if not one_line:
        out.write(paint("bold", fit("  PACKAGE · SIGNER · “LABEL”", cols).rstrip()) + "\n")
    for c, label_note in zip(cells, label_notes):
        first = [paint(c[i], pad(c[i], widths[i])) for i in range(k)] + [pad(c[i], widths[i]) for i in (k, k + 1)]
        if one_line:  # nothing is cut: it fits, or the output is not a terminal
            first += [pad(c[i], widths[i]) for i in range(fixed, len(head))]
        else:
            first.append(fit_left(c[fixed], widths[fixed]))
        out.write(" ".join(first).rstrip() + "\n")
        if not one_line:
            package, signer, label = c[fixed + 1:]
            label = label[:len(label) - len(label_note)]
            out.write(fit(f"  {package} · {signer} ·{label_note} “{label}”", cols).rstrip() + "\n")


def pad(text: str, cols: int) -> str:
    """Pad to ``cols`` display columns; longer text is left whole (never cut)."""
    return text + " " * max(0, cols - width(text))


def fit_left(text: str, cols: int) -> str:
    """Like :func:`fit` but cuts the start (``…/b/base.apk``): a path's end tells files apart."""
    if width(text) <= cols:
        return text + " " * (cols - width(text))
    out, w = [], 0
    for c in reversed(text):
        if w + width(c) > cols - 1:
            break
        out.append(c)
        w += width(c)
    return fit("…" + "".join(reversed(out)), cols)


def _terminal_columns(out: TextIO) -> int:
    """The terminal's width; unlimited for a pipe or a log, where a cut helps nobody."""
    isatty = getattr(out, "isatty", None)
    if not (isatty and isatty()):
        return UNLIMITED
    try:
        return max(80, os.get_terminal_size(out.fileno()).columns)
    except (OSError, AttributeError, ValueError):
        return 100
