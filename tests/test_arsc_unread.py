"""Review 37 R2-1: a resources.arsc over the 32 MiB cap (or a deflated one declaring more) dropped
the label with no mark: a label-only Kaspersky app came out ``allowed``, ``complete: true``, exit 0,
and ``MANIFEST_ARSC_MISSING`` said the table was missing. Now the ``resources`` part of
``completeness`` is ``not read`` (why: the cap's code), the cap is an input error, the app is
matched on what was read and reported partly scanned (exit 3), and the batch goes on."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from cli_helpers import invoke
from test_match_strength import gen  # noqa: F401

from apkscan.apk.identify import MAX_ARSC, identify

PAD = MAX_ARSC + (1 << 20)  # one well-formed unknown top-level chunk takes the table past the cap


def _kav(gen, tmp_path: Path, name: str, pad: int = 0, method: int | None = None) -> Path:  # noqa: F811
    """"Kaspersky VPN" as the label, through resources.arsc only (package com.example.vpn),
    signed v1+v2+v3 with test-rsa; ``pad`` bytes of an unknown chunk appended to the table
    (Android's LoadedArsc skips it; aapt reads the label)."""
    unsigned = gen.build_unsigned(gen.App("com.example.vpn", None, label_locales={"": "Kaspersky VPN"}))
    src = zipfile.ZipFile(io.BytesIO(unsigned))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "resources.arsc" and pad:
                body = body + struct.pack("<HHI", 0x7777, 8, pad) + bytes(pad - 8)
            if info.filename == "resources.arsc" and method is not None:
                info.compress_type = method
            out.writestr(info, body)
    work = tmp_path / f"work-{name}"
    work.mkdir()
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(gen.sign(buf.getvalue(), work, ["test-rsa"], v1=True, v2=True, v3=True, min_sdk=21))
    return path


@pytest.fixture
def twins(gen, tmp_path):  # noqa: F811
    return _kav(gen, tmp_path, "small.apk"), _kav(gen, tmp_path, "big.apk", pad=PAD, method=zipfile.ZIP_STORED)


def test_aapt_reads_the_label_of_the_padded_table(twins):
    """What Android's tools do with such a file: it verifies and aapt shows the label."""
    big = twins[1]
    assert subprocess.run(["apksigner", "verify", str(big)], capture_output=True).returncode == 0
    badging = subprocess.run(["aapt", "dump", "badging", str(big)], capture_output=True, text=True).stdout
    assert "application-label:'Kaspersky VPN'" in badging


def test_identify_says_the_table_was_not_read_and_why(twins):
    small, big = (identify(p) for p in twins)
    assert small.completeness.complete and small.manifest.label == "Kaspersky VPN"
    c = big.completeness
    assert c.state["resources"] == "not read" and c.why["resources"] == "ZIP_ENTRY_TOO_LARGE"
    assert not c.complete and c.has("manifest") and c.has("signatures") and big.verified
    assert [i.code for i in big.errors] == ["ZIP_ENTRY_TOO_LARGE"] and big.warnings == []
    doc = big.to_dict()
    assert {i["code"]: i["severity"] for i in doc["errors"]} == {"ZIP_ENTRY_TOO_LARGE": "error"}
    (note,) = [w for w in doc["warnings"] if w["code"] == "MANIFEST_ARSC_NOT_READ"]
    assert "present but was not read" in note["message"] and "ZIP_ENTRY_TOO_LARGE" in note["message"]
    assert "MANIFEST_ARSC_MISSING" not in json.dumps(doc)


def test_scan_reports_the_padded_twin_partly_scanned_and_goes_on(twins, tmp_path):
    small, big = twins
    out = tmp_path / "scan.json"
    res = invoke("scan", "--no-store", "--no-color", "--json", out, big, small)
    assert res.exit_code == 3, res.output
    doc = json.loads(out.read_text())
    by = {Path(a["source"]["path"]).name: a for a in doc["apps"]}
    assert by["small.apk"]["verdict"] == "review"
    assert any(f["rule"] == "kaspersky.label" for f in by["small.apk"]["findings"])
    assert by["big.apk"]["identity"]["completeness"]["complete"] is False
    assert [(Path(e["source"]["path"]).name, e["code"]) for e in doc["errors"]] == [("big.apk", "ZIP_ENTRY_TOO_LARGE")]
    assert doc["counts"]["total"] == 2 and doc["counts"]["errors"] == 1


def test_a_deflated_table_declaring_more_than_the_cap_is_the_same_partial_scan(gen, tmp_path):  # noqa: F811
    bomb = _kav(gen, tmp_path, "bomb.apk", pad=PAD, method=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1 << 20  # a few KB on disk
    alone = invoke("scan", "--no-store", "--no-color", "--fail-on", "review", bomb)
    assert alone.exit_code == 3, alone.output  # never the quiet 0 of an "allowed", complete app


def test_a_table_that_does_not_inflate_is_not_read_either(gen, tmp_path):  # noqa: F811
    """Corrupt deflate data in resources.arsc: the same partial outcome, with the inflate code."""
    apk = _kav(gen, tmp_path, "ok.apk", method=zipfile.ZIP_DEFLATED)
    data = bytearray(apk.read_bytes())
    info = zipfile.ZipFile(apk).getinfo("resources.arsc")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 2] = b"\xff\xff"  # BTYPE=11: invalid deflate block
    broken = tmp_path / "in" / "broken.apk"
    broken.write_bytes(bytes(data))
    identity = identify(broken)
    assert identity.completeness.state["resources"] == "not read"
    assert identity.completeness.why["resources"] == "ZIP_ENTRY_INFLATE_FAILED"
    assert "ZIP_ENTRY_INFLATE_FAILED" in [i.code for i in identity.errors]


def test_no_table_at_all_is_read_as_android_reads_it(gen, tmp_path):  # noqa: F811
    """An APK without resources.arsc: nothing to resolve, Android neither; the part is read."""
    work = tmp_path / "w"
    work.mkdir()
    apk = tmp_path / "plain.apk"
    apk.write_bytes(gen.sign(gen.build_unsigned(gen.App("com.example.plain", "Plain")), work, ["test-rsa"],
                             v1=True, v2=True, v3=True, min_sdk=21))
    identity = identify(apk)
    assert identity.completeness.state["resources"] == "read" and identity.completeness.complete
