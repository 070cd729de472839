"""A ZIP whose ZIP64 end record names another central directory than its classic EOCD fields
(review 59 F1), on real bytes (``tests/zip64_build.py``).

apksig (and Android's Java v2/v3 verifier) never read ZIP64: the classic fields are the archive
they verify, and that is the identity apkscan verifies and matches. A ZIP64-aware reader
(libziparchive 11+) may install the other, so it is read too, as its own app of the same input:
both flagged ``TAMPER_TWO_CENTRAL_DIRECTORIES`` with which reading each one is; the second is
never stored, recalled or learnt as the first (same bytes, same SHA-256, another reading).
Where apksigner is installed, its verdict on each file is checked too.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
from urllib.parse import unquote
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

import zip64_build  # noqa: E402
from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402

from apkscan.apk.io.bytesource import ByteSource  # noqa: E402
from apkscan.apk.io.zipreader import ZipArchive  # noqa: E402
from apkscan.cli import main  # noqa: E402
from apkscan.issues import ApkFormatError  # noqa: E402
from apkscan.scan import scan  # noqa: E402
from apkscan.sources.files import FileSource  # noqa: E402
from apkscan.sources.walker import WalkOptions  # noqa: E402

TWO = "TAMPER_TWO_CENTRAL_DIRECTORIES"
SECOND = "[ZIP64 central directory]"
IMPOSTOR = "c74d5d54aa82e780b6c53100afe5e034e6e41374dee04d43b8ee7c7c374f16fc"  # wechat-impostor's key
TEST_RSA = "3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81"  # v1-only's key
OLD = 1_600_000_000 * 10**9


@pytest.fixture(scope="module")
def two_cds(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("z64") / "two-cds.apk"
    path.write_bytes(zip64_build.two_directories())
    os.utime(path, ns=(OLD, OLD))
    return path


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    os.utime(path, ns=(OLD, OLD))
    return path


def _doc(rules, policy, tmp_path: Path, path: Path) -> dict:
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()


def _tamper(app: dict) -> dict[str, str]:
    return {t["code"]: t["message"] for t in app["identity"]["tamper"]}


def _signers(app: dict) -> list[str]:
    return [s["sha256"] for s in app["identity"]["signers"]]


def _apksigner(path: Path):
    return apksigner_verify(path) if apksigner_available() else None


def test_the_classic_fields_are_read_as_apksig_reads_them_and_zip64_is_the_second_reading(two_cds):
    with ByteSource(two_cds) as src:
        classic = ZipArchive.open(src)
        assert classic.entry("AndroidManifest.xml") is not None and classic.entry("META-INF/IMPOSTOR.SF") is not None
        assert len(classic.entries) == 0xFFFF and classic.other_reading and not classic.zip64
        (z64,) = [t.message for t in classic.tamper if t.code == "TAMPER_ZIP64"]
        assert "another central directory" in z64 and "classic fields" in z64
        second = ZipArchive.open(src, zip64=True)
        assert second.zip64 and not second.other_reading
        assert [e.name for e in second.entries if e.name.endswith(".SF")] == ["META-INF/TEST-RSA.SF"]


def test_two_directories_are_two_apps_the_verified_one_as_apksigner_verifies_it(rules, policy, tmp_path, two_cds):
    """A (WeChat-like, the classic reading) is the app apksigner verifies and aapt reads: matched
    and prohibited under canada-tbs-2023, never "allowed"; B (the ZIP64 reading) is a second app
    of the same file, its own chain, flagged; one custody record, of the file."""
    doc = _doc(rules, policy, tmp_path, two_cds)
    first, second = doc["apps"]
    assert first["package"] == "com.tencent.mm" and first["identity"]["verified"]
    assert _signers(first) == [IMPOSTOR]
    assert first["verdict"] == "prohibited"
    assert first["source"]["chain"] == [str(two_cds)] and second["source"]["chain"] == [str(two_cds), SECOND]
    assert second["package"] == "com.example.v1only" and _signers(second) == [TEST_RSA]
    assert "classic reading" in _tamper(first)[TWO] and "ZIP64 reading" in _tamper(second)[TWO]
    assert first["sha256"] == second["sha256"]
    assert [f["path"] for f in doc["input_files"]] == [str(two_cds)]
    got = _apksigner(two_cds)
    if got is not None:
        assert got["verified"] and got["signers_sha256"] == [IMPOSTOR]


def test_entries_on_this_disk_0xffff_alone_is_read_the_same_way(rules, policy, tmp_path):
    """The third reading docs/security.md names (libziparchive looks for ZIP64 when entries-on-this-disk
    is 0xFFFF; the total is true): decided the same way, both apps."""
    path = _write(tmp_path, "on-disk.apk", zip64_build.two_directories(padded=False))
    doc = _doc(rules, policy, tmp_path, path)
    assert [(a["package"], a["source"]["chain"][1:]) for a in doc["apps"]] == [("com.tencent.mm", []),
                                                                     ("com.example.v1only", [SECOND])]
    assert doc["apps"][0]["verdict"] == "prohibited"
    got = _apksigner(path)
    if got is not None:
        assert got["verified"] and got["signers_sha256"] == [IMPOSTOR]


def test_a_zip64_only_apk_gets_apksigners_refusal_and_the_zip64_readings_identity(rules, policy, tmp_path):
    """Review 59's simple variant: the classic fields are placeholders, apksigner refuses the file;
    so does the classic reading (an input error with a code), and the ZIP64 reading is still an
    app, matched and flagged."""
    path = _write(tmp_path, "zip64-only.apk", zip64_build.zip64_only())
    with ByteSource(path) as src, pytest.raises(ApkFormatError) as exc:
        ZipArchive.open(src)
    assert exc.value.code == "ZIP_CD_OUT_OF_RANGE"
    doc = _doc(rules, policy, tmp_path, path)
    assert [e["source"]["chain"] for e in doc["errors"]] == [[str(path)]]
    # the fact that explains the refusal is kept with it (issue 11: tamper facts whatever happens after)
    assert [i["code"] for i in doc["errors"][0]["errors"]] == ["ZIP_CD_OUT_OF_RANGE", "TAMPER_TWO_CENTRAL_DIRECTORIES"]
    (app,) = doc["apps"]
    assert app["source"]["chain"] == [str(path), SECOND] and app["package"] == "com.example.v1only"
    assert "ZIP64 reading" in _tamper(app)[TWO]
    got = _apksigner(path)
    if got is not None:
        assert not got["verified"]


def test_zip64_records_that_agree_with_the_classic_fields_are_one_app(rules, policy, tmp_path):
    path = _write(tmp_path, "decoy.apk", zip64_build.decoy())
    with ByteSource(path) as src:
        archive = ZipArchive.open(src)
        assert not archive.other_reading
        assert any(t.code == "TAMPER_ZIP64" and "agree" in t.message for t in archive.tamper)
    doc = _doc(rules, policy, tmp_path, path)
    (app,) = doc["apps"]
    assert app["package"] == "com.example.v1only" and TWO not in _tamper(app) and not doc["errors"]
    got = _apksigner(path)
    if got is not None:
        assert got["verified"]


def test_a_zip64_record_naming_a_directory_that_does_not_parse_is_no_second_reading(rules, policy, tmp_path):
    path = _write(tmp_path, "unparsable.apk", zip64_build.unparsable())
    doc = _doc(rules, policy, tmp_path, path)
    (app,) = doc["apps"]
    assert app["package"] == "com.example.v1only" and TWO not in _tamper(app) and not doc["errors"]
    assert "another central directory" in _tamper(app)["TAMPER_ZIP64"]


def _cli(out: Path, path: Path, *extra: str) -> list[dict]:
    res = CliRunner().invoke(main, ["scan", str(path), "--jsonl", str(out), "--force", "-q", *extra])
    assert res.exit_code in (0, 1), res.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return [(x["package"], x["source"], x["sha256"], x["verdict"]) for x in lines if x["type"] == "app"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_second_reading_is_never_stored_recalled_or_learnt_as_the_first(tmp_path, two_cds, jobs, monkeypatch):
    """Cold and warm runs with a store give what a run without one gives (through the worker pool
    too): B is never served A's stored identity by the stat key or the SHA-256 they share, and the
    fast lane learns no line for a file read two ways."""
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)
    db = tmp_path / "s.sqlite"
    ref = _cli(tmp_path / "ref.jsonl", two_cds, "--no-store", "--jobs", jobs)
    cold = _cli(tmp_path / "cold.jsonl", two_cds, "--store", str(db), "--jobs", jobs)
    warm = _cli(tmp_path / "warm.jsonl", two_cds, "--store", str(db), "--jobs", jobs)
    assert ref == cold == warm
    assert [p for p, *_ in ref] == ["com.tencent.mm", "com.example.v1only"]
    assert ref[0][2] == ref[1][2] and ref[0][1] != ref[1][1]
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM known_lines").fetchone()[0] == 0
        assert c.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 1  # the first reading's


def test_reports_keep_the_two_readings_apart(tmp_path, two_cds):
    """JSON, SARIF and CSV: two apps of one file, each under its own name (SARIF artifacts are keyed
    by container, name and SHA-256: the same SHA-256 must not merge them)."""
    out = {k: tmp_path / f"r.{k}" for k in ("json", "sarif", "csv")}
    res = CliRunner().invoke(main, ["scan", str(two_cds), "--no-store", "-q", "--json", str(out["json"]),
                                    "--sarif", str(out["sarif"]), "--csv", str(out["csv"])])
    assert res.exit_code == 1, res.output
    doc = json.loads(out["json"].read_text())
    assert len({tuple(a["source"]["chain"]) for a in doc["apps"]}) == 2
    sarif = json.loads(out["sarif"].read_text())
    arts = sarif["runs"][0]["artifacts"]
    assert [unquote(a["location"]["uri"]) for a in arts] == [two_cds.as_uri(), SECOND]
    assert arts[1]["parentIndex"] == 0  # the second reading, nested in the file it is read from
    with out["csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["package"] for r in rows) == ["com.example.v1only", "com.tencent.mm"]
    assert len({r["source"] for r in rows}) == 2


def test_a_url_scanned_on_a_dask_worker_is_read_both_ways_too(rules, policy, two_cds):
    """A URL input never meets the walker: the worker's copy is read both ways the same way, the
    copy removed once both are scanned."""
    pytest.importorskip("fsspec")
    from apkscan.batch.dask_runner import _remote_unit
    from apkscan.scan import ScanSettings
    from apkscan.sources.interface import ScanInput

    import glob
    import tempfile

    copies = lambda: set(glob.glob(os.path.join(tempfile.gettempdir(), "apkscan-dask-*")))  # noqa: E731
    before = copies()
    url = two_cds.as_uri()
    records = _remote_unit(ScanInput(url, (url,)), ScanSettings(rules, policy))
    assert [(r.identity.manifest.package, r.chain) for r in records] == [("com.tencent.mm", (url,)),
                                                                        ("com.example.v1only", (url, SECOND))]
    assert all(any(t.code == TWO for t in r.identity.tamper) for r in records)
    assert copies() <= before
