"""A hot SQLite rollback journal made from a real database file (review 89 F1's attack).

SQLite, opening a database whose ``<name>-journal`` is hot (a valid header, no process holding
the lock), writes the journal's pages back into the database before it reads anything, and cuts
the file to the size the header names. A journal holding every page of another database
therefore turns the opened file into that database, whatever it held.

Format (sqlite.org/fileformat2.html, "The Rollback Journal"): a header padded to one sector (the
magic, the record count, a checksum nonce, the database's page count before the transaction,
the sector and page sizes, big-endian), then one record per page: its number, its bytes, and a
checksum of the nonce plus every 200th byte of the page counted back from 200 before its end.
"""

from __future__ import annotations

import os
import struct

MAGIC = bytes.fromhex("d9d505f920a163d7")
SECTOR = 512


def page_size(db: bytes) -> int:
    """The page size a database file's header says (1 means 65,536)."""
    size = struct.unpack(">H", db[16:18])[0]
    return 65536 if size == 1 else size


def record_checksum(page: bytes, nonce: int) -> int:
    total, at = nonce, len(page) - 200
    while at > 0:
        total += page[at]
        at -= 200
    return total & 0xFFFFFFFF


def hot_journal(db: bytes, nonce: int = 0x5EED0089) -> bytes:
    """A journal that rolls any database back to the bytes of ``db`` (every page, in order)."""
    size = page_size(db)
    assert len(db) % size == 0 and len(db) >= size, "a whole number of pages"
    pages = len(db) // size
    out = bytearray((MAGIC + struct.pack(">IIIII", pages, nonce, pages, SECTOR, size)).ljust(SECTOR, b"\0"))
    for number in range(1, pages + 1):
        page = db[(number - 1) * size:number * size]
        out += struct.pack(">I", number) + page + struct.pack(">I", record_checksum(page, nonce))
    return bytes(out)


def plant_journal(source: os.PathLike, target_db: os.PathLike) -> str:
    """Write ``<target_db>-journal`` holding ``source``'s pages (``source`` checkpointed, no WAL)."""
    journal = os.fspath(target_db) + "-journal"
    with open(source, "rb") as fh:
        data = fh.read()
    with open(journal, "wb") as fh:
        fh.write(hot_journal(data))
    return journal


def scan_apps(ev, *store: str) -> tuple[int, dict[str, str], str]:
    """``apkscan scan ev *store`` in-process (connections closed after): exit code, each app as
    ``{file name: "package verdict"}``, stderr."""
    import json

    from click.testing import CliRunner

    from apkscan.batch import store as st
    from apkscan.cli import main

    out = ev.parent / "r.json"
    res = CliRunner().invoke(main, ["scan", str(ev), *store, "-q", "--json", str(out)])
    st.close_connections()
    assert res.exit_code in (0, 1), res.output
    apps = {a["source"]["path"].rsplit("/", 1)[-1]: f"{a['package']} {a['verdict']}"
            for a in json.loads(out.read_text())["apps"]}
    return res.exit_code, apps, res.stderr


BANNED, CLEAN = "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk"
OLD = 1_600_000_000 * 10**9  # an mtime well in the past: the store's stat keys trust it at once


def banned_and_clean(tmp_path, monkeypatch):
    """``tmp_path/ev`` holding the banned and the clean fixture APK (old mtimes), and where the
    store goes; the store's racy window off and its once-per-process warnings reset."""
    import shutil
    from pathlib import Path

    from apkscan.batch import store as st
    from apkscan.batch import store_writes

    monkeypatch.setattr(st, "RACY_NS", 0)
    monkeypatch.setattr(store_writes, "_TOLD", set())  # STORE_ROW_IGNORED is said once per process
    apks = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
    ev = tmp_path / "ev"
    ev.mkdir()
    for name in (BANNED, CLEAN):
        shutil.copy(apks / name, ev / name)
        os.utime(ev / name, ns=(OLD, OLD))
    return ev, tmp_path / "s.sqlite"
