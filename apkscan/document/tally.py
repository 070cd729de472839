"""What a scan document counts, computed from its apps as the scan computed it (review 86 F1).

Why computed, never read: ``counts``, ``counts_by_policy`` and each app's ``verdict_worst`` are
what a pipeline gates on, and ``--fail-on`` reads the apps' ``verdicts``. An edited document
must not show a count or a most severe verdict its exit code contradicts, so the counts are
recomputed when a document is read (``report --json`` writes them back) and a ``verdict_worst``
that is not the most severe of the app's verdicts is refused (``DOCUMENT_MALFORMED``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from apkscan.document.codec import MALFORMED, DocumentError
from apkscan.ranks import tally_by_policy, worst_of

if TYPE_CHECKING:
    from apkscan.document.scan_document import App, ScanDocument


def app_worst(app: App) -> str:
    """The most severe of the app's verdicts under every policy it states (1.0/1.1: ``verdict``),
    the very entries ``--fail-on LEVEL`` reads."""
    return worst_of(e.verdict for e in app.verdicts.values()) if app.verdicts else app.verdict


def check_worst(doc: ScanDocument) -> None:
    """An app's ``verdict_worst``, where the document states one (null too), is the most severe
    of its verdicts; a document without the field (before 1.3) is read as computed."""
    for i, app in enumerate(doc.apps):
        stated = app._keys is not None and "verdict_worst" in app._keys
        if (stated or app.verdict_worst is not None) and app.verdict_worst != app_worst(app):
            raise DocumentError(MALFORMED, f"{app.verdict_worst!r} is not the most severe of the app's verdicts "
                                           f"({app_worst(app)!r})", ("apps", str(i), "verdict_worst"))


def recounted(doc: ScanDocument) -> tuple[dict[str, int] | None, dict[str, dict[str, int]] | None]:
    """``(counts, counts_by_policy)`` as the scan writes them, for the fields the document has
    (None: it has not that field, and stays without). ``counts``: apps by their most severe
    verdict, input errors, inputs and skipped files; a key this apkscan does not compute (a later
    1.x) is kept, a count an older writer left out added only when not 0. ``counts_by_policy``:
    replaced whole (a policy the apps give no verdict under is no count)."""
    counts = by_policy = None
    if doc.counts:
        computed: dict[str, int] = {"prohibited": 0, "review": 0, "allowed": 0}
        for app in doc.apps:
            worst = app_worst(app)
            computed[worst] = computed.get(worst, 0) + 1
        # a partial scan's error is its app's (one input); a text file's warnings beside the apps
        # it lists, or a record's contradiction, are inputs of their own: told by the flag, not the place
        computed.update(errors=len(doc.errors), total=len(doc.apps) + sum(not e.partial for e in doc.errors),
                        skipped=sum(s.count for s in doc.skipped))
        counts = dict(doc.counts)
        counts.update((k, v) for k, v in computed.items() if k in counts or v)
    if doc._keys is not None and "counts_by_policy" in doc._keys:
        first = doc.first_policy()
        by_policy = tally_by_policy((a.verdict_names(first) for a in doc.apps), doc.policy_names())
    return counts, by_policy


def per_policy(doc: ScanDocument) -> Mapping[str, Mapping[str, int]]:
    """``counts_by_policy`` of any document, stated or not (1.2 and older: computed)."""
    return tally_by_policy((a.verdict_names(doc.first_policy()) for a in doc.apps), doc.policy_names())


def read_as(version: str) -> str:
    """The schema version a document of ``version`` is read as, and ``report --json`` writes it as
    (:func:`as_1_3`): 1.2 as 1.3, any other as itself. The HTML names both (review 90)."""
    return "1.3" if re.fullmatch(r"1\.2", version) else version


def as_1_3(doc: ScanDocument) -> ScanDocument:
    """A schema 1.2 document as the 1.3 document it reads as, for ``report --json`` to write: its
    ``counts`` are recomputed by each app's most severe verdict (:func:`recounted`), which is 1.3's
    meaning, so it says 1.3 and carries what 1.3 adds beside them, each app's ``verdict_worst`` and
    ``counts_by_policy``, computed from the same ``verdicts`` (review 89). Nothing else differs
    between 1.2 and 1.3. Any other version is returned as it is: 1.3 and later already mean this,
    and a 1.0/1.1 document holds one policy's verdicts, whose most severe is that policy's."""
    if read_as(doc.schema_version) == doc.schema_version:
        return doc
    apps = tuple(dataclasses.replace(a, verdict_worst=app_worst(a), _keys=_after(a._keys, "verdict_worst", "verdict"))
                 for a in doc.apps)
    keys = _after(doc._keys, "counts_by_policy", "counts" if doc._keys and "counts" in doc._keys else "policies")
    return dataclasses.replace(doc, schema_version="1.3", apps=apps, counts_by_policy=per_policy(doc), _keys=keys)


def _after(keys: tuple[str, ...] | None, key: str, anchor: str) -> tuple[str, ...] | None:
    """``keys`` (a record's key order as read) with ``key`` after ``anchor`` (else last); None stays None."""
    if keys is None or key in keys:
        return keys
    at = keys.index(anchor) + 1 if anchor in keys else len(keys)
    return (*keys[:at], key, *keys[at:])
