"""The lean resources.arsc resolver (apkscan/apk/manifest/arsc.py) against androguard.

Its contract: ``_Resources.resolve`` answers exactly what the androguard path answers (values
per locale *and* issues), or the fast path declines and androguard answers. Every test here
compares the two on real bytes; the crafted tables also check that the fast path answered
where it should (a resolver that always declined would pass the comparisons and be useless).
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arsc_builder as b
from arsc_diff import apk_members, compare, manifest_references, string_ids
from apkscan.apk.manifest import android_manifest
from apkscan.apk.manifest.android_manifest import _Resources, read_manifest
from apkscan.apk.manifest.arsc import MAX_DEPTH, ArscTable

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FIXTURE_APKS = sorted((REPO / "fixtures").rglob("*.apk"))
LABEL = b.rid(0x7F, 1, 0)


def _corpus_apks() -> list[Path]:
    return sorted(CORPUS.rglob("*.apk")) if CORPUS.exists() else []


def _fast(raw: bytes, res_id: int = LABEL):
    table = ArscTable.open(raw)
    return None if table is None else table.resolve(res_id)


def _same(raw: bytes, ids: list[int] = (LABEL,), answered: bool | None = None) -> dict[str, str]:
    """Both paths agree on ``ids``; ``answered`` says whether the fast path must have answered."""
    got, declined = compare(raw, list(ids))
    if answered is True:
        assert declined == 0, "the fast path declined a table it should read"
    if answered is False:
        assert got == 0, "the fast path answered where it must decline"
    return _Resources(raw, []).resolve(ids[0])


def _strings_table(chunks: list[bytes], strings: list[str | bytes], utf8: bool = False,
                   keys: int = 4, extra: list[bytes] = ()) -> bytes:
    pkg = b.package(0x7F, "com.example", ["string"], [f"k{i}" for i in range(keys)], chunks)
    return b.table(strings, [pkg, *extra], utf8)


# --- differential: every fixture and corpus APK ------------------------------------------------


@pytest.mark.parametrize("apk", FIXTURE_APKS, ids=lambda p: str(p.relative_to(REPO / "fixtures")))
def test_fixture_apks_resolve_as_androguard(apk):
    """Most fixtures have no resources.arsc: both paths then report MANIFEST_ARSC_MISSING alike."""
    axml, arsc = apk_members(apk)
    compare(arsc, manifest_references(axml) + (string_ids(arsc) if arsc is not None else []))


def test_label_fixture_is_answered_by_the_fast_path():
    axml, arsc = apk_members(REPO / "fixtures" / "apks" / "label-arsc-locales.apk")
    refs = manifest_references(axml)
    assert refs and compare(arsc, refs) == (len(refs), 0)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus absent")
def test_corpus_resolves_as_androguard_and_rarely_declines():
    """Every manifest reference and every string resource of all corpus APKs: equal answers.

    Declines happen for references the manifest fields never ask (themes: bags); the
    IDs read_manifest asks must almost never fall back to androguard.
    """
    answered = declined = apks = 0
    for apk in _corpus_apks():
        axml, arsc = apk_members(apk)
        if arsc is None:
            continue
        got, lost = compare(arsc, manifest_references(axml) + string_ids(arsc))
        answered, declined, apks = answered + got, declined + lost, apks + 1
    assert apks > 250 and answered > 1000
    assert declined <= answered // 50, (answered, declined)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus absent")
def test_read_manifest_on_the_corpus_never_builds_androguard(monkeypatch):
    built: list[int] = []
    original = android_manifest._Resources._get

    def spy(self):
        if not self._tried and self._raw is not None:
            built.append(1)
        return original(self)

    monkeypatch.setattr(android_manifest._Resources, "_get", spy)
    with_arsc = 0
    for apk in _corpus_apks():
        axml, arsc = apk_members(apk)
        if axml is not None and arsc is not None:
            read_manifest(axml, arsc)
            with_arsc += 1
    assert with_arsc > 250
    assert len(built) <= with_arsc // 100


# --- crafted tables built to fool it -----------------------------------------------------------


def test_two_configs_with_the_same_locale():
    """Same locale, different density: the first wins; equal configs: the last entry wins."""
    chunks = [b.type_chunk(1, {0: b.string(0, 0)}),
              b.type_chunk(1, {0: b.string(0, 1)}, cfg=b.config("fr")),
              b.type_chunk(1, {0: b.string(0, 2)}, cfg=b.config("fr", density=480)),
              b.type_chunk(1, {0: b.string(0, 3)}, cfg=b.config("fr")),
              b.type_chunk(1, {0: b.string(0, 4)}, cfg=b.config("pt", "BR"))]
    raw = _strings_table(chunks, ["App", "Appli", "Appli-HD", "Appli-2", "Aplicativo"])
    assert _same(raw, answered=True) == {"": "App", "fr": "Appli-2", "pt-BR": "Aplicativo"}


def test_default_is_a_reference_to_a_missing_id():
    chunks = [b.type_chunk(1, {0: b.ref(0, b.rid(0x7F, 1, 9))}),
              b.type_chunk(1, {0: b.string(0, 0)}, cfg=b.config("de"))]
    raw = _strings_table(chunks, ["Etikett"])
    assert _same(raw, answered=True) == {"de": "Etikett"}


def test_reference_loop_declines_and_androguard_reports_it():
    chunks = [b.type_chunk(1, {0: b.ref(0, b.rid(0x7F, 1, 1)), 1: b.ref(1, b.rid(0x7F, 1, 0))})]
    raw = _strings_table(chunks, [])
    assert _fast(raw) is None
    errors: list = []
    assert _Resources(raw, errors).resolve(LABEL) == {}
    assert [e.code for e in errors] == ["MANIFEST_ARSC_MALFORMED"]  # androguard's RecursionError
    _same(raw, answered=False)


def test_self_reference_is_skipped_like_androguard():
    chunks = [b.type_chunk(1, {0: b.ref(0, LABEL)}),
              b.type_chunk(1, {0: b.string(0, 0)}, cfg=b.config("it"))]
    assert _same(_strings_table(chunks, ["Nome"]), answered=True) == {"it": "Nome"}


def test_chain_depth_is_bounded():
    short = [b.type_chunk(1, {i: b.ref(i, b.rid(0x7F, 1, i + 1)) for i in range(5)} | {5: b.string(5, 0)})]
    assert _same(_strings_table(short, ["end"], keys=6), answered=True) == {"": "end"}
    n = MAX_DEPTH + 5
    deep = [b.type_chunk(1, {i: b.ref(i, b.rid(0x7F, 1, i + 1)) for i in range(n)} | {n: b.string(n, 0)})]
    raw = _strings_table(deep, ["end"], keys=n + 1)
    assert _fast(raw) is None
    _same(raw)


def test_fan_out_of_references_is_bounded():
    """Each level has 12 configs referencing the next: 12**5 paths, declined, not walked."""
    chunks = []
    for density in range(1, 13):
        level = {i: b.ref(i, b.rid(0x7F, 1, i + 1)) for i in range(5)} | {5: b.string(5, 0)}
        chunks.append(b.type_chunk(1, level, cfg=b.config(density=density)))
    raw = _strings_table(chunks, ["leaf"], keys=6)
    assert _fast(raw) is None


def test_label_reference_into_another_package():
    other = b.package(0x02, "com.other", ["string"], ["x"], [b.type_chunk(1, {0: b.string(0, 1)})])
    chunks = [b.type_chunk(1, {0: b.ref(0, b.rid(0x02, 1, 0))})]
    raw = _strings_table(chunks, ["mine", "WeChat"], extra=[other])
    assert _same(raw, answered=True) == {"": "WeChat"}


def test_two_packages_with_the_same_id():
    twin = b.package(0x7F, "com.twin", ["string"], ["x"],
                     [b.type_chunk(1, {0: b.string(0, 1)}), b.type_chunk(1, {0: b.string(0, 2)}, cfg=b.config("fr"))])
    raw = _strings_table([b.type_chunk(1, {0: b.string(0, 0)})], ["first", "second", "fr"], extra=[twin])
    _same(raw)


def test_more_packages_than_declared():
    twin = b.package(0x7E, "com.twin", ["string"], ["x"], [b.type_chunk(1, {0: b.string(0, 1)})])
    pkg = b.package(0x7F, "com.example", ["string"], ["k"], [b.type_chunk(1, {0: b.string(0, 0)})])
    for count in (0, 1, 2):
        _same(b.table(["a", "b"], [pkg, twin, twin], package_count=count))


def test_string_offsets_outside_the_pool():
    raw = bytearray(_strings_table([b.type_chunk(1, {0: b.string(0, 0), 1: b.string(1, 1)})], ["ok", "bad"]))
    # the second offset of the global pool (at 12 + 28 + 4) points far past its characters
    for offset in (0x7FFFFFF0, 0xFFFFFFFF, 60, 58):
        struct.pack_into("<I", raw, 12 + 28 + 4, offset)
        _same(bytes(raw), [LABEL, b.rid(0x7F, 1, 1)])


def test_no_entry_in_default_but_present_in_a_locale():
    chunks = [b.type_chunk(1, {1: b.string(1, 0)}, count=2),
              b.type_chunk(1, {0: b.string(0, 1), 1: b.string(1, 0)}, cfg=b.config("es"))]
    assert _same(_strings_table(chunks, ["otro", "Etiqueta"]), answered=True) == {"es": "Etiqueta"}


@pytest.mark.parametrize("form", ["dense", "offset16", "sparse"])
def test_entry_array_forms(form):
    chunks = [b.type_chunk(1, {0: b.string(0, 0), 3: b.string(3, 1)}, form=form),
              b.type_chunk(1, {3: b.string(3, 2)}, cfg=b.config("fr"), form=form)]
    raw = _strings_table(chunks, ["zero", "three", "trois"])
    assert _same(raw, [b.rid(0x7F, 1, 3), LABEL, b.rid(0x7F, 1, 1)], answered=True) == {
        "": "three", "fr": "trois"}


def test_sparse_duplicate_index_last_wins():
    chunk = bytearray(b.type_chunk(1, {0: b.string(0, 0), 1: b.string(1, 1)}, form="sparse"))
    struct.pack_into("<H", chunk, 20 + 64 + 4, 0)  # the second pair now also names index 0
    assert _same(_strings_table([bytes(chunk)], ["one", "two"]), answered=True) == {"": "two"}


@pytest.mark.parametrize("utf8,raw,want", [
    (True, b"\x01\x02\xc3\xa9\x00", "é"),
    (True, b"\x02\x02\xff\xfe\x00", "\ufffd\ufffd"),  # invalid UTF-8: replaced, as androguard does
    (True, b"\x01\x05ab\x00", "ab\x00\x00\x00"),  # byte length runs over the terminator
    (True, b"\x03\x03abc\x01", ""),  # not NUL-terminated: androguard returns ""
    (True, b"\x81\x00\x02ab\x00", "ab"),  # two-byte length form
    (False, b"\x01\x00\x00\xd8\x00\x00", "\ufffd"),  # lone surrogate
    (False, b"\x02\x00\xff\xfeA\x00\x00\x00", "A"),  # androguard's "utf-16" codec eats a BOM
    (False, b"\x02\x00\xfe\xff\x00A\x00\x00", "A"),  # ... and turns big-endian after FE FF
    (False, b"\x01\x00A\x00B\x00", None),  # not NUL-terminated: androguard raises, fast path declines
])
def test_pool_encodings_and_invalid_sequences(utf8, raw, want):
    chunks = [b.type_chunk(1, {0: b.string(0, 0), 1: b.string(1, 1)})]
    table = _strings_table(chunks, ["Label", raw], utf8=utf8)
    ids = [b.rid(0x7F, 1, 1), LABEL]
    got = _same(table, ids, answered=want is not None)
    assert got == ({"": want} if want is not None else {})


def test_complex_entries():
    """A bag as the label: androguard lists it, _Resources skips it; the fast path declines.
    A bag in a ``string`` type makes androguard's whole-table index raise: declined too."""
    bag = b.complex_(0, [(0x01000000, b.TYPE_STRING, 0)])
    style = b.package(0x7F, "com.example", ["string", "style"], ["k0", "k1"],
                      [b.type_chunk(1, {0: b.string(0, 0)}), b.type_chunk(2, {0: bag})])
    raw = b.table(["App"], [style])
    assert _same(raw, [LABEL], answered=True) == {"": "App"}
    _same(raw, [b.rid(0x7F, 2, 0)], answered=False)
    broken = _strings_table([b.type_chunk(1, {0: b.string(0, 0), 1: bag})], ["App"])
    assert ArscTable.open(broken) is None
    _same(broken, [LABEL, LABEL])


