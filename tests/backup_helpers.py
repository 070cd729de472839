"""Shared helpers for the device-backup reader tests: fixture paths, writers, collectors."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped

REPO = Path(__file__).resolve().parents[1]
BACKUPS = REPO / "fixtures" / "backups"
APKS = REPO / "fixtures" / "apks"
KEYS = REPO / "fixtures" / "keys"
PASSWORD = "apkscan-test"  # documented in fixtures/backups/generate.py

sys.path.insert(0, str(BACKUPS))
from adb_writer import AbWriter, manifest  # noqa: E402,F401


def backup_generator():
    """``fixtures/backups/generate.py`` as its own module (``import generate`` may be the APK builder)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("backup_fixture_generate", BACKUPS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def androidqf_records(root: Path, der: bytes, packages: list[str], *, algorithm: str = "SHA256-RSA",
                      verified: object = True, error: str = "") -> Path:
    """An AndroidQF acquisition folder under ``root`` (no APKs pulled) whose packages.json records
    ``der`` for each package, as AndroidQF writes a certificate: upper-case digests, ``C=.., CN=..``
    names (the fixture generator's writer), the real serial number. ``verified`` is each file's
    ``verified_certificate``; ``None`` leaves the field out, as AndroidQF before it did."""
    acq = root / "acq"
    (acq / "apks").mkdir(parents=True)
    (acq / "acquisition.json").write_text(json.dumps({"uuid": "acq", "androidqf_version": "1.7.0",
                                                      "started": "2026-11-01T10:00:00Z"}))
    qf_name = backup_generator().qf_name
    cert = x509.load_der_x509_certificate(der)
    fields = {"Md5": hashlib.md5(der).hexdigest().upper(), "Sha1": hashlib.sha1(der).hexdigest().upper(),
              "Sha256": hashlib.sha256(der).hexdigest().upper(), "Subject": qf_name(cert.subject),
              "Issuer": qf_name(cert.issuer), "SignatureAlgorithm": algorithm,
              "SerialNumber": str(cert.serial_number)}
    records = []
    for i, package in enumerate(packages):
        entry = {"path": f"/data/app/~~AAAA==/{package}-BBBB==/base.apk", "local_name": "", "md5": "",
                 "sha1": "", "sha256": "", "sha512": "", "error": "", "trusted_certificate": False,
                 "certificate_error": error, "certificate": fields}
        if verified is not None:
            entry["verified_certificate"] = verified
        records.append({"name": package, "installer": "null", "uid": 10300 + i, "disabled": False,
                        "system": False, "third_party": True, "files": [entry]})
    (acq / "packages.json").write_text(json.dumps(records))
    return root


def pem_der(key: str) -> bytes:
    return x509.load_pem_x509_certificate((KEYS / f"{key}.pem").read_bytes()).public_bytes(Encoding.DER)


def pem_sha256(key: str) -> str:
    return hashlib.sha256(pem_der(key)).hexdigest()


def apk_sha256(name: str) -> str:
    return hashlib.sha256((APKS / name).read_bytes()).hexdigest()


def build_ab(entries, **kw) -> bytes:
    """An adb backup in memory from (name, data) pairs, written by the independent fixture writer."""
    out = io.BytesIO()
    with AbWriter(out, **kw) as w:
        for entry in entries:
            w.add(*entry)
    return out.getvalue()


class Collected:
    """Everything a reader yielded; each member is read fully while it is current."""

    def __init__(self, items):
        self.members: dict[str, str] = {}  # name -> sha256 of the bytes
        self.member_errors: dict[str, str] = {}  # name -> error code raised while reading
        self.recorded: list[RecordedApp] = []
        self.problems: list[InputProblem] = []
        self.skipped: list[Skipped] = []
        for item in items:
            if isinstance(item, Member):
                try:
                    with item.open() as f:
                        h = hashlib.sha256()
                        while chunk := f.read(65536):
                            h.update(chunk)
                    self.members[item.name] = h.hexdigest()
                except OSError as exc:
                    self.member_errors[item.name] = getattr(exc, "code", type(exc).__name__)
            elif isinstance(item, RecordedApp):
                self.recorded.append(item)
            elif isinstance(item, InputProblem):
                self.problems.append(item)
            elif isinstance(item, Skipped):
                self.skipped.append(item)
            else:
                raise AssertionError(f"unexpected item {item!r}")

    @property
    def codes(self) -> list[str]:
        return [i.code for p in self.problems for i in p.issues]

    @property
    def skip_counts(self) -> dict[str, int]:
        return {s.reason: s.count for s in self.skipped}

    def app(self, package: str) -> RecordedApp:
        found = [a for a in self.recorded if a.package == package]
        assert len(found) == 1, (package, self.recorded)
        return found[0]


def cert_sha256s(app: RecordedApp) -> list[str]:
    """SHA-256 of each recorded certificate: of the DER when present, else the recorded digest."""
    return [hashlib.sha256(c.der).hexdigest() if c.der else (c.sha256 or "").lower() for c in app.certificates]


class FolderTree:
    """A folder as a sources Tree (test stand-in for the walker's own)."""

    def __init__(self, root: Path, chain: tuple[str, ...] | None = None):
        self.root = root
        self.chain = chain or (str(root),)

    def names(self) -> list[str]:
        out = []
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                out.append(os.path.relpath(os.path.join(dirpath, f), self.root).replace(os.sep, "/"))
        return sorted(out)

    def member(self, name: str) -> Member:
        path = self.root / name
        if not path.is_file():
            raise KeyError(name)
        return Member(name=name, size=path.stat().st_size, open=lambda: path.open("rb"),
                      window=(str(path), 0, path.stat().st_size))


class ZipTree:
    """A ZIP file as a sources Tree (test stand-in)."""

    def __init__(self, data: bytes, chain: tuple[str, ...] = ("acq.zip",)):
        self.zf = zipfile.ZipFile(io.BytesIO(data))
        self.chain = chain

    def names(self) -> list[str]:
        return sorted(i.filename for i in self.zf.infolist() if not i.is_dir())

    def member(self, name: str) -> Member:
        info = self.zf.getinfo(name)
        return Member(name=name, size=info.file_size, open=lambda: self.zf.open(info))


def zip_folder(root: Path, top: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in FolderTree(root).names():
            z.write(root / name, f"{top}/{name}" if top else name)
    return buf.getvalue()


TAR_BLOCK = 512


def ustar(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    """One ustar header for a member of ``size`` bytes (the tests that hide members in a tar write their own data)."""
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime, info.mode = size, kind, 0, 0o600
    return info.tobuf(tarfile.USTAR_FORMAT)


def pad(data: bytes) -> bytes:
    """``data`` padded with zeros to tar's 512-byte blocks."""
    return data + b"\0" * (-len(data) % TAR_BLOCK)
