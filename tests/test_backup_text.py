"""Text evidence reader: dumpsys package and pm list packages, on the fixtures and hostile text."""

from __future__ import annotations

import io

from apkscan.sources.records import recorded_identity
from apkscan.sources.text_detect import looks_like_text_evidence
from apkscan.sources.text_evidence import TextEvidenceReader, java_cert_hashcode
from backup_helpers import BACKUPS, Collected, pem_der


def read(data: bytes) -> tuple[TextEvidenceReader, Collected]:
    reader = TextEvidenceReader(io.BytesIO(data), ("t.txt",))
    return reader, Collected(reader.entries())


def java_hash_by_definition(der: bytes) -> int:
    """Arrays.hashCode(byte[]) exactly as the JDK defines it, in signed 32-bit arithmetic."""
    h = 1
    for b in der:
        signed = b - 256 if b > 127 else b
        h = 31 * h + signed
        h = (h + 2**31) % 2**32 - 2**31
    return h


def test_java_cert_hashcode():
    der = pem_der("tencent-like")
    assert java_cert_hashcode(der) == format(java_hash_by_definition(der) & 0xFFFFFFFF, "x")
    assert java_cert_hashcode(b"") == "1"
    assert java_cert_hashcode(b"\x00\x01") == format(31 * 31 + 1, "x")  # not zero-padded
    assert java_cert_hashcode(b"\xff") == format((31 - 1) & 0xFFFFFFFF, "x")


def test_dumpsys_fixture():
    data = (BACKUPS / "dumpsys-package.txt").read_bytes()
    assert looks_like_text_evidence(data[:4096])
    reader, got = read(data)
    assert [a.package for a in got.recorded][:3] == ["com.tencent.mm", "com.zhiliaoapp.musically", "com.android.shell"]
    mm = got.app("com.tencent.mm")
    assert (mm.recorded_by, mm.version_code, mm.version_name) == ("dumpsys package", 2080, "8.0.49")
    assert mm.certificates == [] and recorded_identity(mm).origin == "listed"
    assert reader.hashcodes["com.tencent.mm"] == [java_cert_hashcode(pem_der("tencent-like"))]
    assert java_cert_hashcode(pem_der("tencent-like")) in mm.note
    # past signatures are not current signers
    assert reader.hashcodes["com.zhiliaoapp.musically"] == [java_cert_hashcode(pem_der("bytedance-like"))]
    # a hidden system package is the original of an updated system app (listed under Packages: too);
    # one that is not is read (a package's field can print the header: review 40 F1)
    assert "com.google.android.hidden" in [a.package for a in got.recorded]
    assert got.problems == []


def test_pm_list_fixture():
    data = (BACKUPS / "pm-list-packages.txt").read_bytes()
    assert looks_like_text_evidence(data[:4096])
    _, got = read(data)
    assert [a.package for a in got.recorded] == ["com.tencent.mm", "com.zhiliaoapp.musically", "com.android.shell"]
    assert got.app("com.tencent.mm").recorded_by == "pm list packages"
    assert got.app("com.tencent.mm").note == "installer com.android.vending"


def test_pm_list_forms():
    _, got = read(b"package:com.a.b\n"
                  b"package:/data/app/~~x==/com.c.d-y==/base.apk=com.c.d versionCode:42  installer=null uid:1\n"
                  b"package:/data/app/odd=name==/base.apk=com.e.f\n"
                  b"package:/data/app/x/base.apk=\n"
                  b"package:bad/name!\n")
    assert [a.package for a in got.recorded] == ["com.a.b", "com.c.d", "com.e.f"]
    assert got.app("com.c.d").version_code == 42
    assert got.codes == ["TEXT_LINES_UNREADABLE"]


def test_bugreport_only_the_package_service_counts():
    text = (b"========================================================\n== dumpstate: 2026-11-01\n"
            b"DUMP OF SERVICE activity:\nPackages:\n  Package [com.not.this] (abc):\n    versionCode=1\n"
            b"DUMP OF SERVICE package:\nPackages:\n  Package [com.real.one] (abc):\n    versionCode=7 minSdk=1\n"
            b"DUMP OF SERVICE window:\n  Package [com.not.either] (abc):\n")
    assert looks_like_text_evidence(text)
    _, got = read(text)
    # a Packages: section is read in any service (a package's field can print a fake service header
    # before the real section: review 41 F2); a block after one began is read too (review 40 F6)
    assert [a.package for a in got.recorded] == ["com.not.this", "com.real.one", "com.not.either"]
    assert got.app("com.real.one").version_code == 7
    assert any("outside the package service's Packages: section" in i.message for p in got.problems for i in p.issues)


def test_hostile_text():
    assert not looks_like_text_evidence(b"PK\x03\x04\x00package:com.x")
    assert not looks_like_text_evidence(b"hello world\n")
    long_line = b"package:" + b"a" * 200_000 + b"\npackage:com.after.long\n"
    _, got = read(long_line)
    assert [a.package for a in got.recorded] == ["com.after.long"]
    assert sorted(got.codes) == ["TEXT_LIMIT_EXCEEDED", "TEXT_LINES_UNREADABLE"]
    _, got = read(b"Packages:\n  Package [../../x] (1):\n  Package [com.ok] (1f):\n    versionName=\xff\xfe\n")
    assert [a.package for a in got.recorded] == ["com.ok"] and got.app("com.ok").version_name == "\ufffd\ufffd"
    _, got = read(b"Packages:\n  Package [com.sig] (1):\n    signatures=PackageSignatures{1 version:2, "
                  b"signatures:[zzzzzzzzzz, 1a2b], past signatures:[]}\n")
    assert "1a2b" in got.app("com.sig").note and "zzzz" not in got.app("com.sig").note


def test_text_is_read_in_bounded_steps():
    class Recording(io.BytesIO):
        sizes: list = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    data = b"package:com.a.b\n" * 50_000
    stream = Recording(data)
    got = Collected(TextEvidenceReader(stream, ("t",)).entries())
    assert [a.package for a in got.recorded] == ["com.a.b"]  # one record per package
    assert all(0 <= s <= 64 * 1024 for s in stream.sizes) and len(stream.sizes) > 10
