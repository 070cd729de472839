"""A polyglot as a member of a container (a tar, a ZIP, a ``.tar.gz``, an adb backup, a backup app's
folder): a tar or a gzip stream by its first bytes, and a signed APK from its end record (offsets
moved as ``zip -A`` moves them; apksigner verifies it, prefix and all). Such a member is read both
ways, as a file is (``CONTAINER_POLYGLOT``): in place when its bytes lie whole in a local file,
else read again from its container. Decoys (an end record pointing nowhere, one inside member
data) cost nothing more, and an ordinary backup no extra reading or spooling."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from backup_helpers import AbWriter
from conftest import prefixed_apk
from test_polyglots import tar_of

from apkscan.scan import scan
from apkscan.sources import polyglot, tempspace, walker as walker_mod
from apkscan.sources.files import FileSource
from apkscan.sources.interface import InputProblem, Member, ScanInput
from apkscan.sources.walker import WalkContext, Walker, WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
KEYS = REPO / "fixtures" / "keys"
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
POLYGLOT = "CONTAINER_POLYGLOT"


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return bio.getvalue()


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> dict[str, bytes]:
    """WeChat behind a tar (a text member and the end marker) and behind a gzip stream, signed
    after prefixing with the fixture's Tencent-like key; apksigner verifies both."""
    out = {}
    base = tmp_path_factory.mktemp("polyglots")
    for head, prefix in (("tar", tar_of([("readme.txt", b"hello\n")])), ("gzip", gzip_of(b"hello\n"))):
        unsigned, path = base / f"{head}-unsigned.apk", base / f"{head}.apk"
        unsigned.write_bytes(prefixed_apk(WECHAT, prefix))
        subprocess.run(["apksigner", "sign", "--key", str(KEYS / "tencent-like.pk8"), "--cert",
                        str(KEYS / "tencent-like.pem"), "--v4-signing-enabled", "false", "--out", str(path),
                        str(unsigned)], check=True, capture_output=True)
        subprocess.run(["apksigner", "verify", str(path)], check=True, capture_output=True)
        out[head] = path.read_bytes()
    return out


