"""Text read two ways after a change of encoding mid-text (review 40 F5, review 44 F1-F3).

A package's field can print a line of NULs that reads as UTF-16 into an 8-bit ``dumpsys`` capture,
and crafted UTF-16 characters are bytes that read as 8-bit ``package:`` lines: which reading is
right is not guessed. From the first change on the text is read as the decoder reads it and as
8-bit text; a package either names is listed, and ``TEXT_READ_TWO_WAYS`` says where. Each case is
one of review 44's ``build44.py`` (or review 40's ``switch16``), built here.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest

# UTF-16LE characters whose raw bytes read "\x15\npackage:" and "\npackage:X" (review 44 F1)
CRAFT = "\u0a15\u6170\u6b63\u6761\u3a65"
CRAFT2 = "\u700a\u6361\u616b\u6567\u583a"
PRE = b"package:com.example.cmd\n"  # cmd's > first; PowerShell 5's >> appends UTF-16LE
U16 = "".join(c + "\x00" for c in "abcdefghijklmnopqrstuvwxyz" * 8)  # 8-bit text that reads as UTF-16LE


def _block(pkg: str, h: str, version: str = "1.0", extra: str = "") -> str:
    return (f"  Package [{pkg}] ({h}):\n    userId=10201\n    codePath=/data/app/{pkg}-1\n"
            f"    versionCode=1 minSdk=21 targetSdk=33\n    versionName={version}\n{extra}"
            f"    signatures=PackageSignatures{{9f8e7d6 version:2, signatures:[9020fca7], past signatures:[]}}\n")


def _dumpsys(decoys=(), decoy_extra: str = "", wechat: bool = True) -> str:
    body = "".join(_block(f"com.example.decoy{i}", "1a1a1a1", v) for i, v in enumerate(decoys))
    return ("Activity Resolver Table:\n  Full MIME Types:\n  Non-Data Actions:\n\nPackages:\n" + body
            + _block("com.example.last", "1a1a1a1", "1.0", decoy_extra)
            + (_block("com.tencent.mm", "a1b2c3d", "8.0.49") if wechat else "")
            + _block("com.android.shell", "1111111", "13")
            + "\nHidden system packages:\n  Package [com.google.android.hidden] (2222222):\n    versionCode=1\n")


def _edge(shift: int) -> bytes:
    """Review 44 edgew_<shift>: the decoy MIME type in com.example.last's block, then padding that
    puts WeChat's '\\n  Package [' across the 64 KiB chunk edge."""
    base = _dumpsys(decoy_extra="    mime=" + U16 + "\n" + "PAD")
    at = base.replace("PAD", "").index("\n  Package [com.tencent.mm")
    text = base.replace("PAD", "    x=" + "y" * (65536 - shift - at - 7) + "\n")
    assert text.index("\n  Package [com.tencent.mm") == 65536 - shift
    return text.encode()


def _lst(names) -> str:
    return "".join(f"package:{n}\n" for n in names)


BOM = codecs.BOM_UTF16_LE
CASES = {
    "switch16": _dumpsys(decoy_extra="    mime=" + U16 + "\n").encode(),  # review 40 F5
    "switch16v": _dumpsys(["1.0" + U16]).encode(),
    **{f"edgew_{s}": _edge(s) for s in (1, 5, 11)},
    **{f"ps_{name}_{t}": PRE + b + _dumpsys(decoys).encode("utf-16-le")
       for name, decoys in (("onex", [(CRAFT + "x") * 70]), ("many", [CRAFT] * 70), ("many2", [CRAFT2] * 70))
       for t, b in (("bom", BOM), ("nobom", b""))},
    "alt_honest_a": _lst(["com.a1"]).encode() + _lst(["com.b1", "com.b2"]).encode("utf-16-le")
    + _lst(["com.c1", "com.tencent.mm"]).encode(),
    "alt_honest_b": _lst(["com.a1"]).encode() + _lst(["com.b1"]).encode("utf-16-le") + _lst(["com.c1"]).encode()
    + _lst(["com.d1", "com.tencent.mm"]).encode("utf-16-le"),
    "alt_honest_c": _lst(["com.a1"]).encode() + BOM + _lst(["com.b1"]).encode("utf-16-le") + _lst(["com.c1"]).encode()
    + BOM + _lst(["com.d1", "com.tencent.mm"]).encode("utf-16-le"),
}
TWO_WAYS = {"switch16", "switch16v", "edgew_1", "edgew_5", "edgew_11", "ps_many2_bom", "ps_many2_nobom",
            "ps_onex_bom", "ps_onex_nobom", "ps_many_bom", "ps_many_nobom", "alt_honest_a", "alt_honest_b",
            "alt_honest_c"}  # all of them: crafted marks in the 8-bit reading are said too


def _scan(scan_path, tmp_path: Path, data: bytes) -> dict:
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / "dumpsys.txt").write_bytes(data)
    (folder / "after.txt").write_bytes(b"package:com.example.after\n")  # the batch goes on
    return scan_path(folder)


