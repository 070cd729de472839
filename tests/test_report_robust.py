"""Any JSON given as a scan document: a coded refusal (``DOCUMENT_*``, naming the field) or a
full render, never a traceback or a silently blank report.

``apkscan report`` reads documents from elsewhere. ``ScanDocument.from_dict`` checks every
field once, so a renderer either gets a typed document or never runs.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkscan.document import DocumentError, ScanDocument
from apkscan.issue_codes import CODES
from apkscan.report import csv_report, html, sarif, terminal

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["source", "label", "package", "verdict", "findings", "identity",
                         "schemes", "signers", "certificates_present", "lineage", "evidence",
                         "subject_attrs", "sha256", "policy", "rule", "vendor", "strength",
                         "container", "tamper", "errors", "packs", "rules", "O", "CN", "v1",
                         "certificate", "code", "message", "x", "verdicts", "decision", "name",
                         "canada-tbs-2023"]), inner, max_size=5),
    max_leaves=25)

documents = st.fixed_dictionaries({}, optional={
    "schema_version": st.sampled_from(["1.0", "1.2", "2.0", "x"]) | json_values, "tool": json_values,
    "rules": json_values, "policy": json_values, "policies": json_values, "inputs": json_values,
    "started_at": json_values, "apps": st.lists(json_values, max_size=4), "errors": st.lists(json_values, max_size=3)})


def _render_all(doc) -> None:
    for render in (html.render, sarif.render, csv_report.render):
        out = io.StringIO()
        render(doc, out)
        assert out.getvalue()
    terminal.render(doc, io.StringIO(), color=True)
    json.dumps(sarif.document(doc))


def _loads_or_refuses(doc) -> ScanDocument | None:
    """The typed document, or None after checking the refusal is coded and registered."""
    try:
        typed = ScanDocument.from_dict(doc)
    except DocumentError as exc:
        assert exc.code in CODES and exc.code.startswith("DOCUMENT_")
        assert str(exc).isprintable(), str(exc)  # it reaches a terminal (review 68 F6)
        with pytest.raises(DocumentError):  # a renderer given the same JSON refuses it the same way
            html.render(doc, io.StringIO())
        return None
    assert typed.to_dict() == doc
    _render_all(typed)
    return typed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_is_refused_with_a_code_or_renders(doc):
    _loads_or_refuses(doc)


def _paths(value, path=()):
    """Every (path, value) inside a JSON value, containers included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _paths(v, (*path, k))


@pytest.fixture(scope="module")
def real_document() -> dict:
    from test_report_doc import pipeline_document
    return pipeline_document()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(pick=st.integers(min_value=0), replacement=json_values)
def test_one_field_of_a_real_document_replaced_by_anything(real_document, pick, replacement):
    """Built to fool the reader: one value anywhere in a real pipeline document swapped for
    arbitrary JSON. Either the type still fits and every format renders, or the refusal names
    exactly the field that was changed (or one inside it)."""
    doc = json.loads(json.dumps(real_document))  # not deepcopy: to_dict() shares subject_attrs dicts
    paths = [p for p, _ in _paths(doc) if p]
    path = paths[pick % len(paths)]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = replacement
    try:
        typed = ScanDocument.from_dict(doc)
    except DocumentError as exc:
        if path == ("schema_version",):
            assert exc.code in ("DOCUMENT_NOT_A_SCAN", "DOCUMENT_VERSION_UNSUPPORTED")
            return
        assert exc.code == "DOCUMENT_MALFORMED"
        changed = [str(p) for p in path]
        if _contradiction(exc, changed):
            return  # the verdict/verdicts check names where the two fields disagree, not what was changed
        assert list(exc.path[:len(changed)]) == changed or list(exc.path) == changed[:len(exc.path)], (exc, path)
        return
    if path[0] == "counts":  # recomputed from apps, errors and skipped whatever the file says (review 22 #6)
        got = typed.to_dict().get("counts") or {}
        assert all(got[k] == v for k, v in real_document["counts"].items() if k in got), (path, got)
        doc["counts"] = got
    elif path[0] == "counts_by_policy":  # recomputed from the apps' verdicts, replaced whole (review 86 F1)
        got = typed.to_dict()["counts_by_policy"]
        assert got == real_document["counts_by_policy"], (path, got)
        doc["counts_by_policy"] = got
    elif path[0] in ("apps", "errors", "skipped"):  # the counts follow the lists they count
        for key in ("counts", "counts_by_policy"):  # (a whole ``errors`` swapped for [])
            if key in doc:
                doc[key] = typed.to_dict().get(key, doc[key])
    assert typed.to_dict() == doc
    _render_all(typed)