@pytest.mark.parametrize("damage", ["bag-in-integer", "entry-past-chunk", "broken-key", "broken-type-name"])
def test_damage_elsewhere_in_the_table_is_not_answered_around(damage):
    """androguard indexes the whole table before it answers: damage in a type the label does
    not use still empties today's answer (with MANIFEST_ARSC_MALFORMED). The fast path must
    not answer around it."""
    keys, names = ["label", "n"], ["string", "integer"]
    other = b.type_chunk(2, {0: b.simple(1, b.TYPE_INT_DEC, 5)})
    if damage == "bag-in-integer":
        other = b.type_chunk(2, {0: b.complex_(1, [(0x01000000, b.TYPE_INT_DEC, 1)])})
    elif damage == "entry-past-chunk":
        other = bytearray(other)
        struct.pack_into("<I", other, 20 + 64, 4096)  # the only entry's offset
        other = bytes(other)
    elif damage == "broken-key":
        keys = ["label", b"\x01\x00n\x00n\x00"]  # UTF-16, length 1, no terminator after it
    else:
        names = ["string", b"\x01\x00i\x00i\x00"]
    pkg = b.package(0x7F, "com.example", names, keys, [b.type_chunk(1, {0: b.string(0, 0)}), other])
    raw = b.table(["Label"], [pkg])
    assert ArscTable.open(raw) is None
    errors: list = []
    assert _Resources(raw, errors).resolve(LABEL) == {}
    assert [e.code for e in errors] == ["MANIFEST_ARSC_MALFORMED"]
    _same(raw, [LABEL])


