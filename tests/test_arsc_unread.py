"""Review 37 R2-1: a resources.arsc over the 32 MiB cap (or a deflated one declaring more) dropped
the label with no mark: a label-only Kaspersky app came out ``allowed``, ``complete: true``, exit 0,
and ``MANIFEST_ARSC_MISSING`` said the table was missing.

Now a table over the cap is streamed, not held, and read without its top-level chunks of unknown
type (Android skips them; aapt shows the label of such a file): the padded twin is ``review`` like
the small one, with a tamper fact. A table whose string pool and packages alone pass the cap (or
that is no table) is not read: the ``resources`` part of ``completeness`` is ``not read`` (why: the
cap's code), an input error, the app matched on the rest and reported partly scanned (exit 3)."""

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


def _kav(gen, tmp_path: Path, name: str, pad: int = 0, method: int | None = None, kind: int = 0x7777) -> Path:  # noqa: F811
    """"Kaspersky VPN" as the label, through resources.arsc only (package com.example.vpn),
    signed v1+v2+v3 with test-rsa; ``pad`` bytes of a top-level chunk of type ``kind`` appended to
    the table (unknown: Android's LoadedArsc skips it, a second string pool: ignored; aapt reads
    the label either way), and the table's size field grown to hold it."""
    unsigned = gen.build_unsigned(gen.App("com.example.vpn", None, label_locales={"": "Kaspersky VPN"}))
    src = zipfile.ZipFile(io.BytesIO(unsigned))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "resources.arsc" and pad:
                header = 28 if kind == 0x0001 else 8  # a string pool of no strings, then zeros
                body = body + struct.pack("<HHI", kind, header, pad) + bytes(pad - 8)
                body = body[:4] + struct.pack("<I", len(body)) + body[8:]
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


def _aapt_label(path: Path) -> str | None:
    badging = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, text=True).stdout
    return next((line.split("'")[1] for line in badging.splitlines() if line.startswith("application-label:")), None)


def test_the_padded_table_is_read_as_aapt_reads_it(twins):
    """What Android's tools do with such a file: it verifies and aapt shows the label; so do we."""
    small, big = twins
    assert subprocess.run(["apksigner", "verify", str(big)], capture_output=True).returncode == 0
    assert _aapt_label(big) == _aapt_label(small) == "Kaspersky VPN"
    identity = identify(big)
    assert identity.manifest.label == "Kaspersky VPN" and identity.completeness.complete and identity.verified
    assert identity.errors == [] and identity.completeness.state["resources"] == "read"
    (fact,) = [t for t in identity.tamper if t.code == "TAMPER_ARSC_UNKNOWN_CHUNKS"]
    assert f"the other {PAD} are" in fact.message


def test_scan_finds_the_label_of_the_padded_twin(twins, tmp_path):
    small, big = twins
    out = tmp_path / "scan.json"
    res = invoke("scan", "--no-store", "--no-color", "--fail-on", "review", "--json", out, big, small)
    assert res.exit_code == 1, res.output
    doc = json.loads(out.read_text())
    for app in doc["apps"]:
        assert app["verdict"] == "review" and any(f["rule"] == "kaspersky.label" for f in app["findings"])
    assert doc["errors"] == []