def adb_backup(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with AbWriter(out) as w:
        for name, data in members:
            w.add(name, data)
    return out.getvalue()


def titanium(folder: Path, apk: bytes) -> Path:
    """A Titanium Backup folder whose WeChat APK (``.apk.gz``, as Titanium stores it) is the polyglot."""
    folder.mkdir()
    md5 = hashlib.md5(apk).hexdigest()
    (folder / f"com.tencent.mm-{md5}.apk.gz").write_bytes(gzip_of(apk))
    (folder / "com.tencent.mm-20240501-100000.properties").write_text(
        f"app_label=WeChat\napp_version_code=2080\napp_apk_codec=GZIP\napp_apk_md5={md5}\n")
    return folder


def build(kind: str, tmp_path: Path, apk: bytes) -> tuple[Path, list[str]]:
    """The container of ``kind`` holding ``apk`` as base.apk; its path and the APK's chain below it."""
    member = [("base.apk", apk)]
    if kind == "tar":
        data, chain = tar_of(member), ["base.apk"]
    elif kind == "zip stored":
        data, chain = zip_of(member, zipfile.ZIP_STORED), ["base.apk"]
    elif kind == "zip deflated":
        data, chain = zip_of(member), ["base.apk"]
    elif kind == "tar.gz":
        data, chain = gzip_of(tar_of([("readme.md", b"pull\n"), *member])), ["base.apk"]
    elif kind == "tar in a stored zip":  # the tar's members lie in place in the outer file
        data, chain = zip_of([("dev.tar", tar_of(member))], zipfile.ZIP_STORED), ["dev.tar", "base.apk"]
    elif kind == "zip in a deflated zip":
        data, chain = zip_of([("inner.zip", zip_of(member))]), ["inner.zip", "base.apk"]
    elif kind == "adb backup":
        name = "apps/com.tencent.mm/a/base.apk"
        data, chain = adb_backup([("apps/com.tencent.mm/_manifest", b""), (name, apk)]), [name]
    elif kind == "titanium folder":
        folder = titanium(tmp_path / "TitaniumBackup", apk)
        return folder, [f"com.tencent.mm-{hashlib.md5(apk).hexdigest()}.apk.gz"]
    else:  # a ZIP of a Titanium folder
        folder = titanium(tmp_path / "tb", apk)
        data = zip_of([(p.name, p.read_bytes()) for p in sorted(folder.iterdir())])
        chain = [f"com.tencent.mm-{hashlib.md5(apk).hexdigest()}.apk.gz"]
    path = tmp_path / f"pull.{kind.replace(' ', '-')}"
    path.write_bytes(data)
    return path, chain


def run(rules, policy, tmp_path, path: Path, **opts) -> dict:
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool"), **opts))], rules, policy).to_dict()


def codes(doc) -> list[str]:
    return sorted(i["code"] for e in doc["errors"] for i in e["errors"])


def tampers(app) -> set[str]:
    return {t["code"] for t in app["identity"]["tamper"]}


KINDS = ["tar", "zip stored", "zip deflated", "tar.gz", "tar in a stored zip", "zip in a deflated zip", "adb backup", "titanium folder",
         "titanium zip"]


@pytest.mark.parametrize("head", ["tar", "gzip"])
@pytest.mark.parametrize("kind", KINDS)
def test_polyglot_member_is_read_both_ways(rules, policy, tmp_path, monkeypatch, signed, kind, head):
    """Review 54's P1/P2 as a member: the APK is found (verified, prohibited, flagged), under its chain,
    and the member is still read as the tar or gzip stream its head says (its facts said as before).
    In place when its bytes lie in the file (no spool), else read again once and spooled once."""
    path, chain = build(kind, tmp_path, signed[head])
    costs = Costs(monkeypatch)
    doc = run(rules, policy, tmp_path, path)
    in_place = kind in ("tar", "zip stored", "tar in a stored zip")
    assert costs.spools == (0 if in_place else 2 if kind == "zip in a deflated zip" else 1)  # inner.zip's own, + 1
    assert costs.replays == (1 if kind in ("tar.gz", "adb backup") else 0)
    (app,) = doc["apps"]
    assert (app["package"], app["verdict"], app["identity"]["verified"]) == ("com.tencent.mm", "prohibited", True)
    assert POLYGLOT in tampers(app)
    assert app["source"]["chain"] == [str(path), *chain]
    expected = "CONTAINER_TAR_TRAILING_DATA" if head == "tar" else "CONTAINER_TRAILING_DATA"
    assert expected in codes(doc) and POLYGLOT not in codes(doc)  # the fact is on the APK, not said twice
    assert len(doc["input_files"]) == (2 if kind == "titanium folder" else 1)  # custody as before: no record more


def test_polyglot_after_a_member_of_the_same_name_is_the_one_read_again(rules, policy, tmp_path, signed):
    """Read again from a ``.tar.gz``, the member is found by its place among the members (a name
    given twice is no guide): the second base.apk, the polyglot, not the first (a plain text)."""
    path = tmp_path / "pull.tar.gz"
    path.write_bytes(gzip_of(tar_of([("base.apk", b"not an apk\n"), ("base.apk", signed["tar"])])))
    doc = run(rules, policy, tmp_path, path)
    (app,) = doc["apps"]
    assert app["package"] == "com.tencent.mm" and POLYGLOT in tampers(app)
    assert "INPUT_NOT_AN_APK" in codes(doc)  # the first base.apk, as before


def test_zip_of_apks_behind_a_tar_head_in_a_tar_gz_says_so_on_the_member(rules, policy, tmp_path):
    """A ZIP from the end that is no APK (a ZIP holding one): walked, the fact on the member."""
    inner = prefixed_apk(zip_of([("wechat.apk", WECHAT)]), tar_of([("readme.txt", b"hello\n")]))
    path = tmp_path / "pull.tar.gz"
    path.write_bytes(gzip_of(tar_of([("pull.bin", inner)])))
    doc = run(rules, policy, tmp_path, path)
    assert [(a["package"], a["source"]["chain"][1:]) for a in doc["apps"]] == [
        ("com.tencent.mm", ["pull.bin", "wechat.apk"])]
    assert [e["source"]["chain"][1:] for e in doc["errors"] if POLYGLOT in [i["code"] for i in e["errors"]]] == [
        ["pull.bin"]]


def _fake_end_record(cd_offset: int, cd_size: int = 46) -> bytes:
    """An end record whose comment reaches the end, but whose directory is nowhere."""
    return b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, cd_size, cd_offset, 0)