def test_undamaged_twin_of_those_tables_is_answered():
    pkg = b.package(0x7F, "com.example", ["string", "integer"], ["label", "n"],
                    [b.type_chunk(1, {0: b.string(0, 0)}), b.type_chunk(2, {0: b.simple(1, b.TYPE_INT_DEC, 5)})])
    raw = b.table(["Label"], [pkg])
    assert _same(raw, [LABEL, b.rid(0x7F, 2, 0)], answered=True) == {"": "Label"}
    assert _Resources(raw, []).resolve(b.rid(0x7F, 2, 0)) == {"": "5"}


def test_compact_entries_read_a_pool_string_whatever_their_type():
    chunks = [b.type_chunk(1, {0: b.compact(0, b.TYPE_STRING, 1), 1: b.compact(1, b.TYPE_INT_DEC, 0)})]
    raw = _strings_table(chunks, ["zero", "Compact"])
    assert _same(raw, [LABEL, b.rid(0x7F, 1, 1)], answered=True) == {"": "Compact"}


@pytest.mark.parametrize("data_type,data", [
    (b.TYPE_INT_DEC, 42), (b.TYPE_INT_DEC, 0xFFFFFFFE), (b.TYPE_INT_HEX, 255), (b.TYPE_INT_BOOLEAN, 0),
    (b.TYPE_INT_BOOLEAN, 7), (b.TYPE_INT_COLOR_ARGB8, 0xFF00FF00), (0x02, 0x01010001), (0x00, 0),
    (0x07, 0x7F010000), (0x15, 3), (0x42, 9), (b.TYPE_FLOAT, 0x3F800000), (b.TYPE_DIMENSION, 0x10F)])