def test_a_deflated_padded_table_is_streamed_not_held(gen, tmp_path):  # noqa: F811
    bomb = _kav(gen, tmp_path, "bomb.apk", pad=PAD, method=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1 << 20  # a few KB on disk, 33 MiB declared
    identity = identify(bomb)
    assert identity.manifest.label == "Kaspersky VPN" and identity.completeness.complete


def test_a_second_string_pool_past_the_cap_is_left_out_as_android_ignores_it(gen, tmp_path):  # noqa: F811
    """A second string pool of 33 MiB: Android's LoadedArsc ("Multiple RES_STRING_POOL_TYPEs
    found"), aapt and androguard use the first; so does the cut-down table, and the label is read
    (review 41 F4: it was ``resources: not read``, exit 3, the label's ``review`` lost)."""
    big = _kav(gen, tmp_path, "pool.apk", pad=PAD, method=zipfile.ZIP_DEFLATED, kind=0x0001)
    assert _aapt_label(big) == "Kaspersky VPN"
    identity = identify(big)
    assert identity.manifest.label == "Kaspersky VPN" and identity.completeness.complete and identity.errors == []
    (fact,) = [t for t in identity.tamper if t.code == "TAMPER_ARSC_UNKNOWN_CHUNKS"]
    assert "string pools after the first" in fact.message
    res = invoke("scan", "--no-store", "--no-color", "--fail-on", "review", "--json", tmp_path / "s.json", big)
    assert res.exit_code == 1 and json.loads((tmp_path / "s.json").read_text())["apps"][0]["verdict"] == "review"


def test_a_table_whose_pools_alone_pass_the_cap_is_not_read_and_the_app_partly_scanned(gen, tmp_path):  # noqa: F811
    """A package chunk of 33 MiB (a chunk no reader may leave out): the table is over the cap: an
    input error that says why, ``resources: not read``, matched on the rest, exit 3 (never the quiet
    ``allowed`` of a complete app), the batch goes on."""
    big = _kav(gen, tmp_path, "pool.apk", pad=PAD, method=zipfile.ZIP_DEFLATED, kind=0x0200)
    identity = identify(big)
    assert "its string pool and packages take more than" in identity.errors[0].message
    c = identity.completeness
    assert c.state["resources"] == "not read" and c.why["resources"] == "ZIP_ENTRY_TOO_LARGE"
    assert not c.complete and c.has("manifest") and c.has("signatures") and identity.verified
    assert [i.code for i in identity.errors] == ["ZIP_ENTRY_TOO_LARGE"] and identity.warnings == []
    doc = identity.to_dict()
    assert {i["code"]: i["severity"] for i in doc["errors"]} == {"ZIP_ENTRY_TOO_LARGE": "error"}
    (note,) = [w for w in doc["warnings"] if w["code"] == "MANIFEST_ARSC_NOT_READ"]
    assert "present but was not read" in note["message"] and "ZIP_ENTRY_TOO_LARGE" in note["message"]
    assert "MANIFEST_ARSC_MISSING" not in json.dumps(doc)
    small = _kav(gen, tmp_path, "small.apk")
    out = tmp_path / "scan.json"
    res = invoke("scan", "--no-store", "--no-color", "--json", out, big, small)
    assert res.exit_code == 3, res.output
    scan = json.loads(out.read_text())
    by = {Path(a["source"]["path"]).name: a for a in scan["apps"]}
    assert by["small.apk"]["verdict"] == "review"
    assert by["pool.apk"]["identity"]["completeness"]["complete"] is False
    assert [(Path(e["source"]["path"]).name, e["code"]) for e in scan["errors"]] == [("pool.apk", "ZIP_ENTRY_TOO_LARGE")]
    assert scan["counts"]["total"] == 2 and scan["counts"]["errors"] == 1
    alone = invoke("scan", "--no-store", "--no-color", "--fail-on", "review", big)
    assert alone.exit_code == 3, alone.output


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


def test_padding_after_the_table_is_read_as_aapt_reads_it(gen, tmp_path):  # noqa: F811
    """The review's own builder: the padding chunk after the table's declared size (bytes no
    reader looks at), the entry stored, 33 MiB on disk."""
    unsigned = gen.build_unsigned(gen.App("com.example.vpn", None, label_locales={"": "Kaspersky VPN"}))
    src, buf = zipfile.ZipFile(io.BytesIO(unsigned)), io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "resources.arsc":
                body += struct.pack("<HHI", 0x7777, 8, PAD) + bytes(PAD - 8)
            out.writestr(info, body)
    work = tmp_path / "w"
    work.mkdir()
    apk = tmp_path / "after.apk"
    apk.write_bytes(gen.sign(buf.getvalue(), work, ["test-rsa"], v1=True, v2=True, v3=True, min_sdk=21))
    identity = identify(apk)
    assert identity.manifest.label == _aapt_label(apk) == "Kaspersky VPN" and identity.completeness.complete
    assert "TAMPER_ARSC_UNKNOWN_CHUNKS" in [t.code for t in identity.tamper]


def _pieces(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def test_the_streamed_table_answers_as_the_whole_one_and_never_raises(gen):  # noqa: F811
    """Cut down in any piece size, the table answers the label's resource as the whole table does
    (both readers); hostile streams (truncated, bad chunk headers, a flood of tiny chunks, random
    bytes) give a table or ``Uncut`` with its reason, never another exception, never more than the budget."""
    import random

    import arsc_writer

    from apkscan.apk.manifest.arsc import ArscTable
    from apkscan.apk.manifest.arsc_android import (MAX_SKIPPED_CHUNKS, MAX_TOP_CHUNKS, AndroidArsc, Uncut,
                                                   without_unknown_chunks)

    table = arsc_writer.string_table("com.example.vpn", {"app_name": {"": "Kaspersky VPN", "fr": "VPN K"}})
    label = arsc_writer.resource_id(0)
    unknown = struct.pack("<HHI", 0x7777, 8, 64) + bytes(56)
    padded = table[:8] + table[8:] + unknown
    padded = padded[:4] + struct.pack("<I", len(padded)) + padded[8:]
    for size in (1, 3, 8, 4096):
        cut = without_unknown_chunks(_pieces(padded + b"trailing", size), 1 << 20)
        assert cut == table
        assert AndroidArsc.open(cut).resolve(label) == AndroidArsc.open(padded).resolve(label)
        assert ArscTable.open(cut).resolve(label) == ArscTable.open(padded).resolve(label)

    def uncut(blob: bytes, piece: int, budget: int = 1 << 20) -> str:
        with pytest.raises(Uncut) as info:
            without_unknown_chunks(_pieces(blob, piece), budget)
        return str(info.value)

    assert "take more than" in uncut(table, 7, len(table) - 1)  # over the budget
    assert "ends before" in uncut(padded[:-10], 5)  # truncated

    def flood(kind: int, count: int) -> bytes:
        return struct.pack("<HHI", 0x0002, 12, 12 + 8 * count) + bytes(4) + struct.pack("<HHI", kind, 8, 8) * count

    # empty chunks Android skips cost no kept-chunk cap (review 41 F4 "many": aapt reads past 5,000)
    assert without_unknown_chunks(_pieces(flood(0x7777, MAX_TOP_CHUNKS + 1), 4096), 1 << 20) == flood(0x7777, 0)
    assert f"more than {MAX_SKIPPED_CHUNKS} top-level chunks" in uncut(flood(0x7777, MAX_SKIPPED_CHUNKS + 1), 1 << 16)
    assert f"more than {MAX_TOP_CHUNKS} string pools and packages" in uncut(flood(0x0200, MAX_TOP_CHUNKS + 1), 4096)
    rng = random.Random(37)
    for _ in range(500):
        data = bytearray(padded)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        blob = bytes(data) if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 200))
        try:
            out = without_unknown_chunks(_pieces(blob, rng.randint(1, 64)), 1 << 12)
        except Uncut:
            continue
        assert len(out) <= 1 << 12
