"""Every ``verdicts`` object of a scan document is keyed by exactly the document's policies (review 87 F4).

Why: ``--fail-on``, ``verdict_worst``, the counts and the CSV read each app's ``verdicts``. An
edit that deleted one policy's entry (and ``verdict_worst``), renamed its key
(``'canada-tbs-2023 '``) or dropped ``verdicts`` whole took a prohibited verdict out of all of
them, while the app's finding still said prohibited under that policy: ``report --fail-on
prohibited`` exited 0. A scan writes one entry per policy in every app, finding and split, so any
other set of keys is an edit and the document is refused (``DOCUMENT_MALFORMED``).

A 1.2+ document with apps names its policies: every 1.2+ writer writes at least one (``--policy``
defaults to canada-tbs-2023 and takes no empty value). Deleting ``policies`` with every
``verdicts`` made a 1.3 document be read as one policy's, the first's (review 88 F1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from apkscan.document.codec import MALFORMED, DocumentError

if TYPE_CHECKING:
    from apkscan.document.scan_document import App, ScanDocument

SHOWN = 64  # characters of a name quoted in a message (a key may be a megabyte long)


def check_policy_keys(doc: ScanDocument) -> None:
    """The policies are the names ``policies`` states; a 1.0/1.1 document states none and is held
    to the first app that has ``verdicts`` (a 1.2+ one with apps is refused: :func:`_check_named`).
    Where there are policies, every app, finding, split and split finding has a verdict under each
    of them and no other; where there are none (1.0/1.1), nothing has ``verdicts``: a finding never
    states a policy its app does not."""
    _check_named(doc)
    named = [p.name for p in doc.policies if p.name is not None]
    stated = next((a.verdicts for a in doc.apps if a.verdicts), None)
    names = list(dict.fromkeys(named)) if named else list(stated or ())
    for i, app in enumerate(doc.apps):
        _app(app, names, ("apps", str(i)))


def one_policy_schema(version: str) -> bool:
    """1.0 and 1.1 predate ``policies`` and ``verdicts``: such a document holds one policy's verdicts."""
    found = re.fullmatch(r"[0-9]+\.([0-9]+)", version)
    return found is not None and int(found.group(1)) < 2


def _check_named(doc: ScanDocument) -> None:
    """A 1.2+ document with apps states its policies, each by name (review 88 F1): without them the
    keys would be taken from the apps, and an app with no ``verdicts`` read as a 1.1 app, judged by
    its first policy's ``verdict`` alone. (No apps: no verdict a policy key could hide.)"""
    if one_policy_schema(doc.schema_version) or not doc.apps:
        return
    if not doc.policies:
        raise DocumentError(MALFORMED, f"no policies in a schema {doc.schema_version} document (a scan "
                                       "always names at least one)", ("policies",))
    nameless = next((i for i, p in enumerate(doc.policies) if not p.name), None)
    if nameless is not None:
        raise DocumentError(MALFORMED, "a policy without a name", ("policies", str(nameless), "name"))


def _app(app: App, names: list[str], at: tuple[str, ...]) -> None:
    _same(app.verdicts, names, (*at, "verdicts"))
    for j, f in enumerate(app.findings):
        _same(f.verdicts, names, (*at, "findings", str(j), "verdicts"))
    for k, s in enumerate(app.splits):
        _same(s.verdicts, names, (*at, "splits", str(k), "verdicts"))
        for j, f in enumerate(s.findings):
            _same(f.verdicts, names, (*at, "splits", str(k), "findings", str(j), "verdicts"))


def _same(verdicts: Mapping[str, object], names: list[str], path: tuple[str, ...]) -> None:
    """Refused, naming the key or the object, unless ``verdicts`` is keyed by exactly ``names``."""
    if len(verdicts) == len(names) and all(n in verdicts for n in names):
        return
    if not names:
        raise DocumentError(MALFORMED, "verdicts in a document that states no policy", path)
    stray = next((k for k in verdicts if k not in names), None)
    if stray is not None:
        raise DocumentError(MALFORMED, f"{_quoted(stray)} is not one of the document's policies "
                                       f"({_listed(names)})", (*path, stray))
    missing = next(n for n in names if n not in verdicts)
    raise DocumentError(MALFORMED, f"no verdict under {_quoted(missing)}, one of the document's policies "
                                   f"({_listed(names)})", path)


def _quoted(name: str) -> str:
    return repr(name[:SHOWN]) + ("…" if len(name) > SHOWN else "")


def _listed(names: list[str]) -> str:
    shown = ", ".join(_quoted(n) for n in names[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")