def test_typed_values_format_as_androguard(data_type, data):
    raw = _strings_table([b.type_chunk(1, {0: b.simple(0, data_type, data)})], [])
    answered = None if data_type in (b.TYPE_FLOAT, b.TYPE_DIMENSION) else True
    _same(raw, answered=answered)


def _size_trick_table() -> bytes:
    """The label entry declares 16 bytes: a decoy Res_value at +8, the real one at +16."""
    entry = b.simple(0, b.TYPE_STRING, 0, size=16) + b.simple(0, b.TYPE_STRING, 1)[8:]
    spec = struct.pack("<HHIBBHII", 0x0202, 16, 20, 1, 0, 0, 1, 0)  # aapt needs the typeSpec
    pkg = b.package(0x7F, "com.example", ["string"], ["app_name"], [spec, b.type_chunk(1, {0: entry})])
    return b.table(["Calculator", "WeChat"], [pkg])


def test_entry_size_field_is_ignored_like_androguard():
    """androguard reads the Res_value right after the 8-byte header whatever ``size`` says."""
    assert _same(_size_trick_table(), answered=True) == {"": "Calculator"}


def _label_manifest() -> bytes:
    with zipfile.ZipFile(REPO / "fixtures" / "apks" / "label-arsc-locales.apk") as zf:
        return zf.read("AndroidManifest.xml")  # android:label="@string/app_name" (0x7f010000)


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
def test_entry_size_trick_is_read_by_android_at_entry_plus_size(tmp_path):
    apk = tmp_path / "size-trick.apk"
    with zipfile.ZipFile(apk, "w") as zf:
        zf.writestr("AndroidManifest.xml", _label_manifest())
        zf.writestr("resources.arsc", _size_trick_table())
    badging = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True).stdout
    assert "application-label:'WeChat'" in badging


