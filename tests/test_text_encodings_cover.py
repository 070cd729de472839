"""A decoder covers a NUL only where it reads text there (review 47 F1).

An 8-bit ``dumpsys package`` capture (``cmd >``) whose apps' fields print lines of UTF-32LE-looking
bytes, then a genuine PowerShell 5 ``>>`` append of ``pm list packages`` in UTF-16LE naming WeChat.
Each UTF-32 field line starts a decoder; before the fix it claimed three of the four byte residues
of every later NUL as its code units' high bytes, though it reads the append's units (all above
U+10FFFF) as U+FFFD, so no decoder read the append and WeChat was lost, its lines counted nowhere.
Each case is one of review 47's ``build47.py``, built here.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest

U32 = "".join(c + "\0\0\0" for c in "abcdefghijklmnopqrstuvwxyz" * 6)  # 8-bit bytes reading as UTF-32LE
LST = "".join(f"package:{n}\n" for n in [f"com.example.p{i}" for i in range(5)] + ["com.tencent.mm",
                                                                                     "com.android.shell"])
LONG = "".join(f"package:com.example.q{i}\n" for i in range(3000)) + "package:com.tencent.mm\n"
BOM = codecs.BOM_UTF16_LE


def _block(pkg: str, h: str, version: str = "1.0") -> str:
    return (f"  Package [{pkg}] ({h}):\n    userId=10201\n    codePath=/data/app/{pkg}-1\n"
            f"    versionCode=1 minSdk=21 targetSdk=33\n    versionName={version}\n"
            f"    User 0: ceDataInode=1 installed=true hidden=false suspended=false\n"
            f"    signatures=PackageSignatures{{9f8e7d6 version:2, signatures:[9020fca7], past signatures:[]}}\n")


def _dumpsys(decoys=()) -> bytes:
    """8-bit dumpsys without WeChat; each decoy a versionName."""
    body = "".join(_block(f"com.example.decoy{i}", "1a1a1a1", v) for i, v in enumerate(decoys))
    return ("Activity Resolver Table:\n  Full MIME Types:\n  Non-Data Actions:\n\nPackages:\n" + body
            + _block("com.example.last", "1a1a1a1") + _block("com.android.shell", "1111111", "13")).encode()


def _slots(tail: bytes, bom_residue: int | None = None) -> bytes:
    """build47 u32slots: two UTF-32 decoy lines 3 residues apart (together every residue mod 4)."""
    for p1 in range(4):
        for p2 in range(4):
            b = _dumpsys(["1.0" + "w" * p1 + "\n" + U32, "1.0" + "w" * p2 + "\n" + U32])
            o1 = b.index(b"\n" + U32.encode()) + 1
            o2 = b.index(b"\n" + U32.encode(), o1) + 1
            for pad in range(4) if (o2 - o1) % 4 == 3 else ():
                data = b + b"v" * pad
                if bom_residue is None or (len(data) - o1) % 4 == bom_residue:
                    return data + tail
    raise AssertionError("no layout")


def _many(pads: tuple[int, ...], tail: bytes) -> bytes:
    """UTF-32 decoy lines, each after ``pad`` bytes of its versionName: (0, 1, 1) puts each at a
    code unit alignment no decoder before it reads as text, so the three decoder slots are all
    taken by decoys (checked in the test); more of them churn the slots. Then the append."""
    return _dumpsys(["1.0" + "w" * pad + "\n" + U32 for pad in pads]) + tail


CASES = {
    **{f"u32one_{pad}": _dumpsys(["1.0\n" + U32]) + b"v" * pad + LST.encode("utf-16-le") for pad in range(4)},
    "u32slots_nobom": _slots(LST.encode("utf-16-le")),
    "u32slots_bom": _slots(BOM + LST.encode("utf-16-le"), bom_residue=0),
    "u32one_long": _dumpsys(["1.0\n" + U32]) + b"v" + LONG.encode("utf-16-le"),
    **{f"u32three_{pad}": _many((0, 1, 1), b"v" * pad + LST.encode("utf-16-le")) for pad in range(4)},
    "u32three_bom": _many((0, 1, 1), BOM + LST.encode("utf-16-le")),
    "u32nine_long": _many((0, 1, 1) * 3, b"\n" + LONG.encode("utf-16-le")),
}


def _read(data: bytes) -> tuple[set[str], list]:
    from apkscan.sources.text_evidence import TextEvidenceReader

    entries = list(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
    return {e.package for e in entries if hasattr(e, "package")}, [i for e in entries for i in getattr(e, "issues", [])]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_utf16_append_after_utf32_field_lines_is_read(case):
    names, issues = _read(CASES[case])
    assert "com.tencent.mm" in names  # before: lost (no decoder read the append)
    assert {f"com.example.p{i}" for i in range(1, 5)} <= names or case.endswith("long")
    assert "com.example.q2999" in names or not case.endswith("long")
    [two] = [i for i in issues if i.code == "TEXT_READ_TWO_WAYS"]
    assert "utf-16-le from byte" in two.message  # the append's decoder is said


def test_three_decoys_take_every_slot_before_the_append():
    """The precondition of the u32three cases: each decoy starts a UTF-32 decoder (3 slots)."""
    from apkscan.sources.text_encodings import MAX_DECODERS, Transcoder

    t = Transcoder("utf-8")
    t.feed(_many((0, 1, 1), b""), final=True)
    assert [order for _, order in t.starts] == ["utf-32-le"] * MAX_DECODERS


@pytest.mark.parametrize("case", ["u32one_1", "u32slots_bom", "u32three_2", "u32three_bom"])
def test_wechat_is_prohibited_and_the_batch_goes_on(scan_path, tmp_path: Path, case):
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / "dumpsys.txt").write_bytes(CASES[case])
    (folder / "after.txt").write_bytes(b"package:com.example.after\n")
    doc = scan_path(folder)
    [mm] = [a for a in doc["apps"] if a["package"] == "com.tencent.mm"]
    assert mm["verdict"] == "prohibited"
    assert any(a["package"] == "com.example.after" for a in doc["apps"])


def test_a_utf32_decoder_still_covers_the_text_it_reads():
    """Genuine UTF-32LE text (a BOM, then lines) is one decoder: its NULs start no other."""
    from apkscan.sources.text_encodings import Transcoder

    text = "package:com.example.cmd\n".encode() + codecs.BOM_UTF32_LE + LST.encode("utf-32-le") * 50
    t = Transcoder("utf-8")
    out = b"".join(t.feed(text[i:i + 4096]) for i in range(0, len(text), 4096)) + t.feed(b"", final=True)
    assert [order for _, order in t.starts] == ["utf-32-le"]
    assert out.count(b"package:com.tencent.mm\n") == 50


def test_the_lanes_are_searched_per_chunk_not_per_line(monkeypatch):
    """A UTF-32 decoy, then 2 MB of a genuine UTF-16LE append: the search for NULs no decoder reads
    runs a few times a chunk (C speed), never once a line."""
    from apkscan.sources import text_encodings
    from apkscan.sources.text_evidence import CHUNK

    calls = []
    real = text_encodings._lane_find
    monkeypatch.setattr(text_encodings, "_lane_find", lambda *a: calls.append(1) or real(*a))
    # 9,000 long lines (within the 10,000 packages a listing makes: review 61 F3), still 2 MB
    append = "".join(f"package:com.example.{'p' * 100}.q{i}\n" for i in range(9000)) + "package:com.tencent.mm\n"
    data = _dumpsys(["1.0\n" + U32]) + b"v" + append.encode("utf-16-le")
    assert len(data) > 2_000_000
    names, _ = _read(data)
    assert "com.tencent.mm" in names and f"com.example.{'p' * 100}.q8999" in names
    assert len(calls) <= 16 * (len(data) // CHUNK + 2)  # 9,000 lines, ~500 calls at most


# Review 47 F3: one versionName of 64 lines 'x\0' (each judged, as nothing) spent the whole judgement
# budget; a genuine PowerShell >> append of pm list after 20 ordinary blocks was then never decoded.
SPENT = "1.0" + "\nx\0" * 64
EARLY = ("".join(f"package:com.example.q{i}\n" for i in range(100)) + "package:com.tencent.mm\n"
         + "".join(f"package:com.example.r{i}\n" for i in range(3000)))


def _spent(tail: str, bom: bytes = b"") -> bytes:
    fillers = "".join(_block(f"com.example.f{i}", "1a1a1a1") for i in range(20))
    return (_dumpsys([SPENT]).decode().replace("  Package [com.android.shell]", fillers + "  Package [com.android.shell]")
            .encode() + bom + tail.encode("utf-16-le"))


@pytest.mark.parametrize("case", ["triesx_nobom", "triesx_bom", "triesx_early_nobom", "triesx_late_nobom"])
def test_an_append_after_the_judgement_budget_is_spent_is_read(case):
    tail = {"triesx_early_nobom": EARLY, "triesx_late_nobom": LONG}.get(case, LST)
    names, issues = _read(_spent(tail, BOM if case.endswith("_bom") else b""))
    assert "com.tencent.mm" in names  # before: lost (no judgement left)
    assert "com.example.f19" in names and ("com.example.q99" in names or tail is LST)


def test_past_the_budget_junk_nul_lines_are_passed_at_c_speed(monkeypatch):
    """64 junk NUL lines spend the budget; 100,000 more are passed over by a regex, not judged
    or looked at one by one; the append after them is still read."""
    from apkscan.sources import text_encodings

    calls = []
    real = text_encodings._first_line
    monkeypatch.setattr(text_encodings, "_first_line", lambda *a: calls.append(1) or real(*a))
    data = _spent(LST).replace(b"\nx\0\n", b"\nx\0\n" + b"y\0\n" * 100_000, 1)
    names, _ = _read(data)
    assert "com.tencent.mm" in names
    assert len(calls) < 200