DECOYS = {
    "end record pointing nowhere": lambda: tar_of([("readme.txt", b"hello\n")]) + _fake_end_record(3),
    "end record past the member's start": lambda: tar_of([("readme.txt", b"hello\n")]) + _fake_end_record(1 << 30),
    "end record inside member data": lambda: tar_of([("notes.bin", b"x" * 100 + _fake_end_record(0))]),
    "tar of an apk": lambda: tar_of([("wechat.apk", WECHAT)]),
}


class Costs:
    """What the walk spooled and read again (patched in for one scan)."""

    def __init__(self, monkeypatch):
        self.spools, self.replays, self.reinflated, self.looks = 0, 0, 0, 0
        spool, replayed = tempspace.TempSpace.spool, polyglot.Replayed.__init__
        again, look = walker_mod.ZipReader._again, polyglot.detect.opened_as_zip

        def counted(count, real):
            def call(*a, **k):
                setattr(self, count, getattr(self, count) + 1)
                return real(*a, **k)
            return call
        monkeypatch.setattr(tempspace.TempSpace, "spool", counted("spools", spool))
        monkeypatch.setattr(polyglot.Replayed, "__init__", counted("replays", replayed))
        monkeypatch.setattr(walker_mod.ZipReader, "_again", counted("reinflated", again))
        monkeypatch.setattr(polyglot.detect, "opened_as_zip", counted("looks", look))


@pytest.mark.parametrize("decoy", sorted(DECOYS))
@pytest.mark.parametrize("outer", ["tar", "tar.gz", "zip deflated"])
def test_decoy_members_are_one_reading_and_cost_nothing_more(rules, policy, tmp_path, monkeypatch, decoy, outer):
    """Built to fool the look from the end, as streamed members: no second reading, no spool
    beyond what the member needs anyway (an APK inside it), nothing said of a polyglot."""
    member = [("pull.bin", DECOYS[decoy]())]
    path = tmp_path / "pull"
    path.write_bytes(tar_of(member) if outer == "tar" else gzip_of(tar_of(member)) if outer == "tar.gz" else zip_of(member))
    costs = Costs(monkeypatch)
    doc = run(rules, policy, tmp_path, path)
    assert POLYGLOT not in codes(doc) and all(POLYGLOT not in tampers(a) for a in doc["apps"])
    assert [a["package"] for a in doc["apps"]] == (["com.tencent.mm"] if decoy == "tar of an apk" else [])
    assert (costs.replays, costs.reinflated) == (0, 0)
    assert costs.looks == {"tar": 2, "tar.gz": 1, "zip deflated": 0}[outer]  # the file's (a tar or gzip head), as
    # before, and in a plain tar the member's in place: one read of its last bytes
    assert costs.spools == (1 if decoy == "tar of an apk" else 0)  # the APK's own spool, as before