def test_entry_size_trick_label_as_android_reads_it():
    """The label is Android's reading (aapt's, test above); the decoy parsers see is kept and said."""
    info = read_manifest(_label_manifest(), _size_trick_table())
    assert info.label == "WeChat" and info.labels == {"": "WeChat"}
    assert info.other_labels == ["Calculator"]
    from apkscan.apk.manifest.android_manifest import label_ambiguity

    fact = label_ambiguity(info)
    assert fact is not None and fact.code == "TAMPER_MANIFEST_AMBIGUOUS_LABEL"
    assert "'WeChat'" in fact.message and "'Calculator'" in fact.message


def test_entry_size_trick_in_an_apk_is_matched_both_ways(tmp_path, rules):
    """Both readings reach the matcher: a rule on either label matches, and the fact is reported."""
    from apkscan.apk.identify import identify
    from apkscan.rules.matcher import match_identity

    apk = tmp_path / "size-trick.apk"
    with zipfile.ZipFile(apk, "w") as zf:
        zf.writestr("AndroidManifest.xml", _label_manifest())
        zf.writestr("resources.arsc", _size_trick_table())
    identity = identify(str(apk))
    assert "TAMPER_MANIFEST_AMBIGUOUS_LABEL" in {t.code for t in identity.tamper}
    from apkscan.rules.matcher import _labels

    assert [v for _, v in _labels(identity)] == ["WeChat", "Calculator"]
    assert isinstance(match_identity(identity, rules), list)


def test_honest_entries_read_the_same_both_ways():
    raw = _strings_table([b.type_chunk(1, {0: b.string(0, 0)}), b.type_chunk(1, {0: b.string(0, 1)}, cfg=b.config("fr"))],
                         ["App", "Appli"])
    info = read_manifest(_label_manifest(), raw)
    assert info.other_labels == [] and info.label == "App"


@pytest.mark.parametrize("size", [16, 28, 36, 40, 44, 48, 52, 56, 64, 80])
def test_config_sizes(size):
    chunks = [b.type_chunk(1, {0: b.string(0, 0)}, cfg=b.config(size=size)),
              b.type_chunk(1, {0: b.string(0, 1)}, cfg=b.config("ja", size=size))]
    raw = _strings_table(chunks, ["App", "アプリ"])
    _same(raw, answered=None if size == 44 else True)


def test_resource_id_zero_and_absent():
    raw = _strings_table([b.type_chunk(1, {0: b.string(0, 0)})], ["App"])
    _same(raw, [0, 0x7F7F0000, 0x01010001, LABEL])


# --- fuzz: equal or declined on every damaged table --------------------------------------------


def _fuzz_inputs() -> list[tuple[str, bytes, list[int]]]:
    out = []
    axml, arsc = apk_members(REPO / "fixtures" / "apks" / "label-arsc-locales.apk")
    out.append(("label-arsc-locales", arsc, manifest_references(axml)))
    crafted = _strings_table(
        [b.type_chunk(1, {0: b.ref(0, b.rid(0x7F, 1, 2)), 1: b.compact(1, 3, 1), 2: b.string(2, 0)}),
         b.type_chunk(1, {0: b.string(0, 1), 2: b.string(2, 2)}, cfg=b.config("fr"), form="offset16"),
         b.type_chunk(1, {2: b.string(2, 0)}, cfg=b.config("de", "AT"), form="sparse")],
        ["Label", "Étiquette", "Zwei"], utf8=True)
    out.append(("crafted", crafted, [LABEL, b.rid(0x7F, 1, 1), b.rid(0x7F, 1, 2)]))
    small = CORPUS / "androguard" / "AXML" / "compact-entry.apk"
    if small.exists():
        axml, arsc = apk_members(small)
        out.append(("compact-entry", arsc, (manifest_references(axml) + string_ids(arsc))[:8]))
    return out