def _contradiction(exc: DocumentError, changed: list[str]) -> bool:
    """The refusal of an app whose ``verdict`` and first-policy ``verdicts`` entry disagree, after a
    change to one of them or to the policies that name the first policy; or whose ``verdict_worst``
    is no longer the most severe of its ``verdicts`` after a change to them (review 86 F1)."""
    where = [str(p) for p in exc.path]
    if where[:1] == ["apps"] and where[2:] == ["verdict_worst"]:
        return changed[:2] == where[:2] and changed[2:3] in (["verdict"], ["verdicts"])
    if where[:1] != ["apps"] or "verdicts" not in where:
        return False
    return changed[0] in ("policies", "policy") or (changed[:2] == where[:2] and changed[2:3] in (["verdict"], ["verdicts"]))


@pytest.mark.parametrize("doc, code, where", [
    ({}, "DOCUMENT_NOT_A_SCAN", ""),
    ([], "DOCUMENT_NOT_A_SCAN", ""),
    ({"schema_version": "2.0", "apps": [], "errors": []}, "DOCUMENT_VERSION_UNSUPPORTED", ""),
    ({"schema_version": "1.x", "apps": [], "errors": []}, "DOCUMENT_VERSION_UNSUPPORTED", ""),
    ({"schema_version": "1.0", "apps": [], "errors": []}, None, None),  # the oldest 1.x loads
    ({"schema_version": "1.2", "apps": None, "errors": []}, "DOCUMENT_MALFORMED", "apps"),
    ({"schema_version": "1.2", "errors": []}, "DOCUMENT_MALFORMED", ""),
    ({"schema_version": "1.2", "apps": [None], "errors": []}, "DOCUMENT_MALFORMED", "apps/0"),
    ({"schema_version": "1.2", "apps": [], "errors": [], "rules": {"packs": [None]}}, "DOCUMENT_MALFORMED", "rules/packs/0"),
    ({"schema_version": "1.2", "apps": [], "errors": [], "policy": 3}, "DOCUMENT_MALFORMED", "policy"),
    ({"schema_version": "1.2", "apps": [], "errors": [{"source": "x", "code": 5}]}, "DOCUMENT_MALFORMED", "errors/0/code"),
    ({"schema_version": "1.2", "apps": [], "errors": [], "interrupted": 1}, "DOCUMENT_MALFORMED", "interrupted"),
])
def test_known_awkward_shapes_are_refused_with_code_and_path(doc, code, where):
    if code is None:
        assert ScanDocument.from_dict(doc).to_dict() == doc
        return
    with pytest.raises(DocumentError) as err:
        ScanDocument.from_dict(doc)
    assert err.value.code == code and "/".join(err.value.path) == where


def test_a_wrong_field_deep_inside_names_its_path(real_document):
    doc = json.loads(json.dumps(real_document))
    doc["apps"][1]["identity"]["signers"][0]["key_size"] = "2048"  # a string where a number belongs
    with pytest.raises(DocumentError) as err:
        ScanDocument.from_dict(doc)
    assert str(err.value) == ("DOCUMENT_MALFORMED: apps/1/identity/signers/0/key_size: "
                              "expected integer or null, found string")
    doc["apps"][1]["identity"]["signers"][0]["key_size"] = True  # JSON true is not a number either
    with pytest.raises(DocumentError, match="expected integer or null, found boolean"):
        ScanDocument.from_dict(doc)


def test_only_web_urls_become_links():
    from test_report_doc import sample_document
    doc = sample_document()
    doc["apps"][0]["policy"] = {"text": "ban", "url": "javascript:alert(1)"}
    doc["policy"]["url"] = "JaVaScRiPt:alert(2)"
    out = io.StringIO()
    html.render(doc, out)
    page = out.getvalue()
    assert 'href="javascript' not in page.lower()
    assert "javascript:alert(1)" in page  # still shown, as text
    assert 'href="https://intranet.example/policies/review"' in page


@pytest.mark.parametrize("content", [b"[" * 100000, b"\xff\xfe{", b"{not json", b"null",
                                     b'{"schema_version": ' + b"9" * 5000 + b"}"])  # past int's 4,300 digits
