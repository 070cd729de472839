"""Text evidence looked for through the whole text, and benign text that cries no wolf (review 34 #3).

Before, a text file over 1 MiB with no listing mark in its first MiB was ``TEXT_EVIDENCE_UNCHECKED``
(exit 3: every big app log of a pulled /sdcard), and a listing past that MiB was never read.
Now the scan goes on to the text's end, streaming with bounded memory, within a large byte budget
and the walk's time budget; only a scan cut short by a budget is ``TEXT_EVIDENCE_UNCHECKED``. A
listing found past the bytes kept is read from the start again: a file is reopened, a stream
(a compressed or deflated member) is first copied to temporary space within ``--tmp-limit``.
Marked text met in a folder that names no package and holds no line naming one (source code,
notes) is a counted skip; given, it stays ``TEXT_EVIDENCE_EMPTY``; a listing in a form the
reader does not parse (review 35 #1) still names its package on some line, so stays an error.
"""

from __future__ import annotations

import codecs
import gzip
import zipfile

import pytest

from apkscan.scan import scan
from apkscan.sources import text_detect, text_evidence
from apkscan.sources.files import FileSource
from apkscan.sources.text_detect import SCAN_BYTES
from apkscan.sources.text_evidence import EMPTY_SKIP
from apkscan.sources.walker import WalkOptions
from cli_helpers import issue_codes as codes
from limited_child import assert_finished, run_limited

LOG = "".join(f"2024-05-01 12:00:{i % 60:02d} INFO sync: item {i} ok\n" for i in range(50000))  # 2.2 MB
PM = "package:com.android.chrome\npackage:com.tencent.mm\npackage:com.example.mdm\n"


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(*paths, **options):
        options.setdefault("tmp_dir", str(tmp_path / "spool"))
        return scan([FileSource([str(p) for p in paths], WalkOptions(**options))], rules, policy).to_dict()
    return go


def verdicts(doc) -> dict[str, str]:
    return {a["package"]: a["verdict"] for a in doc["apps"]}


def folder_of(tmp_path, files: dict[str, bytes]):
    folder = tmp_path / "pulled"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_a_big_log_in_a_folder_is_a_plain_skip(run, tmp_path):
    doc = run(folder_of(tmp_path, {"app.log": LOG.encode(), "readme.txt": b"device 17\n"}))
    assert doc["errors"] == [] and doc["apps"] == []
    assert [(s["reason"], s["count"]) for s in doc["skipped"]] == [("not an APK or a known container", 2)]


