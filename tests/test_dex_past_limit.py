"""Review 32 #4: ``--deep`` called loaded DEX files past the limit "not loaded by Android", and
a partial scan (an app and its input error) was counted as two inputs."""

from __future__ import annotations

from test_match_strength import SDK_CLASS, _app, _scan, _with_dex, gen  # noqa: F401


def test_dex_past_the_limit_are_loaded_not_not_loaded(gen, tmp_path, monkeypatch):  # noqa: F811
    """classes.dex .. classes5.dex with a limit of 2: classes3-5 are loaded files the pass did not
    read (DEX_LIMIT_EXCEEDED names them), never DEX_NOT_LOADED; classes9.dex (a gap) is. The
    one APK is one input (an app and its error), the next input is scanned."""
    from test_dex_bounds import _dex

    from apkscan.rules import dex as dexmod

    monkeypatch.setattr(dexmod, "MAX_DEX_FILES", 2)
    plain = _dex([b"Lcom/example/Main;"], [0])
    dex = [("classes.dex", plain), *[(f"classes{n}.dex", plain) for n in (2, 3, 4)],
           ("classes5.dex", _dex([SDK_CLASS], [0])), ("classes9.dex", plain)]
    many = _with_dex(gen, tmp_path / "in" / "many.apk", dex)
    few = _with_dex(gen, tmp_path / "in" / "few.apk", [("classes.dex", plain), ("classes2.dex", _dex([SDK_CLASS], [0]))])
    rc, doc = _scan(tmp_path, "--deep", many, few, "--policy", "us-no-tiktok-gov-devices-2022")
    app = _app(doc, "many.apk")
    warnings = {w["code"]: w["message"] for w in app["warnings"]}
    assert "classes9.dex" in warnings["DEX_NOT_LOADED"] and "classes5.dex" not in warnings["DEX_NOT_LOADED"]
    assert warnings["DEX_NOT_LOADED"].startswith("1 classes")
    assert "5 DEX files" in warnings["DEX_LIMIT_EXCEEDED"] and "classes3.dex" in warnings["DEX_LIMIT_EXCEEDED"]
    assert app["identity"]["completeness"]["dex"] == "not read"
    assert [e["code"] for e in doc["errors"]] == ["DEX_LIMIT_EXCEEDED"]
    assert doc["counts"]["total"] == 2 and doc["counts"]["errors"] == 1 and rc == 3
    assert _app(doc, "few.apk")["verdict"] == "review"
    # the document read back (report, diff) and every view count it the same way
    from apkscan.document import ScanDocument
    from apkscan.report import view

    typed = ScanDocument.from_dict(doc)
    assert typed.counts["total"] == 2
    assert view.counts(view.apps(typed), view.errors(typed))["total"] == 2


def test_terminal_counts_a_partial_scan_once(gen, tmp_path, monkeypatch):  # noqa: F811
    from cli_helpers import invoke
    from test_dex_bounds import _dex

    from apkscan.rules import dex as dexmod

    monkeypatch.setattr(dexmod, "MAX_DEX_FILES", 1)
    plain = _dex([b"Lcom/example/Main;"], [0])
    apk = _with_dex(gen, tmp_path / "in" / "two.apk", [("classes.dex", plain), ("classes2.dex", plain)])
    res = invoke("scan", "--no-store", "--no-color", "--deep", apk)
    assert res.exit_code == 3 and "1 inputs:" in res.output, res.output
    # its only issue, DEX_LIMIT_EXCEEDED, is a warning: named so, counted apart from errors (exit 3 kept)
    assert "0 errors, 1 input with warnings" in res.output and "\nwarning " in "\n" + res.output, res.output
