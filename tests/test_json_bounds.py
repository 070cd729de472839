"""JSON documents from users are bounded in values before ``json.loads`` (reviewer's r05).

``[[],[],...]`` costs ~26 bytes of Python objects per input byte: the 64 MiB cap of an
AndroidQF ``packages.json`` let 1.7 GB through, the 1 GiB cap of ``apkscan report`` and
``apkscan diff`` ~27 GB (diff loads two). :mod:`apkscan.jsonbound` counts the values first.
Each hostile document below is 48 MiB, read by the real command in a child process limited
to 1 GiB of address space: the old code runs out of memory (a MemoryError traceback), the
new one refuses the document with its command's code and exit status.
"""

from __future__ import annotations

import json
import shutil
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apkscan import jsonbound
from apkscan.cli.report_cmd import load_result
from apkscan.diff import load_document
from cli_helpers import APKS, invoke
from limited_child import run_limited

AMPLIFYING = b"[" + b"[]," * ((48 << 20) // 3) + b"[]]"  # 48 MiB, ~33.5M values
_CLI = """
import runpy, sys
sys.argv = ["apkscan", *sys.argv[1:]]
runpy.run_module("apkscan", run_name="__main__")
"""


def _cli_limited(*args) -> tuple[int, str]:
    done = run_limited(_CLI, *map(str, args), cpu=60, mem_mb=1024)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr[-2000:]
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def amplifying(tmp_path_factory):
    path = tmp_path_factory.mktemp("amplifying") / "result.json"
    path.write_bytes(AMPLIFYING)
    return path


@pytest.fixture(scope="module")
def real_scan(tmp_path_factory):
    """A real scan document of the fixture APKs (what report and diff are for)."""
    out = tmp_path_factory.mktemp("scan") / "scan.json"
    res = invoke("scan", "--jobs", "1", "--fail-on", "never", "--quiet", APKS, "--json", out)
    assert res.exit_code in (0, 3), res.output
    return out


def test_report_refuses_an_amplifying_document(amplifying, tmp_path):
    code, output = _cli_limited("report", amplifying, "--html", tmp_path / "r.html")
    assert code == 2, output
    assert "DOCUMENT_NOT_A_SCAN: not a JSON scan result: more than 6291456 JSON values in 50331652 bytes" in output
    assert not (tmp_path / "r.html").exists()


def test_diff_refuses_an_amplifying_document(amplifying, real_scan):
    code, output = _cli_limited("diff", real_scan, amplifying)
    assert code == 2, output
    assert "error: DIFF_DOCUMENT_TOO_LARGE: " in output and "more than 6291456 JSON values in 50331652 bytes" in output


def test_androidqf_refuses_an_amplifying_packages_json_and_goes_on(tmp_path):
    acq = tmp_path / "acq"
    (acq / "apks").mkdir(parents=True)
    shutil.copy(APKS / "clean-v1v2v3.apk", acq / "apks" / "com.example_1.apk")
    (acq / "packages.json").write_bytes(AMPLIFYING)
    code, output = _cli_limited("scan", "--jobs", "1", "--fail-on", "never", "--json", tmp_path / "o.json", acq)
    assert code == 3, output  # an input error; the APK beside it is still scanned
    doc = json.loads((tmp_path / "o.json").read_text())
    (error,) = doc["errors"]
    assert error["code"] == "ANDROIDQF_PACKAGES_INVALID" and error["source"]["path"] == "packages.json"
    assert error["message"].startswith("refused unparsed: more than 2000000 JSON values in 50331652 bytes (at most 2000000,")
    assert [a["source"]["path"] for a in doc["apps"]] == ["apks/com.example_1.apk"]


def test_commas_inside_strings_never_refuse_a_real_document(real_scan, tmp_path):
    """Labels and certificate subjects are attacker-chosen text: a document dense in commas and
    brackets only inside its strings is counted again without them, and loads."""
    doc = json.loads(real_scan.read_text())
    doc["apps"][0]["identity"]["label"] = ",[{" * 400_000
    path = tmp_path / "commas.json"
    path.write_text(json.dumps(doc, indent=2))
    data = path.read_bytes()
    assert jsonbound.value_bound(data, exact=False) > jsonbound.value_limit(len(data), 1 << 40)  # the cheap count fails
    assert load_result(str(path)) == doc
    assert load_document(str(path)).apps[0].identity.label == ",[{" * 400_000
    res = invoke("report", path, "--csv", tmp_path / "r.csv")
    assert res.exit_code in (0, 1), res.output


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32-be"])
def test_only_utf8_is_counted_or_read(tmp_path, encoding):
    """U+2200 is the bytes 00 22 in UTF-16-LE: a quote to a byte count, so '["\u2200", [], [], ...]'
    would hide its lists inside a "string". json.loads reads UTF-16/32; apkscan no longer does."""
    text = '["\u2200", ' + ", ".join(["[]"] * 50_000) + "]"
    data = text.encode(encoding)
    assert json.loads(data)[0] == "\u2200"  # what json.loads alone would have built
    with pytest.raises(ValueError, match="only UTF-8 is read"):
        jsonbound.loads(data, 1 << 30)
    path = tmp_path / "utf16.json"
    path.write_bytes(data)
    res = invoke("report", path, "--csv", tmp_path / "r.csv")
    assert res.exit_code == 2 and "DOCUMENT_NOT_A_SCAN: not a JSON scan result: JSON in utf-" in res.output
    for utf8 in ("utf-8", "utf-8-sig"):  # UTF-8, BOM or not, reads as before
        assert jsonbound.loads('["\u2200", [], []]'.encode(utf8), 1 << 30) == ["\u2200", [], []]


def test_real_documents_are_far_from_the_bound(real_scan):
    data = real_scan.read_bytes()
    assert len(data) / jsonbound.value_bound(data) > 4 * jsonbound.MIN_BYTES_PER_VALUE
    packages = APKS.parent / "backups" / "androidqf"
    for path in packages.rglob("packages.json"):
        raw = path.read_bytes()
        assert len(raw) / jsonbound.value_bound(raw) > 2 * jsonbound.MIN_BYTES_PER_VALUE


_TEXT = st.text(alphabet=st.sampled_from(list(',[]{}":\\ aé\n\x00\u2028')), max_size=12)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
                     max_leaves=30)


