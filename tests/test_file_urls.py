"""A ``file://`` URL input is the local path it names (review 66 F3): with ``--dask local:2`` it
gets every output check a path gets (reports, ``--jsonl``, the store and ``--tmp-dir`` never inside
it, an evidence file never replaced even with ``--force``), custody records, and reads that leave
access times alone; the documents equal a run given the path."""

from __future__ import annotations

import json
import os
import shutil
import tarfile

import pytest

from cli_helpers import fixture, run

pytest.importorskip("distributed")
OLD = 978_307_200  # 2001: any read with relatime moves an access time this old


def _evidence(tmp_path):
    ev = tmp_path / "ev"
    (ev / "sub").mkdir(parents=True)
    for name in ("clean-v1v2v3.apk", "wechat-impostor.apk"):
        shutil.copyfile(fixture(name), ev / name)
    shutil.copyfile(fixture("v2-only.apk"), ev / "sub" / "v2-only.apk")
    (ev / "pm.txt").write_text("package:com.tencent.mm\n")
    with tarfile.open(ev / "pull.tar.gz", "w:gz") as tar:
        tar.add(fixture("ec-v2v3.apk"), "x/ec.apk")
    for root, dirs, files in os.walk(ev):
        for n in [*dirs, *files, "."]:
            p = os.path.join(root, n)
            os.utime(p, ns=(OLD * 10**9, os.lstat(p).st_mtime_ns))
    return ev


def _snapshot(ev):
    out = {}
    for root, dirs, files in os.walk(ev):
        for n in [*dirs, *files, "."]:
            st = os.lstat(os.path.join(root, n))
            out[os.path.normpath(os.path.join(root, n))] = (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return out


def test_outputs_inside_a_file_url_are_refused_as_inside_its_path(tmp_path):
    ev = _evidence(tmp_path)
    before = _snapshot(ev)
    url = ev.as_uri() + "/"
    for extra in (["--json", ev / "r.json"], ["--force", "--csv", ev / "pm.txt"], ["--jsonl", ev / "sub" / "s.jsonl"],
                  ["--store", ev / "store.sqlite"], ["--tmp-dir", ev / "tmp"], ["--json", ev / "r.json", f"local://{ev}"]):
        res = run("scan", "--dask", "local:2", "-q", *extra, url)
        assert res.returncode == 2, (extra, res.stderr)
        assert "Error: USAGE_OUTPUT_REFUSED: " in res.stderr, res.stderr
        assert _snapshot(ev) == before, extra  # nothing new, replaced or read
    assert (ev / "pm.txt").read_text() == "package:com.tencent.mm\n"


def test_a_file_url_on_dask_is_scanned_as_its_path_with_custody_and_no_access_time_moved(tmp_path):
    ev = _evidence(tmp_path)
    before = _snapshot(ev)
    docs = {}
    for name, given in (("url", ev.as_uri()), ("path", str(ev))):
        out = tmp_path / f"{name}.json"
        res = run("scan", "--dask", "local:2", "-q", "--no-store", "--json", out, given)
        assert res.returncode == 1, res.stderr  # the impostor is prohibited
        docs[name] = json.loads(out.read_text())
        for key in ("started_at", "finished_at"):
            docs[name].pop(key)
    assert _snapshot(ev) == before  # access times too: read through the no-atime open
    assert docs["url"] == docs["path"]
    files = {os.path.relpath(f["path"], ev): (f["kind"], f["hashed"]) for f in docs["url"]["input_files"]}
    assert files == {"clean-v1v2v3.apk": ("apk", "this run"), "wechat-impostor.apk": ("apk", "this run"),
                     "sub/v2-only.apk": ("apk", "this run"), "pm.txt": ("text-evidence", "this run"),
                     "pull.tar.gz": ("gzip", "this run")}
    assert all(len(f["sha256"]) == 64 for f in docs["url"]["input_files"])
    assert {a["package"] for a in docs["url"]["apps"]} >= {"com.tencent.mm", "com.example.clean"}


@pytest.mark.parametrize("url, said", [
    ("file://evidence-host/share/pull/", "must name an absolute path"),
    ("file:///cases/a%20b/", "%-escapes"),
    ("zip://a.apk::file:///cases/pull.zip", "chained over a local file"),
])
def test_a_local_url_whose_file_is_ambiguous_is_a_usage_error(url, said):
    res = run("scan", "--dask", "local:2", "--no-store", url)
    assert res.returncode == 2 and "Error: USAGE_BAD_VALUE: " in res.stderr and said in res.stderr, res.stderr