def _issues(doc: dict) -> list[dict]:
    return [i for e in doc["errors"] for i in e["errors"]]


@pytest.mark.parametrize("case", sorted(CASES))
def test_wechat_is_prohibited_whichever_reading_names_it(scan_path, tmp_path, case):
    doc = _scan(scan_path, tmp_path, CASES[case])
    verdicts = {a["package"]: a["verdict"] for a in doc["apps"]}
    assert verdicts.get("com.tencent.mm") == "prohibited", (verdicts, _issues(doc))  # before: missing, unnamed
    assert "com.example.after" in verdicts
    two = [i for i in _issues(doc) if i["code"] == "TEXT_READ_TWO_WAYS"]
    assert len(two) == (case in TWO_WAYS) and all("read two ways from byte " in i["message"] for i in two)
    assert not any("not read" in i["message"] for i in _issues(doc))  # 8-bit marks are read, not only counted
    if case.startswith(("switch", "edgew")):
        assert {"com.android.shell", "com.google.android.hidden"} <= set(verdicts)
    if case.startswith("alt_honest"):
        assert "com.c1" in verdicts  # review 44 F3: the first 8-bit line after UTF-16 (its LF's NUL) is read


@pytest.mark.parametrize("bom", [b"", BOM], ids=["nobom", "bom"])
def test_a_crafted_field_that_reads_as_a_package_line_lists_it_weakly_and_hides_nothing(scan_path, tmp_path, bom):
    data = PRE + bom + _dumpsys([CRAFT2] * 70).encode("utf-16-le")
    doc = _scan(scan_path, tmp_path, data)
    by = {a["package"]: a for a in doc["apps"]}
    assert by["com.tencent.mm"]["verdict"] == "prohibited" and "X" in by  # X: a claim, named, said
    [two] = [i for i in _issues(doc) if i["code"] == "TEXT_READ_TWO_WAYS"]
    assert f"from byte {len(PRE)}" in two["message"] and "1 packages named only by another reading" in two["message"]
    from apkscan.sources.text_evidence import TextEvidenceReader
    [x] = [e for e in TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries() if getattr(e, "package", "") == "X"]
    assert x.note == f"named only when the text is read as 8-bit text from byte {len(PRE)}"
    assert len([a for a in by if a.startswith("com.example.decoy")]) == 70


@pytest.mark.parametrize("data", [
    _dumpsys().encode(), PRE + _dumpsys().encode("utf-16-le"), PRE + BOM + _dumpsys().encode("utf-16-le"),
    BOM + _dumpsys().encode("utf-16-le"), PRE + BOM + _lst(["com.p1", "com.tencent.mm"]).encode("utf-16-le"),
    PRE + _lst(["com.p1", "com.tencent.mm"]).encode("utf-16-le"), PRE + ("\r\n" + _dumpsys()).encode("utf-16-le"),
    PRE + BOM + ("\r\n" + _dumpsys()).encode("utf-16-le")],
    ids=["utf8", "ps-append", "ps-append-bom", "ps-whole", "ps-list-bom", "ps-list", "ps-blank-first",
         "ps-blank-first-bom"])
