"""Review 90 F3: a scan whose inputs hold the rule cache (``scan ~``) writes no cache entry into
them, from its pool workers either. The parent was told (``cache.read_only``); a worker started
with ``spawn`` (every platform but Linux) began afresh and wrote the regex book into the input.
Forced here with ``spawn`` on Linux: the same pool, real APKs, a real cache folder in the input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cli_helpers import ROOT, copy

SPAWNED = """import multiprocessing, sys
if __name__ == "__main__":
    _get = multiprocessing.get_context
    multiprocessing.get_context = lambda method=None: _get("spawn")
    from apkscan.cli import main
    sys.argv = ["apkscan", *sys.argv[1:]]
    main()
"""


def _files(folder) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _dirs, fs in os.walk(folder) for f in fs)


def test_spawned_workers_write_no_cache_into_the_evidence(tmp_path):
    home = tmp_path / "home"
    names = ["clean-v1v2v3.apk", "v1v2.apk", "v2-only.apk", "v3-only.apk", "ec-v2v3.apk",
             "wechat-impostor.apk", "tiktok-bytedance-subject.apk", "debug-signed.apk"]
    for name in names:
        copy(name, home / "apps" / name)
    before = _files(home)
    script = tmp_path / "spawned.py"
    script.write_text(SPAWNED)
    env = dict(os.environ, XDG_CACHE_HOME=str(home / ".cache"), HOME=str(home), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(script), "scan", str(home), "--jobs", "2", "--no-store", "-q",
                          "--json", str(tmp_path / "r.json")], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode in (0, 1), res.stderr
    assert len(json.loads((tmp_path / "r.json").read_text())["apps"]) == len(names)
    assert _files(home) == before, "nothing written into the input"