def test_report_command_refuses_non_documents_with_a_code(tmp_path, content):
    """``apkscan report`` on bytes that are no JSON document (a nesting bomb too): exit 2, a code, no traceback."""
    from click.testing import CliRunner

    from apkscan.cli import main

    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    res = CliRunner().invoke(main, ["report", str(bad), "--html", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "DOCUMENT_NOT_A_SCAN" in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "r.html").exists()


def test_a_hostile_key_in_the_error_path_is_printed_inert(real_document):
    """The path names document keys (policy names): escape and bidi characters are shown escaped."""
    doc = json.loads(json.dumps(real_document))
    evil = "x\x1b[2J\u202eevil"
    doc["apps"][0]["verdicts"] = {evil: {"verdict": "banned", "decision": None}}
    with pytest.raises(DocumentError) as err:
        ScanDocument.from_dict(doc)
    text = str(err.value)
    assert "\x1b" not in text and "\u202e" not in text
    assert text.startswith("DOCUMENT_MALFORMED: apps/0/verdicts/x\\u001b[2J\\u202eevil/verdict: expected one of")
    assert err.value.path[3] == evil  # the raw key stays available to code


def test_messages_say_what_the_field_takes(real_document):
    """A union's message names the alternatives, or the error of the alternative of the value's kind."""
    doc = json.loads(json.dumps(real_document))
    doc["apps"][0]["findings"][0]["verdict"] = "banned"  # Verdict | None: the literal's own message
    with pytest.raises(DocumentError, match=r"apps/0/findings/0/verdict: expected one of allowed, prohibited, "
                                            r"review, found 'banned'"):
        ScanDocument.from_dict(doc)
    doc = json.loads(json.dumps(real_document))
    doc["apps"][0]["source"] = 5  # Source | str (1.0 gave a string)
    with pytest.raises(DocumentError, match=r"apps/0/source: expected object or string, found integer$"):
        ScanDocument.from_dict(doc)


def test_keys_named_like_the_records_internals_are_plain_unknown_fields(real_document):
    """``_keys``/``_extra``/``__class__`` in a document are data, never the record's own slots."""
    doc = json.loads(json.dumps(real_document))
    doc["_keys"], doc["_extra"], doc["apps"][0]["__class__"] = ["apps"], {"x": 1}, "App"
    typed = ScanDocument.from_dict(doc)
    assert typed.to_dict() == doc and len(typed.apps) == len(doc["apps"])
    assert type(typed.apps[0]).__name__ == "App" and typed._extra["_keys"] == ["apps"]


def test_report_command_says_a_refusal_once(tmp_path, real_document):
    """A malformed document's refusal is one line with its code and field path (it was printed
    twice, as ``error:`` and as a codeless ``Error:``: review 64's leftover)."""
    from click.testing import CliRunner

    from apkscan.cli import main

    doc = json.loads(json.dumps(real_document))
    doc["apps"][0]["verdict"] = "banned"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["report", str(bad), "--html", str(tmp_path / "r.html")])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "DOCUMENT_MALFORMED: apps/0/verdict" in lines[0] and str(bad) in lines[0]


ESCAPES = "1.2\x1b]0;apkscan: OK\x07\x1b[2J\x1b[H0 prohibited\u202e\x1b[8m"


@pytest.mark.parametrize("field", ["schema_version", "scheme"])
def test_a_refusal_quoting_the_document_prints_no_escape_sequence(tmp_path, field):
    """Review 68 F6: a hostile ``schema_version`` (or a scheme's name) was quoted raw in the
    refusal line of ``report`` and ``diff``: on a terminal it cleared the screen, showed a fake
    summary and hid the real error. Both commands, through the real CLI."""
    from cli_helpers import run, scanned_document

    path, doc = scanned_document(tmp_path)
    if field == "schema_version":
        doc["schema_version"] = ESCAPES
    else:
        ident = doc["apps"][0]["identity"]
        ident["schemes"] = {ESCAPES: {**next(iter(ident["schemes"].values())), "verified": True, "signature_only": True}}
    path.write_text(json.dumps(doc))
    for args in (["report", path, "--json", tmp_path / "r.json"], ["diff", path, path]):
        res = run(*args)
        assert res.returncode == 2, res.stderr
        assert "\x1b" not in res.stderr and "\x07" not in res.stderr and "\u202e" not in res.stderr, res.stderr
        assert ("\\x1b" in res.stderr or "\\u001b" in res.stderr) and ("DOCUMENT_VERSION_UNSUPPORTED" if field == "schema_version"
                                             else "DOCUMENT_MALFORMED") in res.stderr, res.stderr
