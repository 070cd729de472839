"""A scan document whose verdicts contradict what decided them is refused (review 64 F5).

The forgery: rewrite an app's ``verdict`` (and ``verdicts``) to ``allowed``, leave its deciding
``policy`` and its prohibited findings. ``diff`` then showed "new, allowed
(tbs-2023-10-wechat)" and exited 0, ``report --fail-on prohibited`` exited 0. Documents come
from a real scan of the shipped fixtures; the documents apkscan writes still load (one and two
policies, ``--quick``, device records and an allow-list decision).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main
from apkscan.document import DocumentError, ScanDocument
from cli_helpers import fixture

POLICY = "canada-tbs-2023"
TIKTOK_KEY = "43e833fb53c7d6db514720387e4f60cae3b81b17c356a29c5306b12f6818d5c1"  # fixtures' bytedance-like


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    base = tmp_path_factory.mktemp("decided")
    out = {}
    for name, extra in (("one", ()), ("two", ("--policy", "canada-house-of-commons-2023")), ("quick", ("--quick",))):
        path = base / f"{name}.json"
        res = CliRunner().invoke(main, ["scan", str(fixture("clean-v1v2v3.apk")), str(fixture("wechat-tencent-subject.apk")),
                                        str(fixture("tiktok-bytedance-subject.apk")), "--no-store", "--quiet",
                                        "--policy", POLICY, *extra, "--json", str(path)])
        assert res.exit_code == 1, res.output
        out[name] = json.loads(path.read_text())
    path = base / "records.json"
    backups = fixture("clean-v1v2v3.apk").parents[1] / "backups"
    res = CliRunner().invoke(main, ["scan", str(backups / "androidqf"), str(backups / "adb-v5-compressed.ab"),
                                    str(fixture("tiktok-bytedance-subject.apk")), "--no-store", "--quiet",
                                    "--allow", f"com.zhiliaoapp.musically:{TIKTOK_KEY}", "--json", str(path)])
    assert res.exit_code in (0, 1), res.output
    out["records"] = json.loads(path.read_text())
    out["_dir"] = base
    return out


def _wechat(doc: dict, package: str = "com.tencent.mm") -> tuple[int, dict]:
    return next((i, a) for i, a in enumerate(doc["apps"]) if a["package"] == package)


def _refused(doc: dict) -> DocumentError:
    with pytest.raises(DocumentError) as exc:
        ScanDocument.from_dict(doc)
    assert exc.value.code == "DOCUMENT_MALFORMED"
    return exc.value


def test_allowed_over_a_prohibiting_decision_is_refused_naming_the_field(docs, tmp_path):
    for name in ("one", "two", "quick", "records"):  # what apkscan writes loads
        ScanDocument.from_dict(docs[name])
    origins = {a["identity"]["origin"] for a in docs["records"]["apps"]}
    decisions = {e["decision"] for a in docs["records"]["apps"] for e in a["verdicts"].values()}
    assert "recorded" in origins and "allow-list" in decisions
    doc = copy.deepcopy(docs["one"])
    i, app = _wechat(doc)
    assert app["policy"]["verdict"] == "prohibited" and app["findings"]
    app["verdict"] = "allowed"
    for entry in app["verdicts"].values():
        entry["verdict"] = "allowed"
    assert f"apps/{i}/verdict" in str(_refused(doc))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["report", str(forged), "--fail-on", "prohibited"])
    assert res.exit_code == 2 and "DOCUMENT_MALFORMED" in res.output
    genuine = tmp_path / "genuine.json"
    genuine.write_text(json.dumps(docs["one"]))
    res = CliRunner().invoke(main, ["diff", str(genuine), str(forged)])
    assert res.exit_code == 2 and f"apps/{i}/verdict" in res.output


def test_the_decision_rewritten_too_is_refused_by_the_findings(docs):
    """Also ``policy.verdict`` edited: the app's prohibited findings still say otherwise, per policy."""
    doc = copy.deepcopy(docs["two"])
    i, app = _wechat(doc)
    app["verdict"] = app["policy"]["verdict"] = "allowed"
    app["verdicts"][POLICY]["verdict"] = "allowed"
    assert f"apps/{i}/verdicts/{POLICY}/verdict" in str(_refused(doc))
    doc = copy.deepcopy(docs["two"])
    i, app = _wechat(doc, "com.zhiliaoapp.musically")
    later = "canada-house-of-commons-2023"
    app["verdicts"][later]["verdict"] = "allowed"  # a later policy's verdict alone
    assert app["findings"][0]["verdicts"][later]["verdict"] == "prohibited"
    assert f"apps/{i}/verdicts/{later}/verdict" in str(_refused(doc))
    # the allow-list decides the app whatever its findings say (README: package + verified key)
    doc = copy.deepcopy(docs["one"])
    _, app = _wechat(doc)
    allow = {"policy": POLICY, "decision": "allow-list", "verdict": "allowed", "text": "", "authority": "",
             "date": None, "url": None, "urls": [], "certificate": app["identity"]["signers"][0]["sha256"]}
    app["verdict"], app["policy"] = "allowed", allow
    app["verdicts"][POLICY] = {**allow, "verdict": "allowed"}
    app["verdict_worst"] = "allowed"  # as a scan with that allow-list writes it (review 86 F1: checked too)
    ScanDocument.from_dict(doc)


def test_verdicts_stripped_to_look_like_an_older_document_are_still_checked(docs):
    doc = copy.deepcopy(docs["one"])
    i, app = _wechat(doc)
    app["verdict"] = app["policy"]["verdict"] = "allowed"
    del app["verdicts"]
    for f in app["findings"]:
        del f["verdicts"]
    assert f"apps/{i}/verdict" in str(_refused(doc))