def test_plain_captures_read_one_way_as_before(scan_path, tmp_path, data):
    doc = _scan(scan_path, tmp_path, data)
    assert {a["package"]: a["verdict"] for a in doc["apps"]}.get("com.tencent.mm") == "prohibited"
    assert _issues(doc) == []


def test_round_trips_spend_no_budget_a_later_line_needs():
    """5,000 alternations of an 8-bit 'package:' line and a line of NULs reading as UTF-16 (review 44
    alt5000): every package named, WeChat last; and one crafted versionName per decoy repeated 70
    times in a real UTF-16 capture never starts a second decoder."""
    from apkscan.sources.text_encodings import Transcoder
    from apkscan.sources.text_evidence import TextEvidenceReader

    alt = b"".join(b"package:com.example.a%d\n" % i + U16.encode() + b"\n" for i in range(5000))
    entries = list(TextEvidenceReader(io.BytesIO(alt + b"package:com.tencent.mm\n"), ("t.txt",)).entries())
    named = {getattr(e, "package", None) for e in entries}
    assert "com.tencent.mm" in named and len({n for n in named if n and n.startswith("com.example.a")}) == 5000
    t = Transcoder("utf-8")
    data = PRE + _dumpsys([(CRAFT + "x") * 70] * 70).encode("utf-16-le")
    out = b"".join(t.feed(data[i:i + 65536]) for i in range(0, len(data), 65536)) + t.feed(b"", final=True)
    assert t.forked_at == len(PRE) and len(t.starts) == 1 and b"package [com.tencent.mm]" in out.lower()


def _other_alignment(text: str) -> str:
    """Characters whose UTF-16LE bytes, read one byte on, are ``text`` (ASCII) in UTF-16LE."""
    return "".join(chr(ord(ch) << 8) for ch in text)


@pytest.mark.parametrize("bom", [b"", BOM], ids=["nobom", "bom"])
def test_crafted_fields_reading_as_the_other_alignment_hide_nothing(scan_path, tmp_path, bom):
    """Decoys in a real PowerShell capture whose versionNames are listing lines one byte off, or
    U+0000 floods: at most one more decoder starts (both alignments then read), no budget another
    reading needs is spent, WeChat's block after them is read."""
    from apkscan.sources.text_encodings import Transcoder

    decoys = [_other_alignment("\npackage:com.evil.a\n  Package [com.evil.b] (1):\n") * 4, "\0" * 300] * 40
    data = PRE + bom + _dumpsys(decoys).encode("utf-16-le")
    doc = _scan(scan_path, tmp_path, data)
    verdicts = {a["package"]: a["verdict"] for a in doc["apps"]}
    assert verdicts.get("com.tencent.mm") == "prohibited" and "com.android.shell" in verdicts
    assert len([p for p in verdicts if p.startswith("com.example.decoy")]) == 80
    t = Transcoder("utf-8")
    for i in range(0, len(data), 4096):
        t.feed(data[i:i + 4096])
    t.feed(b"", final=True)
    assert 1 <= len(t.starts) <= 2


@pytest.mark.parametrize("case", ["switch16v", "edgew_5", "alt_honest_b", "alt_honest_c", "ps_many2_nobom"])
@pytest.mark.parametrize("chunk", [7, 1000, 65536])
def test_what_is_read_does_not_depend_on_where_chunks_end(monkeypatch, case, chunk):
    from apkscan.sources import text_evidence
    from apkscan.sources.text_evidence import TextEvidenceReader

    def named(size: int) -> set[str]:
        monkeypatch.setattr(text_evidence, "CHUNK", size)
        return {e.package for e in TextEvidenceReader(io.BytesIO(CASES[case]), ("t.txt",)).entries()
                if hasattr(e, "package")}

    assert named(chunk) == named(1 << 20) and "com.tencent.mm" in named(chunk)