@pytest.mark.parametrize("backup", ["adb-v5-compressed.ab", "adb-v5-aes.ab", "titanium", "neo"])
def test_ordinary_backup_costs_no_extra_reads_or_spools(rules, policy, tmp_path, monkeypatch, backup):
    """The look from the end of streamed members that are containers costs a rolling tail only: an
    ordinary backup is read as before, with as many spools (its APKs) and nothing read again."""
    path = REPO / "fixtures" / "backups" / backup
    opts = {"password": lambda: "apkscan-test"}
    costs = Costs(monkeypatch)
    doc = run(rules, policy, tmp_path, path, **opts)
    looked, looks = (costs.spools, costs.replays, costs.reinflated), costs.looks
    monkeypatch.setattr(polyglot, "from_end", lambda *a: iter(()))  # the walk without the look from the end
    before = Costs(monkeypatch)
    again = run(rules, policy, tmp_path, path, **opts)
    assert looked == (before.spools, 0, 0) and looks == before.looks
    assert [a["package"] for a in doc["apps"]] == [a["package"] for a in again["apps"]] and doc["apps"]


@pytest.mark.parametrize("again", ["none", "other bytes", "other last bytes", "the same bytes"])
def test_member_that_cannot_be_read_again_is_an_error_naming_it(tmp_path, signed, again):
    """A streamed member whose tail says ZIP, with no way to read it again (a reader that gives none)
    or read again as other bytes (a file changed under the walk: another length or other last bytes): ``CONTAINER_POLYGLOT_UNREAD`` for
    that member, never a silent skip; read again as the same bytes, the APK."""
    data = signed["tar"]
    reopen = {"none": None, "other bytes": lambda: io.BytesIO(data + b"\0" * 512),
              "other last bytes": lambda: io.BytesIO(data[:-1] + bytes([data[-1] ^ 1])),
              "the same bytes": lambda: io.BytesIO(data)}[again]
    walker = Walker(WalkContext(WalkOptions(tmp_dir=str(tmp_path / "spool"))))
    member = Member("base.apk", len(data), lambda: io.BytesIO(data), again=reopen)
    items = list(walker.member(member, ("backup.bin",), 1))
    unread = [i for i in items if isinstance(i, InputProblem) and polyglot.UNREAD in [x.code for x in i.issues]]
    found = [i.chain for i in items if isinstance(i, ScanInput)]
    if again == "the same bytes":
        assert found == [("backup.bin", "base.apk")] and not unread
    else:
        assert not found and [i.chain for i in unread] == [("backup.bin", "base.apk")]


def test_second_reading_past_the_tmp_limit_is_an_error_naming_the_member(rules, policy, tmp_path, signed):
    """The second reading is spooled under ``--tmp-limit``: past it, the member's coded error."""
    path = tmp_path / "pull.tar.gz"
    path.write_bytes(gzip_of(tar_of([("base.apk", signed["tar"])])))
    doc = run(rules, policy, tmp_path, path, tmp_limit=4096)
    assert doc["apps"] == []
    (limit,) = [e for e in doc["errors"] if "CONTAINER_TMP_LIMIT" in [i["code"] for i in e["errors"]]]
    assert limit["source"]["chain"][1:] == ["base.apk"] and "read again as a ZIP" in limit["errors"][0]["message"]


def test_second_inflation_is_charged_to_the_budget(rules, policy, tmp_path, signed):
    """A deflated member inflated again for its second reading is charged again: past the input's
    inflation budget, the member's coded error (never a silent skip)."""
    path, _ = build("zip deflated", tmp_path, signed["tar"])
    size = len(signed["tar"])
    doc = run(rules, policy, tmp_path, path, max_inflate=size + size // 2)
    assert doc["apps"] == []
    (limit,) = [e for e in doc["errors"] if "CONTAINER_INFLATE_LIMIT" in [i["code"] for i in e["errors"]]]
    assert limit["source"]["chain"][1:] == ["base.apk"]
    assert run(rules, policy, tmp_path, path, max_inflate=2 * size)["apps"]  # room for both readings: found
