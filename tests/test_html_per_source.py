"""The HTML report's per-source table has a row for every input that failed or held apps other
than a lone APK: a backup that could not be opened (wrong password), one cut short, a device's
package listing with prohibited apps, an APK that could not be read (review 69 F2: the table
showed one row of four, and 1 error of the 4 the errors tile counts)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from apkscan.report import html
from backup_helpers import AbWriter
from cli_helpers import ROOT, fixture, run


def test_every_failed_or_listing_input_has_its_row_and_the_errors_add_up(tmp_path, monkeypatch):
    monkeypatch.setenv("APKSCAN_BACKUP_PASSWORD", "fleet-pw")
    fleet = tmp_path / "fleet"
    for d in ("alice", "bob", "carol", "dave", "erin"):
        (fleet / d).mkdir(parents=True)
    with open(fleet / "alice" / "backup.ab", "wb") as f, AbWriter(f, password="not-the-one", seed=1) as w:
        w.add("apps/com.tencent.mm/a/base.apk", fixture("wechat-impostor.apk").read_bytes())
    b = io.BytesIO()
    with AbWriter(b, seed=2) as w:
        w.add("apps/com.example.clean/a/base.apk", fixture("clean-v1v2v3.apk").read_bytes())
    (fleet / "bob" / "backup.ab").write_bytes(b.getvalue()[: len(b.getvalue()) // 2])
    (fleet / "carol" / "dumpsys.txt").write_bytes((ROOT / "fixtures" / "backups" / "dumpsys-package.txt").read_bytes())
    (fleet / "dave" / "base.apk").write_bytes(fixture("clean-v1v2v3.apk").read_bytes()[:3000])
    (fleet / "erin" / "base.apk").write_bytes(fixture("clean-v1v2v3.apk").read_bytes())  # scanned: no row
    res = run("scan", fleet, "--no-store", "-j1", "-q", "--json", tmp_path / "s.json", "--html", tmp_path / "s.html")
    assert res.returncode == 1, res.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    ctx = html.context(doc)
    rows = {Path(r["name"]).parent.name: r for r in ctx["containers"]}
    assert set(rows) == {"alice", "bob", "carol", "dave"}, rows
    assert sum(r["errors"] for r in rows.values()) == ctx["counts"]["errors"] == len(doc["errors"]) >= 4
    assert rows["alice"]["errors"] >= 1 and rows["bob"]["errors"] >= 1 and rows["dave"]["errors"] == 1
    assert rows["carol"]["flagged"] and rows["carol"]["counts"]["prohibited"] >= 1
    page = (tmp_path / "s.html").read_text()
    assert all(f"{d}/" in page for d in ("alice", "bob", "carol", "dave"))
