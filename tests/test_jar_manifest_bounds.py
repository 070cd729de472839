"""MANIFEST.MF / .SF parsing: apksig's line semantics, in linear time.

A JAR manifest may be up to 16 MiB (``MAX_METADATA_SIZE``). The parser once looked for the
next CR and the next LF from every line's start, so a manifest with only one kind of line
end rescanned the rest of the file for each line (16 MiB of LF-only lines: hours), and
appended continuation lines to an immutable ``bytes`` (quadratic). Each hostile shape below
runs in a child process with a CPU and an address-space limit, so the old behaviour fails the
test instead of hanging it. No count is refused (apksig reads any, and a signer can write
any): the worst shapes, measured (not run here), are 16 MiB of ``a\\n\\n`` (5.2 million sections:
8 s, 1.1 GB) and of ``a\\n`` (8 million attributes: 3 s, 0.7 GB).
"""

from __future__ import annotations

import io
import random
import re
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.apk.signing.v1 import jar_manifest as jm

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "apks"


def _reference(data: bytes) -> tuple:
    """apksig's ManifestParser written another way (all lines first, then sections), as an oracle.

    A section starts at its first non-empty line and ends after the empty line that closes it
    (or at the end). An attribute is a line (taken whole, even when it starts with a space, as
    the first of a section) plus every following line that starts with a space, minus that space.
    """
    lines, pos = [], 0
    for m in re.finditer(rb"\r\n?|\n", data):
        lines.append((pos, data[pos:m.start()], m.end()))
        pos = m.end()
    if pos < len(data):
        lines.append((pos, data[pos:], len(data)))
    sections, i = [], 0
    while i < len(lines):
        if not lines[i][1]:
            i += 1
            continue
        start, attrs = lines[i][0], []
        while i < len(lines) and lines[i][1]:
            value = lines[i][1]
            i += 1
            while i < len(lines) and lines[i][1][:1] == b" ":
                value += lines[i][1][1:]
                i += 1
            name, sep, rest = value.decode("utf-8", "replace").partition(": ")
            attrs.append((name, rest) if sep else (name + rest, ""))
        end = lines[i][2] if i < len(lines) else len(data)  # after the closing empty line
        i += 1
        sections.append(jm.Section(start, end - start, tuple(attrs)))
    return (sections[0] if sections else None), sections[1:]


def _line_by_line(data: bytes):
    """parse() with lines split a few bytes at a time: every window boundary case (a CRLF at a
    window's end, a line longer than the window) is met on small inputs."""
    real = jm.WINDOW
    jm.WINDOW = 3
    try:
        return jm.parse(data)
    finally:
        jm.WINDOW = real


@pytest.mark.parametrize("seed", range(4))
def test_random_manifests_parse_as_the_reference_does(seed):
    rng = random.Random(seed)
    pieces = [b"a", b"Name", b": ", b" ", b"\r", b"\n", b"\r\n", b"\xff", b"\xc3\xa9", b":"]
    for _ in range(3000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40)))
        assert jm.parse(data) == _reference(data) == _line_by_line(data), data


def test_real_manifests_parse_as_the_reference_does():
    seen = 0
    for apk in sorted(FIXTURES.glob("*.apk")):
        try:
            z = zipfile.ZipFile(apk)
        except zipfile.BadZipFile:  # the BadPack fixtures: Python's zipfile refuses them
            continue
        with z:
            for name in z.namelist():
                if name.startswith("META-INF/") and name.endswith((".MF", ".SF")):
                    data = z.read(name)
                    for variant in (data, data.replace(b"\r\n", b"\n"), data.replace(b"\r\n", b"\r")):
                        assert jm.parse(variant) == _reference(variant) == _line_by_line(variant), (apk.name, name)
                    seen += 1
    assert seen >= 20


