"""dumpsys ``PackageSignatures`` lines are read in linear time (reviewer's r04).

The signature list was found with a regex whose lazy ``[^}]*?`` and ``[^\\]]*`` backtracked
cubically over a 16 KB line of repeated ``signatures=PackageSignatures{signatures:[``
(2 lines: 3.8 s; 10 lines: 19 s; a 1 GiB file: ~35 h), and it was searched on every line of a
package block, even after the package's hashes were known.
"""

from __future__ import annotations

import io
import random
import re

from apkscan.sources.text_evidence import TextEvidenceReader, signature_list
from backup_helpers import Collected
from limited_child import assert_finished, run_limited

OLD_SIGS_RE = re.compile(r"signatures=PackageSignatures\{[^}]*?\bsignatures:\[([^\]]*)\]")  # the oracle


def _old(line: str) -> str | None:
    m = OLD_SIGS_RE.search(line)
    return m.group(1) if m else None


def test_signature_list_answers_as_the_old_regex():
    rng = random.Random(4)
    pieces = ["signatures=PackageSignatures{", "PackageSignatures{", "signatures:[", "past ", "xsignatures:[",
              "_", "é", "]", "}", "{", "1a2b", ", ", "version:3", "signatures="]
    for _ in range(20000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        assert signature_list(line) == _old(line), line
    real = "signatures=PackageSignatures{9fbbd5c version:3, signatures:[d2e25fd3, -1a2b], past signatures:[]}"
    assert signature_list(real) == _old(real) == "d2e25fd3, -1a2b"


_CHILD = """
import io
from apkscan.sources.text_evidence import TextEvidenceReader
unit = "signatures=PackageSignatures{signatures:["
hostile = "    " + (unit * (16000 // len(unit) + 1))[:16000]
text = ("Packages:\\n  Package [com.example.app] (1a2b3c):\\n" + (hostile + "\\n") * 20
        + "    signatures=PackageSignatures{1 version:3, signatures:[d2e25fd3], past signatures:[]}\\n"
        + "  Package [com.next] (2):\\n" + (hostile + "\\n") * 20)
reader = TextEvidenceReader(io.BytesIO(text.encode()), ("dumpsys.txt",))
for entry in reader.entries():
    print(type(entry).__name__, getattr(entry, "package", ""), [i.code for i in getattr(entry, "issues", [])],
          [i.message for i in getattr(entry, "issues", [])])
print("hashcodes", reader.hashcodes)
"""


def test_hostile_signature_lines_are_linear_and_reported():
    """40 lines of 16 KB: the old regex needs over a minute of CPU (killed at 10 s); now a warning."""
    out = assert_finished(run_limited(_CHILD, cpu=10, mem_mb=400)).splitlines()
    assert out == [
        "RecordedApp com.example.app [] []",
        "RecordedApp com.next [] []",
        "InputProblem  ['TEXT_LINES_UNREADABLE'] [\"40 'PackageSignatures' lines without a signature list\"]",
        "hashcodes {'com.example.app': ['d2e25fd3']}",
    ]


def test_a_package_with_hashes_skips_later_signature_lines():
    data = (b"Packages:\n  Package [com.sig] (1):\n"
            b"    signatures=PackageSignatures{1 version:2, signatures:[1a2b], past signatures:[]}\n"
            b"    signatures=PackageSignatures{signatures:[\n"  # after the hashes: not looked at
            b"    signatures=PackageSignatures{2 version:2, signatures:[3c4d]}\n")
    reader = TextEvidenceReader(io.BytesIO(data), ("t.txt",))
    got = Collected(reader.entries())
    assert reader.hashcodes == {"com.sig": ["1a2b"]} and got.codes == []


_MANY_HASHES = """
import io
from apkscan.sources.text_evidence import TextEvidenceReader
line = "    signatures=PackageSignatures{1 version:3, signatures:[" + ", ".join(["ab"] * 4000) + "]}\\n"
text = "Packages:\\n" + "".join(f"  Package [com.app{i}] (1):\\n" + line for i in range(3000))
text += "  Package [com.tencent.mm] (1):\\n    signatures=PackageSignatures{1 version:3, signatures:[1a2b]}\\n"
reader = TextEvidenceReader(io.BytesIO(text.encode()), ("dumpsys.txt",))
apps = [e for e in reader.entries() if type(e).__name__ == "RecordedApp"]
print(len(apps), apps[-1].package, reader.hashcodes["com.tencent.mm"], reader.hashcodes["com.app0"][-2:])
"""


def test_signature_hashcodes_are_kept_to_a_cap_per_package():
    """Review 45 F3: every hashcode of every package was kept and joined into its note, in the
    walker: 18,000 packages listing 4,000 each (295 MB) took 7.5 GB. Now 16 a package and a count."""
    out = assert_finished(run_limited(_MANY_HASHES, cpu=60, mem_mb=600)).split()
    assert out[:3] == ["3001", "com.tencent.mm", "['1a2b']"] and out[3:] == ["['ab',", "'and", "3984", "more']"]


def test_blank_lines_are_not_counted_against_the_line_budget():
    """Review 45 F6: 5M blank lines before WeChat's line spent MAX_LINES; it went unnamed (exit 3)."""
    from apkscan.sources import text_evidence

    data = b"package:com.example.a\n" + b"\n" * (text_evidence.MAX_LINES + 10) + b"\r\n" * 1000 + \
        b"package:com.tencent.mm\n"
    reader = TextEvidenceReader(io.BytesIO(data), ("pm.txt",))
    got = Collected(reader.entries())
    assert [a.package for a in got.recorded] == ["com.example.a", "com.tencent.mm"] and got.codes == []


def test_packages_past_the_cap_are_said_even_when_gone_packages_make_room(monkeypatch):
    """Review 47 F2: at the app cap, with 10 packages installed for no user deleted afterwards,
    WeChat past the cap was dropped silently (rc 0): the check looked at the count after the deletion."""
    from apkscan.sources import text_evidence

    monkeypatch.setattr(text_evidence, "MAX_APPS", 20)
    gone = "".join(f"  Package [org.gone.g{i}] (1):\n    User 0: ceDataInode=1 installed=false hidden=false\n"
                   for i in range(10))
    fill = "".join(f"  Package [org.fill.f{i}] (1):\n" for i in range(10))
    text = f"Packages:\n{gone}{fill}  Package [com.tencent.mm] (1):\n    versionCode=1\n"
    got = Collected(TextEvidenceReader(io.BytesIO(text.encode()), ("dumpsys.txt",)).entries())
    assert "com.tencent.mm" not in [a.package for a in got.recorded] and len(got.recorded) == 10
    said = [i.message for p in got.problems for i in p.issues if i.code == "TEXT_LIMIT_EXCEEDED"]
    assert said == ["more than 20 packages; 1 more package lines ignored (first: 'com.tencent.mm')"]


def test_a_records_note_reaches_the_reports(scan_path, tmp_path):
    """Review 47 F4: the note of a listed app (its dumpsys signature hashcodes, or that only the
    8-bit reading named it) was dropped by recorded_identity: no report carried it."""
    import json

    folder = tmp_path / "ev"
    folder.mkdir()
    (folder / "dumpsys.txt").write_bytes(
        b"Packages:\n  Package [com.tencent.mm] (1a):\n    versionCode=1\n"
        b"    signatures=PackageSignatures{1 version:3, signatures:[d2e25fd3], past signatures:[]}\n")
    from pathlib import Path

    from apkscan.report import html

    doc = scan_path(folder)
    note = doc["apps"][0]["identity"]["record_note"]
    assert "signature hashcodes" in note and "d2e25fd3" in note
    page = io.StringIO()
    html.render(doc, page)
    assert "Record note" in page.getvalue() and "d2e25fd3" in page.getvalue()
    apk = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "clean-v1v2v3.apk"
    assert "record_note" not in json.dumps(scan_path(apk)["apps"][0]["identity"])  # an APK's: unchanged