def _values(v) -> tuple[int, int]:
    """(values, empty containers) of a parsed document."""
    children = list(v.values()) if isinstance(v, dict) else v if isinstance(v, list) else None
    if children is None:
        return 1, 0
    counts = [_values(c) for c in children]
    return 1 + sum(c[0] for c in counts), (not children) + sum(c[1] for c in counts)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.sampled_from([None, 0, 2]), st.booleans())
def test_the_exact_bound_is_the_values_plus_the_empty_containers(value, indent, ascii_only):
    data = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode()
    values, empty = _values(json.loads(data))
    assert jsonbound.value_bound(data) == values + empty
    assert jsonbound.value_bound(data, exact=False) >= values + empty
    for chunk in (1, 2, 3, 5):  # chunk ends inside strings, escapes and runs of backslashes
        with patch.object(jsonbound, "CHUNK", chunk):
            assert jsonbound.value_bound(data) == values + empty, chunk


_STRINGS_CHILD = """
import sys
from apkscan import jsonbound
shape = eval(sys.argv[1])
data = shape * ((16 << 20) // len(shape))
print(jsonbound.value_bound(data) >= 1)
"""


@pytest.mark.parametrize("shape", ['b\'"\\\\"\'', "b'\"'", "b'\\\\\"'", "b'\"\\\\\\\\\"'", "b'\"a,'"])
def test_the_exact_count_is_linear_on_any_quoting(shape):
    """Unterminated strings and runs of escapes: every quote starts a match that succeeds, so the
    string-stripping pass never retries from inside a string (16 MiB in a few seconds at most)."""
    done = run_limited(_STRINGS_CHILD, shape, cpu=30, mem_mb=600)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]