_CHILD = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from apkscan.apk.signing.v1 import jar_manifest as jm
data = eval(sys.argv[1])
main, sections = jm.parse(data)
print("parsed", len(sections), len(main.attributes) if main else 0)
"""

HOSTILE = {  # 16 MiB shapes (or a real one; MANIFEST.MF/.SF may be 64 MiB, jm.MAX_ITEMS attributes): expected outcome
    "empty lines (LF)": ("b'\\n' * (16 << 20)", "parsed 0 0"),
    "empty lines (CR)": ("b'\\r' * (16 << 20)", "parsed 0 0"),
    "LF-only sections": ("b'Manifest-Version: 1.0\\n\\n' + (b'Name: ' + b'x' * 100 + b'\\nSHA-256-Digest: ' + b'A' * 44 + b'\\n\\n') * 100000",
                         "parsed 100000 1"),  # a real shape: was quadratic
    "continuation lines": ("b'A: 1\\n' + b' a\\n' * (5 << 20)", "parsed 0 1"),  # one attribute: was quadratic
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_hostile_manifest_is_bounded(shape):
    expr, expected = HOSTILE[shape]
    done = subprocess.run([sys.executable, "-c", _CHILD, expr], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]  # killed by the CPU limit, or a MemoryError
    assert done.stdout.strip() == expected


def _with_manifest(src: Path, dst: Path, manifest: bytes) -> Path:
    """The same APK with its MANIFEST.MF replaced (its v2/v3 signatures now fail too: fine here)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = manifest if info.filename == jm.MANIFEST_NAME else zin.read(info)
            zout.writestr(info, data)
    return dst


def test_apk_with_a_huge_manifest_is_read_not_refused(tmp_path):
    """4 million one-byte attribute lines: read (no count is refused, as apksig refuses none);
    this copy's digests no longer match, so v1 fails for that reason, and the rest is read."""
    apk = _with_manifest(FIXTURES / "v1-only.apk", tmp_path / "huge-manifest.apk", b"a\n" * (4 << 20))
    identity = identify(str(apk))
    v1 = identity.verification.schemes["v1"]
    assert not v1.verified and v1.all_errors()
    assert not any(i.code == "INTERNAL_ERROR" for i in identity.errors)
    assert identity.manifest is not None and identity.manifest.package


_FOLD_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from apkscan.apk.signing.v1 import jar_manifest as jm
from apkscan.issues import LimitExceeded
main, sections = jm.parse(eval(sys.argv[1]))
print(len(sections), main.get("SHA-256-Digest-Manifest") is None)
"""


_REST = b"\nSHA-256-Digest-Manifest: AAAA\n\nName: a\nSHA-256-Digest: AAAA\n\n"


@pytest.mark.parametrize("line", ["b'\\\\xff' * (60 << 20)", "'\\u0436'.encode() * (30 << 20)"])
def test_a_huge_non_ascii_attribute_name_is_read_in_bounds(line):
    """Review 45 F1: one 60 MiB line of 0xFF (or 30M 'ж') with no ': ', the main section's name,
    was decoded one Python call per byte and case-folded one character at a time, twice:
    56 s and 5.8 GB for a 64 KB APK. Now under 20 s of CPU and 1.5 GB of address space."""
    data = f"{line} + {_REST!r}"
    done = subprocess.run([sys.executable, "-c", _FOLD_CHILD, data], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "False"]


def test_jfold_folds_as_java_and_leaves_long_names_alone():
    assert jm.jfold("ſHA-256-DıGEST") == "sha-256-digest" and jm.jfold("\u212aey") == "key"
    assert jm.jfold("İ") == "i" and jm.jfold("ß") == "ß"
    long = "Ж" * (jm.FOLDED_MAX + 1)
    assert jm.jfold(long) == long  # never a name apkscan looks up


def test_digest_algorithms_are_walked_lazily_and_capped():
    """Review 45 F5: 20M tokens were split into one list (1.6 GB). Walked one at a time; past
    MAX_DIGEST_ALGORITHMS tokens with no usable one the manifest is an input limit, never a verdict."""
    from apkscan.issues import LimitExceeded

    def section(algs: str):
        main, sections = jm.parse(f"Manifest-Version: 1.0\n\nName: a\nDigest-Algorithms: {algs}\n"
                                  "SHA1-Digest: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n".encode())
        return sections[0]

    found = jm.digests_to_verify(section("ab " * (jm.MAX_DIGEST_ALGORITHMS - 1) + "SHA1"), "-Digest", 9, 9)
    assert [d.algorithm for d in found] == ["SHA-1"]
    with pytest.raises(LimitExceeded) as info:
        jm.digests_to_verify(section("ab " * jm.MAX_DIGEST_ALGORITHMS + "SHA1"), "-Digest", 9, 9)
    assert info.value.code == "INPUT_JAR_MANIFEST_LIMIT"
