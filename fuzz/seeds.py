"""Fill fuzz/corpus_<target>/ with seeds: the signed fixtures, an app bundle (``tiktok.aab``) and the
hostile corpus (``sources``: the container and backup fixtures, the bundle among them, each
backup-app folder layout also as a ZIP of it)."""

import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("androidqf", "neo", "oandbackup", "swift", "titanium")  # folders under fixtures/backups


def _zipped(folder: Path) -> bytes:
    """``zip -r`` of a folder (stored entries: the fuzzer mutates names and headers, not deflate)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder.parent).as_posix())
    return buf.getvalue()


def _sources(out: Path) -> Path:
    files = [f for d in ("containers", "backups") for f in sorted((ROOT / "fixtures" / d).rglob("*"))
             if f.is_file() and f.suffix not in (".py", ".pyc") and f.stat().st_size <= 128 * 1024]
    for f in files:
        (out / "-".join(f.relative_to(ROOT / "fixtures").parts)).write_bytes(f.read_bytes())
    for name in LAYOUTS:
        (out / f"layout-{name}.zip").write_bytes(_zipped(ROOT / "fixtures" / "backups" / name))
    (out / "clean-v1v2v3.apk").write_bytes((ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk").read_bytes())
    return out


def seed(target: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    if target == "sources":
        return _sources(out)
    files = sorted((ROOT / "fixtures" / "apks").glob("*.apk")) + sorted((ROOT / "fixtures" / "hostile" / "cases").iterdir())
    if target != "manifest":  # an app bundle: identify reads its proto manifests (the manifest target is AXML's)
        files.append(ROOT / "fixtures" / "containers" / "tiktok.aab")
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
