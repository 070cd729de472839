"""A tar member declaring an enormous size (review 61 F2): ``tarfile`` skips a member by reading
``size`` bytes and never stops at the end of the data, so a header declaring 2^62 bytes (GNU
base-256, or pax ``size=``) spun forever in the parent, past every budget, and no report was
written. Each variant the review found is built here as real bytes and scanned in one batch,
with the walk budget set far above the test's own bound: each ends with its coded error, the
members before it are kept, and the input after it is scanned. The bound is the subprocess's
timeout (the old code never ends), not a timing assertion.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
import zlib

from cli_helpers import run
from conftest import APKS

WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
TIKTOK = APKS / "tiktok-bytedance-subject.apk"
HUGE = 1 << 62


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    """One GNU header whose size field is base-256 (``0x80`` then 11 big-endian bytes), as GNU tar
    writes members over 8 GiB; any size up to 2^88 fits."""
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, 0o644
    block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT)[:tarfile.BLOCKSIZE])
    block[124:136] = b"\x80" + size.to_bytes(11, "big")
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def tar_of(members: list[tuple[str, bytes]]) -> bytes:
    """A tar without its end-of-archive marker: more blocks can follow."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        end = tf.offset
    return buf.getvalue()[:end]


def wechat_then_huge(size: int = HUGE, name: str = "b.txt", prefix: str = "") -> bytes:
    """WeChat, then a member declaring ``size`` bytes with a few KiB of data behind it."""
    return tar_of([(prefix + "wechat.apk", WECHAT)]) + header(prefix + name, size) + bytes(4096)


def huge_then_wechat(kind: bytes) -> bytes:
    """A first member of type flag ``kind`` declaring 2^62 bytes, then WeChat (never reached)."""
    return header("first", HUGE, kind) + bytes(3 * 512) + tar_of([("wechat.apk", WECHAT)]) + bytes(1024)


def pax_size(size: int) -> bytes:
    """A member whose pax ``size=`` record declares ``size`` bytes (its ustar field says 2)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("x.bin")
        info.size, info.pax_headers = 2, {"size": str(size)}
        tf.addfile(info, io.BytesIO(b"ab"))
    return buf.getvalue()


def zipped(name: str, data: bytes, method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def adb_backup(tar: bytes, compress: bool) -> bytes:
    """An unencrypted adb backup: its four header lines, then the tar (zlib-compressed or not)."""
    head = b"ANDROID BACKUP\n5\n" + (b"1" if compress else b"0") + b"\nnone\n"
    return head + (zlib.compress(tar) if compress else tar)


TAR = ["CONTAINER_TAR_CORRUPT"]
STREAMED = ["CONTAINER_CORRUPT", *TAR]  # no known end: the member is read and ends early, then the tar
BACKUP = ["BACKUP_TRUNCATED"] * 2  # the same for an adb backup (the member's read, then the stream)


def variants() -> dict[str, tuple[bytes, list[str], bool]]:
    """name -> (bytes, the input's error codes, WeChat found before the bad member)."""
    plain = wechat_then_huge()
    app_tar = wechat_then_huge(prefix="apps/com.tencent.mm/a/", name="../../com.x/f/b.txt")
    out = {
        "plain.tar": (plain, TAR, True),
        "in-stored.zip": (zipped("pull/F1.tar", plain, zipfile.ZIP_STORED), TAR, True),
        "in-deflated.zip": (zipped("pull/F1.tar", plain, zipfile.ZIP_DEFLATED), STREAMED, True),
        "in-tar.tar": (tar_of([("inner/F1.tar", plain)]) + bytes(1024), TAR, True),
        "plain.tar.gz": (gzip.compress(plain), STREAMED, True),
        "pax-2e70.tar": (pax_size(1 << 70), TAR, False),
        "pax-2e70.tar.gz": (gzip.compress(pax_size(1 << 70)), TAR, False),
        "deflated.ab": (adb_backup(app_tar, True), BACKUP, True),
        "stored.ab": (adb_backup(app_tar, False), BACKUP, True),
    }
    for kind in "07DSZ":
        out[f"type-{kind}.tar"] = (huge_then_wechat(kind.encode()), TAR, False)
    for exp in (63, 64, 70, 80):
        out[f"size-2e{exp}.tar"] = (wechat_then_huge(1 << exp), TAR, True)
    return out


def test_every_huge_declared_size_ends_its_input_and_the_batch_goes_on(tmp_path):
    cases = variants()
    paths = []
    for name, (data, _, _) in cases.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    out = tmp_path / "scan.json"
    # a walk budget far past the subprocess's bound: the fix, not the clock, must end each one
    proc = run("scan", "-j1", "--no-store", "-q", "--walk-timeout", "3600", "--json", out, *paths, TIKTOK)
    doc = json.loads(out.read_text())
    assert proc.returncode == 1 and not doc["interrupted"], proc.stderr
    errors: dict[str, list[str]] = {}
    for e in doc["errors"]:
        errors.setdefault(e["source"]["outermost"], []).append(e["code"])
    found: dict[str, list[str]] = {}
    for app in doc["apps"]:
        found.setdefault(app["source"]["outermost"], []).append(app["package"])
    got = {name: (errors.get(str(tmp_path / name)), found.get(str(tmp_path / name), [])) for name in cases}
    want = {name: (codes, ["com.tencent.mm"] if wechat_first else []) for name, (_, codes, wechat_first) in cases.items()}
    assert got == want
    assert found[str(TIKTOK)] == ["com.zhiliaoapp.musically"]


def test_in_place_tar_refuses_the_member_without_skipping_through_it(tmp_path):
    """A tar whose bytes lie in a local file (or stored in a ZIP, or in a tar) has a known end: the
    member whose data would end past it is refused from its header alone, and says so."""
    path = tmp_path / "plain.tar"
    path.write_bytes(wechat_then_huge())
    out = tmp_path / "scan.json"
    run("scan", "-j1", "--no-store", "-q", "--json", out, path)
    (err,) = json.loads(out.read_text())["errors"]
    assert err["code"] == "CONTAINER_TAR_CORRUPT"
    end = len(tar_of([("wechat.apk", WECHAT)])) + 512 + HUGE
    assert f"'b.txt' declares data up to offset {end}, past the archive's" in err["message"]
