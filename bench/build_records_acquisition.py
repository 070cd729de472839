"""An AndroidQF acquisition folder whose packages.json holds N records, each with one file and a
certificate whose subject and issuer are 208 characters (review 61 F3's shape: 100,000 of them
are 62.5 MiB, within the JSON caps). For measuring what the records cost the run's parent:

    python bench/build_records_acquisition.py /tmp/qf10k 10000
    /usr/bin/time -f "%e s %M KB" python -m apkscan scan -j1 --no-store -q --json /tmp/qf.json /tmp/qf10k
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def build(out: Path, count: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "acquisition.json").write_text(json.dumps({"uuid": "bench", "androidqf_version": "1.7.0"}))
    subject = "CN=" + "S" * 205
    records = []
    for i in range(count):
        digest = hashlib.sha256(b"%d" % i).hexdigest()
        cert = {"Sha256": digest, "Subject": subject, "Issuer": subject}
        records.append({"name": f"com.bench.p{i}", "files": [{"sha256": digest, "certificate": cert}]})
    raw = json.dumps(records)
    (out / "packages.json").write_text(raw)
    return len(raw)


if __name__ == "__main__":
    size = build(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{sys.argv[1]}/packages.json: {int(sys.argv[2])} records, {size / 2 ** 20:.1f} MiB")