@pytest.mark.parametrize("name,raw,ids", _fuzz_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_fuzz_truncation_at_every_offset(name, raw, ids):
    """Cut at every offset, once as is and once with the table's size patched to the cut
    (so the walk reaches the damaged chunk instead of stopping at the table header)."""
    step = max(1, len(raw) // 1500)
    for n in range(0, len(raw), step):
        cut = raw[:n]
        compare(cut, ids)
        if n >= 8:
            compare(cut[:4] + struct.pack("<I", n) + cut[8:], ids)


@pytest.mark.parametrize("name,raw,ids", _fuzz_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_fuzz_byte_flips(name, raw, ids):
    rng = random.Random(f"arsc-{name}")
    answered = 0
    for _ in range(400):
        damaged = bytearray(raw)
        for _ in range(rng.choice((1, 1, 2, 4))):
            i = rng.randrange(len(damaged))
            damaged[i] = rng.randrange(256) if rng.random() < 0.5 else damaged[i] ^ (1 << rng.randrange(8))
        answered += compare(bytes(damaged), ids)[0]
    assert answered > 0  # flips in string bytes leave the table readable: the fast path answers


def _header_fields(raw: bytes) -> list[int]:
    """Offsets of every 16-bit field in the headers (and just after) of the chunks a walk finds."""
    out: set[int] = set()

    def walk(pos: int, end: int, depth: int) -> None:
        while pos + 8 <= end and depth < 3:
            kind, header, size = struct.unpack_from("<HHI", raw, pos)
            if size < 8 or pos + size > end:
                return
            out.update(range(pos, pos + min(max(header, 32) + 64, size) - 1, 2))
            if kind in (0x0002, 0x0200):  # table, package: their chunks follow the header
                walk(pos + header, pos + size, depth + 1)
            pos += size

    walk(0, len(raw), 0)
    return sorted(out)


@pytest.mark.parametrize("name,raw,ids", _fuzz_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_fuzz_header_fields(name, raw, ids):
    """Sizes, counts and offsets set to the values that break parsers: equal or declined."""
    rng = random.Random(f"fields-{name}")
    fields = _header_fields(raw)
    assert len(fields) > 100
    answered = 0
    for _ in range(600):
        at, width = rng.choice(fields), rng.choice((2, 4))
        if at + width > len(raw):
            continue
        old = int.from_bytes(raw[at:at + width], "little")
        new = rng.choice((0, 1, 4, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0xFFFFFFFF, old + 1,
                          old - 1, old + 4, old - 4, 2 * old, len(raw) - at, len(raw))) % (1 << 8 * width)
        damaged = raw[:at] + new.to_bytes(width, "little") + raw[at + width:]
        answered += compare(damaged, ids)[0]
    assert answered > 0


# --- generated tables: random well-formed shapes, both paths agree ------------------------------

_LOCALES = [("", ""), ("fr", ""), ("fr", "CA"), ("de", ""), ("zh", "TW"), ("en", "XA")]


@st.composite
def _tables(draw):
    """A table of 1-2 packages whose entries mix strings, references (to anything, loops
    included), typed values, compact and complex entries over several configs and forms."""
    strings = draw(st.lists(st.text(max_size=6), min_size=1, max_size=5))
    ids = [b.rid(p, t, e) for p in (0x7F, 0x02) for t in (1, 2) for e in range(3)] + [0]

    def entry(key):
        kind = draw(st.sampled_from(["string", "ref", "typed", "compact", "complex"]))
        if kind == "string":
            return b.string(key, draw(st.integers(0, len(strings))))
        if kind == "ref":
            return b.ref(key, draw(st.sampled_from(ids)))
        if kind == "typed":
            return b.simple(key, draw(st.sampled_from([0x00, 0x02, 0x10, 0x11, 0x12, 0x1C, 0x04])),
                            draw(st.integers(0, 0xFFFFFFFF)))
        if kind == "compact":
            return b.compact(key, draw(st.sampled_from([0x03, 0x10])), draw(st.integers(0, len(strings))))
        return b.complex_(key, [(0x01000000, 0x03, 0)])

    packages = []
    for package_id in draw(st.sampled_from([[0x7F], [0x7F, 0x02], [0x7F, 0x7F]])):
        chunks = []
        for _ in range(draw(st.integers(1, 4))):
            type_id = draw(st.sampled_from([1, 2]))
            indices = draw(st.sets(st.integers(0, 2), min_size=1))
            language, region = draw(st.sampled_from(_LOCALES))
            cfg = b.config(language, region, density=draw(st.sampled_from([0, 0, 480])))
            form = draw(st.sampled_from(["dense", "offset16", "sparse"]))
            chunks.append(b.type_chunk(type_id, {i: entry(i) for i in indices}, cfg=cfg, form=form))
        names = draw(st.sampled_from([["string", "label"], ["string", "string"], ["integer", "style"]]))
        packages.append(b.package(package_id, "p", names, ["a", "b", "c"], chunks))
    return b.table(strings, packages, utf8=draw(st.booleans())), ids


@settings(max_examples=300, deadline=None)
@given(_tables())
def test_generated_tables_resolve_as_androguard(case):
    raw, ids = case
    compare(raw, ids)


def _second_pool(raw: bytes, decoy: list[str] | None = None) -> bytes:
    """The table with another global string pool after the first (Android reads the first)."""
    raw = bytearray(raw)
    pool_size = struct.unpack_from("<I", raw, 12 + 4)[0]
    extra = b.pool(decoy) if decoy else bytes(raw[12:12 + pool_size])
    out = bytearray(raw[:12 + pool_size] + extra + raw[12 + pool_size:])
    struct.pack_into("<I", out, 4, len(out))
    return bytes(out)


def _header_size_plus_4(raw: bytes) -> bytes:
    """The label's type chunk with 4 more header bytes: Android reads the entry offsets at
    headerSize; a reader that takes them right after the config reads 4 bytes early."""
    raw = bytearray(raw)
    at = raw.index(struct.pack("<HH", 0x0201, 20 + 64))
    header, size, _tid, _flags, _res, count, start = struct.unpack_from("<HIBBHII", raw, at + 2)
    new = bytearray(raw[at:at + header]) + b"\x00" * 4 + raw[at + header:at + size]
    struct.pack_into("<HI", new, 2, header + 4, size + 4)
    struct.pack_into("<I", new, 16, start + 4)
    out = raw[:at] + new + raw[at + size:]
    delta = 4
    struct.pack_into("<I", out, 4, struct.unpack_from("<I", out, 4)[0] + delta)  # the table
    pkg = out.index(struct.pack("<HH", 0x0200, 288))
    struct.pack_into("<I", out, pkg + 4, struct.unpack_from("<I", out, pkg + 4)[0] + delta)
    return bytes(out)


def _label_table(strings: list[str], utf8: bool = False) -> bytes:
    """A table whose one label (0x7f010000) is global string 0."""
    spec = struct.pack("<HHIBBHII", 0x0202, 16, 20, 1, 0, 0, 1, 0)
    pkg = b.package(0x7F, "com.example", ["string"], ["app_name"], [spec, b.type_chunk(1, {0: b.string(0, 0)})])
    return b.table(strings, [pkg], utf8=utf8)


def _odd_offset_label() -> bytes:
    """The label's UTF-16 offset one byte past its start (review 20): Android divides byte
    offsets by two and reads "WeChat"; a parser taking the byte offset reads from the odd byte."""
    raw = bytearray(_label_table(["WeChat"]))
    struct.pack_into("<I", raw, 12 + 28, 1)  # the first (only) entry of the global pool's offsets
    return bytes(raw)


TRICKS = {
    "odd UTF-16 string offset": _odd_offset_label,
    "NUL inside a UTF-8 label": lambda: _label_table(["WeChat\x00 Notes"], utf8=True),
    "overlong UTF-8 in a label": lambda: _label_table([bytes([6, 7]) + b"We\xc1\x83hat\x00"], utf8=True),
    "second global pool": lambda: _second_pool(_size_trick_table()),
    "decoy second pool": lambda: _second_pool(_size_trick_table(), ["Calculator", "Calculator"]),
    "type header 4 bytes longer": lambda: _header_size_plus_4(_size_trick_table()),
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_label_tricks_androguard_parity_cannot_read_are_read_as_android(trick):
    """Layouts that make the androguard-exact reader decline (or read elsewhere) still give the
    label Android shows, from arsc_android's own reading; the decoy is kept and said."""
    info = read_manifest(_label_manifest(), TRICKS[trick]())
    assert info.label == "WeChat", (info.label, info.other_labels)
    from apkscan.apk.manifest.android_manifest import label_ambiguity

    fact = label_ambiguity(info)
    assert fact is not None and fact.code == "TAMPER_MANIFEST_AMBIGUOUS_LABEL"


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_label_tricks_as_aapt_reads_them(tmp_path, trick):
    apk = tmp_path / "trick.apk"
    with zipfile.ZipFile(apk, "w") as zf:
        zf.writestr("AndroidManifest.xml", _label_manifest())
        zf.writestr("resources.arsc", TRICKS[trick]())
    badging = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True).stdout
    assert "application-label:'WeChat'" in badging
    assert read_manifest(_label_manifest(), TRICKS[trick]()).label == "WeChat"


def test_when_android_cannot_read_the_table_only_androguards_label_is_said(monkeypatch):
    """Android's reader finding nothing while androguard gives a label: kept, and said."""
    from apkscan.apk.manifest import android_manifest
    from apkscan.apk.manifest.android_manifest import label_ambiguity

    monkeypatch.setattr(android_manifest.AndroidArsc, "resolve", lambda self, res_id: None)
    info = read_manifest(_label_manifest(), _size_trick_table())
    assert info.label == "Calculator" and info.label_unchecked
    assert "androguard's reading" in label_ambiguity(info).message


def test_android_reader_never_raises_on_damaged_tables():
    from apkscan.apk.manifest.arsc_android import AndroidArsc

    rng = __import__("random").Random(11)
    for raw in (_size_trick_table(), _header_size_plus_4(_size_trick_table()), _second_pool(_size_trick_table())):
        for cut in range(0, len(raw), 3):
            table = AndroidArsc.open(raw[:cut])
            if table is not None:
                table.resolve(LABEL)
        for _ in range(400):
            data = bytearray(raw)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            table = AndroidArsc.open(bytes(data))
            if table is not None:
                got = table.resolve(LABEL)
                assert got is None or isinstance(got[0], dict)


def test_a_label_attribute_typed_dynamic_reference_is_resolved(tmp_path):
    """android:label as TYPE_DYNAMIC_REFERENCE (0x07) names the same resource (aapt shows it)."""
    manifest = _label_manifest()
    plain = struct.pack("<HBBI", 8, 0, 0x01, LABEL)
    assert manifest.count(plain) == 1
    dynamic = manifest.replace(plain, struct.pack("<HBBI", 8, 0, 0x07, LABEL))
    spec = struct.pack("<HHIBBHII", 0x0202, 16, 20, 1, 0, 0, 1, 0)  # aapt needs the typeSpec
    pkg = b.package(0x7F, "com.example", ["string"], ["app_name"], [spec, b.type_chunk(1, {0: b.string(0, 0)})])
    table = b.table(["WeChat"], [pkg])
    assert read_manifest(dynamic, table).label == "WeChat"
    if shutil.which("aapt"):
        apk = tmp_path / "dynref.apk"
        with zipfile.ZipFile(apk, "w") as zf:
            zf.writestr("AndroidManifest.xml", dynamic)
            zf.writestr("resources.arsc", table)
        badging = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True).stdout
        assert "application-label:'WeChat'" in badging


def test_a_label_that_differs_by_configuration_is_matched_in_all_of_them():
    """values/ says one thing and values-v21/ another: devices on API 21+ show the second (aapt
    shows it too), so both are matched and the fact names them (a third review's bypass)."""
    chunks = [b.type_chunk(1, {0: b.string(0, 0)}), b.type_chunk(1, {0: b.string(0, 1)}, cfg=b.config(sdk=21))]
    info = read_manifest(_label_manifest(), _strings_table(chunks, ["Calculator", "WeChat"]))
    assert {info.label, *info.other_labels} == {"Calculator", "WeChat"}
    from apkscan.apk.manifest.android_manifest import label_ambiguity

    assert label_ambiguity(info).code == "TAMPER_MANIFEST_AMBIGUOUS_LABEL"


def test_a_table_of_chained_references_cannot_stall_the_android_reader():
    from apkscan.apk.manifest.arsc_android import MAX_WORK, AndroidArsc

    n = 5000  # entry j (alone in chunk j) refers to entry j + 1: each hop looks at every chunk
    chunks = [b.type_chunk(1, {j: b.ref(0, b.rid(0x7F, 1, j + 1))}, count=j + 1) for j in range(n)]
    table = AndroidArsc.open(_strings_table(chunks, ["x"]))
    assert table.resolve(LABEL) is None and table._work <= MAX_WORK + n  # given up, not spun
