"""Self-contained HTML report: one file that opens from a mail attachment, offline.

Why this shape: the reader is a compliance officer on an air-gapped laptop, so the
file carries its CSS and a little JS inline, loads nothing, and pins both with a
Content-Security-Policy of hashes (no ``unsafe-inline``): even if hostile APK text
slipped past escaping, an injected script or style could not run. Jinja2 autoescape
is on for every template; APK-derived text is only ever passed as data.
The table works without JS (all rows, ``<details>`` for the per-app detail); JS only
adds sorting, filtering, search and copy.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TextIO

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from apkscan.document import ScanDocument
from apkscan.document.tally import per_policy
from apkscan.report import policy_view, view
from apkscan.report.escape import visible
from apkscan.report.lookalike import describe, marked_chars, marks, note, noted

_BAR_WIDTH = 260  # px of the longest bar in the inline SVG charts


@dataclass(slots=True)
class Bar:
    label: str
    segments: list[tuple[str, int, int, int]]  # (css class, count, x, width)
    total: int


def _visible(value: object) -> object:
    """Every text a template prints, before autoescaping: bidi controls and invisible characters
    as escapes (labels and packages are hostile). Markup (our CSS and JS) is ours: as it is."""
    if type(value) is str:
        return visible(value)
    return value


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_visible,
    )
    env.filters["short"] = short_hash
    env.filters["marked"] = marked
    env.filters["noted"] = noted  # a title attribute holds no <mark>: the name with its note (review 82 F5)
    env.tests["web_url"] = is_web_url
    env.globals["finding_verdicts"] = policy_view.finding_verdicts  # a finding's typed per-policy verdicts
    return env


def marked(value: object, limit: int | None = None) -> Markup:
    """A name from an APK as HTML: escaped as every text is (:func:`_visible`, autoescape), each
    character that passes for another script's letter in a ``<mark>`` whose title names it, and
    a note after it listing them (:mod:`apkscan.report.lookalike`, review 82 F5). ``limit``: cut
    as ``truncate(limit, true, "…", 0)`` cuts; the marks are found in the whole name."""
    text = "" if value is None else str(value)
    cut = limit is not None and len(text) > limit
    shown = text[:limit - 1] if cut else text
    end = "…" if cut else ""
    at = marks(text)
    if not at:
        return escape(visible(shown)) + end
    out, last = [], 0
    for i in (i for i in at if i < len(shown)):
        out.append(escape(visible(shown[last:i])))
        out.append(Markup('<mark class="lookalike" title="{}">{}</mark>').format(describe(text[i]), text[i]))
        last = i + 1
    out.append(escape(visible(shown[last:])) + end)
    whole = "; ".join(describe(c) for c in marked_chars(text))
    out.append(Markup(' <span class="lookalike-note" title="{}">{}</span>').format(whole, note(text).strip()))
    return Markup("").join(out)


def short_hash(value: str | None, keep: int = 12) -> str:
    if not value:
        return ""
    return value if len(value) <= keep + 4 else f"{value[:keep]}…"


def is_web_url(value: object) -> bool:
    """Only http(s) and mailto become links; anything else (``javascript:``...) stays text."""
    return isinstance(value, str) and value.lower().startswith(("https://", "http://", "mailto:"))


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str, str]:
    """CSS, JS and the CSP that allows exactly those two inline blocks and nothing else."""
    env = _env()
    css = env.get_template("report.css.j2").render()
    js = env.get_template("report.js.j2").render()
    csp = ("default-src 'none'; "
           f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return css, js, csp


def _bars(rows: dict[str, Counter], keep_order: bool = False) -> list[Bar]:
    """Horizontal stacked bars (one per key, segments per verdict), scaled to the max."""
    biggest = max((sum(c.values()) for c in rows.values()), default=0) or 1
    bars = []
    items = rows.items() if keep_order else sorted(
        rows.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    for label, counter in items:
        x, segments = 0, []
        for verdict in (*view.VERDICTS, "unknown"):
            n = counter.get(verdict, 0)
            if n:
                w = max(2, round(n * _BAR_WIDTH / biggest))
                segments.append((verdict, n, x, w))
                x += w
        bars.append(Bar(label, segments, sum(counter.values())))
    return bars


def _containers(apps: list[view.AppRow], errors: list[view.ErrorRow]) -> list[dict]:
    """Per-source section: apps grouped by outermost input (device backup, archive, bundle, a
    device's package listing), counted by their most severe verdict over the scan's policies, and
    every failed input's errors on its row, so the rows' errors add up to the errors tile.

    APKs given directly (no container, read from their own file) that scanned are not listed: one
    row per APK says nothing. A backup that could not be opened at all, a listing's apps and an
    APK that failed have rows (review 69 F2: a device whose pull failed read as absent)."""
    by: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return by.setdefault(name, {"name": name, "total": 0, "flagged": [], "counts": Counter(), "errors": 0})

    for a in apps:
        if a.container is None and a.sha256 is not None:  # an APK file given or met by itself
            continue
        e = entry(a.outermost or a.container or a.source)
        e["total"] += 1
        e["counts"][a.worst] += 1  # several policies: the most severe (one policy: its verdict)
        if a.flagged:
            e["flagged"].append(a)
    for err in errors:
        if err.severity == "error":  # as the tiles count them
            entry(err.outermost or err.container or err.source)["errors"] += 1
    return sorted(by.values(), key=lambda e: (-len(e["flagged"]), -e["errors"], e["name"]))


def _columns(policies: list[str]) -> list[tuple[str, str]]:
    """The apps table's (header, sort kind): one verdict column per policy when several."""
    verdicts = [(name, "num") for name in policies] if len(policies) > 1 else [("Verdict", "num")]
    return [("Label", "text"), ("Package", "text"), ("Version", "text"), ("Publisher", "text"),
            ("Signing cert SHA-256", "text"), *verdicts, ("Kind", "text"), ("Strength", "num"),
            ("File", "text"), ("Vendors", "text")]


def context(doc: ScanDocument | dict) -> dict:
    doc = ScanDocument.of(doc)
    apps = view.apps(doc)
    errors = view.errors(doc)
    per_vendor: dict[str, Counter] = {}
    for a in apps:
        for f in a.findings:
            per_vendor.setdefault(f.vendor or "unknown", Counter())[a.worst] += 1
    counts = view.counts(apps, errors)
    per_verdict = {v: Counter({v: counts.get(v, 0)}) for v in view.VERDICTS}
    css, js, csp = _assets()
    meta = view.meta(doc)
    return {
        "meta": meta,
        "policies": policy_view.policy_metas(doc),  # several: a verdict column and filter per policy
        "policy_counts": per_policy(doc),  # counts_by_policy, as the JSON says it
        "columns": _columns(meta.policies),
        "apps": apps,
        "errors": errors,
        "counts": counts,
        "vendors": sorted({v for a in apps for v in a.vendors}),
        "vendor_bars": _bars(per_vendor),
        "verdict_bars": _bars(per_verdict, keep_order=True),
        "bar_width": _BAR_WIDTH,
        "containers": _containers(apps, errors),
        "skipped": view.skipped(doc),
        "input_files": view.input_files(doc),
        "custody_store": doc.options.get("store") is True,
        "quick": doc.quick,  # --quick: no content digest checked, nothing verified (review 86 F3)
        "css": css,
        "js": js,
        "csp": csp,
    }


def render(doc: ScanDocument | dict, out: TextIO) -> None:
    """Write the HTML report for a scan document (typed, or its JSON: checked first) to ``out``, streaming."""
    template = _env().get_template("report.html.j2")
    out.writelines(template.generate(**context(doc)))