def test_a_big_log_given_is_said_looked_through(run, tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(LOG.encode())
    doc = run(path)
    assert codes(doc) == ["TEXT_EVIDENCE_NOT_FOUND"]
    assert f"in its {len(LOG)} bytes" in doc["errors"][0]["errors"][0]["message"]


FORMS = {  # a listing far past the first MiB: after an appended log, in UTF-16, after an encoding switch
    "utf8": (LOG + LOG + PM).encode(),
    "utf16le-bom": codecs.BOM_UTF16_LE + (LOG + PM).encode("utf-16-le"),
    "utf32be": (LOG + PM).encode("utf-32-be"),
    "utf8-then-utf16": (LOG + LOG).encode() + codecs.BOM_UTF16_LE + PM.encode("utf-16-le"),
    "utf8-then-utf16-nobom": (LOG + LOG).encode() + PM.encode("utf-16-le"),
    "dumpsys": (LOG + "DUMP OF SERVICE package:\nPackages:\n  Package [com.tencent.mm] (5b9e3c1):\n"
                "    versionCode=2400\n").encode(),
}


@pytest.mark.parametrize("where", ["given", "in-a-folder", "gzip", "deflated-zip", "tar"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_listing_past_the_first_mib_is_read(run, tmp_path, form, where):
    data = FORMS[form]
    assert len(data) > 2 * SCAN_BYTES
    if where == "gzip":
        files = {"dev.txt.gz": gzip.compress(data, 1)}
    elif where == "deflated-zip":  # a deflated member is a stream: copied to temporary space, read again
        with zipfile.ZipFile(tmp_path / "pull.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("sdcard/dev.txt", data)
            z.writestr("sdcard/notes.txt", "nothing\n")
        files = {"pull.zip": (tmp_path / "pull.zip").read_bytes()}
    elif where == "tar":
        import io
        import tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("sdcard/dev.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        files = {"pull.tar.gz": buf.getvalue()}
    else:
        files = {"dev.txt": data}
    folder = folder_of(tmp_path, files)
    doc = run(folder / "dev.txt" if where == "given" else folder)
    assert verdicts(doc)["com.tencent.mm"] == "prohibited"
    assert set(codes(doc)) <= {"TEXT_LINES_UNREADABLE"}  # the log lines before it, counted
    assert not list((tmp_path / "spool").glob("*/*"))  # the copy is gone


@pytest.mark.parametrize("shift", range(-10, 2))
def test_a_mark_across_two_chunks_is_seen(run, tmp_path, monkeypatch, shift):
    """Kept: 4,097 bytes, then 256-byte chunks: '\\npackage:' (9 bytes) starts ``shift`` bytes
    before a chunk's end, so for -8..-1 it straddles two chunks."""
    monkeypatch.setattr(text_detect, "SCAN_BYTES", 4096)
    monkeypatch.setattr(text_detect, "CHUNK", 256)
    boundary = 4097 + 256 * 20
    path = folder_of(tmp_path, {"dev.txt": b"y" * (boundary + shift) + b"\npackage:com.tencent.mm\n"})
    assert verdicts(run(path))["com.tencent.mm"] == "prohibited"


def test_the_byte_budget_is_said_and_the_batch_goes_on(run, tmp_path, monkeypatch):
    monkeypatch.setattr(text_detect, "MAX_BYTES", 3 << 20)  # looked through
    monkeypatch.setattr(text_evidence, "MAX_BYTES", 3 << 20)  # read
    folder = folder_of(tmp_path, {"big.log": (LOG * 3 + PM).encode(), "pm.txt": b"package:com.tencent.mm\n"})
    doc = run(folder)
    assert verdicts(doc) == {"com.tencent.mm": "prohibited"}
    [err] = doc["errors"]
    assert err["source"]["chain"][-1].endswith("big.log") and codes(doc) == ["TEXT_EVIDENCE_UNCHECKED"]
    assert "the scan's byte budget" in err["errors"][0]["message"]
    doc = run(folder / "big.log")
    assert codes(doc) == ["TEXT_EVIDENCE_NOT_FOUND"] and "first" in doc["errors"][0]["errors"][0]["message"]


def test_a_stream_over_the_temporary_space_is_an_error_and_the_batch_goes_on(run, tmp_path):
    folder = folder_of(tmp_path, {"dev.txt.gz": gzip.compress((LOG + LOG + PM).encode(), 1),
                                  "pm.txt": b"package:com.zhiliaoapp.musically\n"})
    doc = run(folder, tmp_limit=3 << 20)
    assert verdicts(doc) == {"com.zhiliaoapp.musically": "prohibited"}
    assert codes(doc) == ["CONTAINER_TMP_LIMIT"]


_CHILD = """
from apkscan.sources.streams import IterStream
from apkscan.sources.text_detect import scan_for_listing
block = b"2024-05-01 12:00:00 INFO sync: item 12345 ok\\n" * 1400
def chunks():
    for _ in range((512 << 20) // len(block)):
        yield block
    yield b"package:com.tencent.mm\\n"
scan = scan_for_listing(IterStream(chunks()))
print(scan.marked, scan.read > 500 << 20, len(scan.kept))
"""


def test_the_scan_holds_bounded_memory():
    """512 MiB of log then a listing, generated as read: found under a 300 MB address-space limit."""
    out = assert_finished(run_limited(_CHILD, cpu=60, mem_mb=300))
    assert out.split() == ["True", "True", str(SCAN_BYTES + 1)]


NAMING_NOTHING = {  # marked, but no line names a dotted package: source code, notes
    "go.txt": b"// notes\n  Package [%s] is a format string\npackage:<banned id>\n",
    "howto.md": b"# Capturing\nRun pm list packages; lines look like\npackage:<name>\n",
}
NAMING_ONE = {  # a listing in a form the reader does not parse still names its packages (review 35 #1)
    "grep.txt": b"  Package [com.tencent.mm] (5b9e3c1):\n    versionCode=2400\n",
    "indented.txt": b"  package:com.tencent.mm\n  package:com.android.chrome\n",
    "path.txt": b"package: /data/app/~~Qk1v==/com.tencent.mm-Zm9v==/base.apk=com.tencent.mm\n",
    # a line a device's field injected ends the package service: its Packages section is read all the same
    "injected.txt": b"DUMP OF SERVICE package:\nActivity Resolver Table:\n  Scheme: \"x\nDUMP OF SERVICE other:\n"
                    b"Packages:\n  Package [com.tencent.mm] (5b9e3c1):\n",
    "utf8-in-utf16.txt": codecs.BOM_UTF16_LE + "Packages:\n".encode("utf-16-le") + b"package:com.tencent.mm\n",
    # cmd's >> after PowerShell's >: 8-bit lines after a UTF-16 log; the decoder does not follow, the scan sees them
    "utf16-log-then-8bit.txt": codecs.BOM_UTF16_LE + "log line\n".encode("utf-16-le") * 20 + b"package:com.tencent.mm\n",
}


def test_marked_text_naming_no_package_in_a_folder_is_a_counted_skip(run, tmp_path):
    doc = run(folder_of(tmp_path, NAMING_NOTHING))
    assert doc["errors"] == [] and doc["apps"] == []
    [skip] = doc["skipped"]
    assert (skip["reason"], skip["count"]) == (EMPTY_SKIP, 2)


@pytest.mark.parametrize("name", sorted(NAMING_NOTHING))
def test_marked_text_naming_no_package_given_is_an_error(run, tmp_path, name):
    folder = folder_of(tmp_path, {name: NAMING_NOTHING[name]})
    assert "TEXT_EVIDENCE_EMPTY" in codes(run(folder / name))


@pytest.mark.parametrize("name", sorted(NAMING_ONE))
def test_a_listing_not_parsed_in_a_folder_is_never_skipped(run, tmp_path, name):
    doc = run(folder_of(tmp_path, {name: NAMING_ONE[name]}))
    assert doc["skipped"] == []
    assert ("TEXT_EVIDENCE_EMPTY" in codes(doc) or "TEXT_LINES_UNREADABLE" in codes(doc)
            or "com.tencent.mm" in {a["package"] for a in doc["apps"]})  # read (review 41 F2)