def test_any_mix_of_encodings_keeps_the_8bit_reading_whole_and_the_decoders_few():
    """Random appends in UTF-8, UTF-16/32 of both byte orders, BOM or not, at any alignment, fed in
    random chunks: the 8-bit reading gets every byte once, at most MAX_DECODERS decoders start."""
    import random

    from apkscan.sources.text_encodings import MAX_DECODERS, Transcoder

    rng = random.Random(44)
    encodings = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
    for _ in range(40):
        parts = []
        for _ in range(rng.randint(1, 60)):
            enc = rng.choice(encodings)
            text = "".join(f"package:com.p{rng.randint(0, 99)}\n" for _ in range(rng.randint(1, 5)))
            bom = codecs.BOM_UTF16_LE if enc == "utf-16-le" and rng.random() < 0.3 else b""
            parts.append(b"x" * rng.randint(0, 3) + bom + text.encode(enc) + bytes([0xFE, 0xFF][:rng.randint(0, 2)]))
        data = b"".join(parts)
        t, whole, at = Transcoder("utf-8"), [], 0
        while at <= len(data):
            size = rng.randint(1, 9000)
            t.feed(data[at:at + size], final=at + size > len(data))
            whole.append(t.outputs[1] if t.starts else t.outputs[0])
            at += size
        assert b"".join(whole) == data and len(t.starts) <= MAX_DECODERS


def test_packages_past_the_cap_found_by_another_reading_are_said_not_crashed_on(monkeypatch):
    from apkscan.sources import text_evidence
    from apkscan.sources.text_evidence import TextEvidenceReader

    monkeypatch.setattr(text_evidence, "MAX_APPS", 3)  # alt_honest_b: three readings name five packages
    entries = list(TextEvidenceReader(io.BytesIO(CASES["alt_honest_b"]), ("t.txt",)).entries())  # before: KeyError
    assert [e.package for e in entries if hasattr(e, "package")] == ["com.a1", "com.b1", "com.c1"]
    messages = [i.message for e in entries for i in getattr(e, "issues", [])]
    assert any(m.startswith("more than 3 packages; ") and "more package lines ignored" in m for m in messages)


def test_a_block_the_change_cuts_keeps_the_fields_after_it(scan_path, tmp_path):
    """The decoy field inside WeChat's own block, before its versionCode and User lines: the first
    reading has its header, the 8-bit one the rest; the app keeps both."""
    wechat = ("  Package [com.tencent.mm] (a1b2c3d):\n    mime=" + U16 + "\n    versionCode=2080 minSdk=21\n"
              "    versionName=8.0.49\n    User 0: ceDataInode=1 installed=true hidden=false\n")
    text = "Activity Resolver Table:\n  Non-Data Actions:\n\nPackages:\n" + wechat + _block("com.android.shell", "1111")
    doc = _scan(scan_path, tmp_path, text.encode())
    [mm] = [a for a in doc["apps"] if a["package"] == "com.tencent.mm"]
    assert mm["verdict"] == "prohibited" and mm["identity"]["version_code"] == 2080
    assert mm["identity"]["version_name"] == "8.0.49"


def test_each_reading_says_its_own_line_budget_once(monkeypatch):
    from apkscan.sources import text_evidence
    from apkscan.sources.text_evidence import TextEvidenceReader

    monkeypatch.setattr(text_evidence, "MAX_LINES", 5)

    def read(data: bytes) -> tuple[set[str], list[str]]:
        entries = list(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
        return ({e.package for e in entries if hasattr(e, "package")},
                [i.message for e in entries for i in getattr(e, "issues", [])])

    names, messages = read(_lst([f"com.b{i}" for i in range(20)]).encode())
    assert names == {f"com.b{i}" for i in range(5)} and messages.count("more than 5 lines; the rest ignored") == 1
    names, messages = read(("package:com.a1\nversionName=" + U16 + "\n"
                            + _lst([f"com.b{i}" for i in range(20)])).encode())
    assert messages.count("as 8-bit text from byte 27: more than 5 lines; the rest ignored") == 1
    assert names == {"com.a1", "com.b0", "com.b1", "com.b2"}
