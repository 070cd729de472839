"""Fill fuzz/corpus_<target>/ with seeds: the signed fixtures and the hostile corpus."""

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seed(target: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    files = sorted((ROOT / "fixtures" / "apks").glob("*.apk")) + sorted((ROOT / "fixtures" / "hostile" / "cases").iterdir())
    for f in files:
        data = f.read_bytes()
        if target == "manifest":
            try:
                with zipfile.ZipFile(f) as z:
                    data = z.read("AndroidManifest.xml")
            except Exception:  # noqa: BLE001 - hostile seeds are not all ZIPs
                continue
        if len(data) <= 128 * 1024:
            (out / f.name).write_bytes(data)
    return out


if __name__ == "__main__":
    print(seed(sys.argv[1], Path(sys.argv[2])))
