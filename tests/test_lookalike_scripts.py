"""Review 32 #1: look-alike letters outside the first table (Cherokee, Lisu, Coptic, Canadian
syllabics, Latin small capitals and other named forms) dodged the label rules."""

from __future__ import annotations

import string
import unicodedata

import pytest
from test_match_strength import _apk, _app, _scan, _verdicts, gen  # noqa: F401

from apkscan.rules.normalise import SCRIPT_LOOK_ALIKES, latin_letter, skeleton

# --- #1: scripts designed after Latin capitals, and Latin letters named as forms of a letter ------

# Written here from the glyphs, not from the code: every letter of these blocks that reads as an
# ASCII letter or digit. Any other letter of the block must not turn into ASCII.
EXPECTED = {
    0x13A0: "d", 0x13A1: "r", 0x13A2: "t", 0x13A5: "i", 0x13A9: "y", 0x13AA: "a", 0x13AB: "j",
    0x13AC: "e", 0x13B3: "w", 0x13B7: "m", 0x13BB: "h", 0x13BD: "y", 0x13C0: "g", 0x13C2: "h",
    0x13C3: "z", 0x13CE: "4", 0x13CF: "b", 0x13D2: "r", 0x13D4: "w", 0x13D5: "s", 0x13D9: "v",
    0x13DA: "s", 0x13DE: "l", 0x13DF: "c", 0x13E2: "p", 0x13E3: "g", 0x13E6: "k", 0x13E7: "d",
    0x13F3: "g", 0x13F4: "b",
    0xA4D0: "b", 0xA4D1: "p", 0xA4D3: "d", 0xA4D4: "t", 0xA4D6: "g", 0xA4D7: "k", 0xA4D9: "j",
    0xA4DA: "c", 0xA4DC: "z", 0xA4DD: "f", 0xA4DF: "m", 0xA4E0: "n", 0xA4E1: "l", 0xA4E2: "s",
    0xA4E3: "r", 0xA4E6: "v", 0xA4E7: "h", 0xA4EA: "w", 0xA4EB: "x", 0xA4EC: "y", 0xA4EE: "a", 0xA4F0: "e",
    0xA4F2: "i", 0xA4F3: "o", 0xA4F4: "u",
    0x2C80: "a", 0x2C82: "b", 0x2C88: "e", 0x2C8C: "z", 0x2C8E: "h", 0x2C92: "i", 0x2C94: "k",
    0x2C98: "m", 0x2C9A: "n", 0x2C9E: "o", 0x2CA2: "p", 0x2CA4: "c", 0x2CA6: "t", 0x2CA8: "y",
    0x2CAC: "x",
    # Canadian syllabics as "fancy text" uses them
    0x15E9: "a", 0x15C5: "a", 0x15F7: "b", 0x1455: "c", 0x15EA: "d", 0x15DE: "d", 0x15F4: "e",
    0x15B4: "f", 0x161C: "g", 0x157C: "h", 0x148D: "j", 0x14AA: "l", 0x15F0: "m", 0x144E: "n",
    0x146D: "p", 0x146B: "q", 0x1587: "r", 0x1515: "s", 0x144C: "u", 0x142F: "v", 0x15EF: "w",
    0x166D: "x", 0x1614: "z", 0x1472: "b", 0x146F: "d",
}
RANGES = ((0x13A0, 0x13F5), (0x13F8, 0x13FD), (0xAB70, 0xABBF), (0xA4D0, 0xA4F7), (0x2C80, 0x2CB1),
          (0x1400, 0x167F))


def _expected(ch: str) -> str | None:
    """The ASCII reading: an upper-case entry's, or (Cherokee small, Coptic small) its capital's."""
    for form in (ch, ch.upper()):
        if len(form) == 1 and ord(form) in EXPECTED:
            return EXPECTED[ord(form)]
    return None


def test_whole_cherokee_lisu_coptic_ranges():
    """Every letter of the Cherokee (both cases: lower case folds to upper), Lisu, Coptic and
    Canadian syllabics blocks: a look-alike reads as its ASCII letter, in a word too; any other letter stays
    non-ASCII (no guessing). Before, Ꭲ Ꮶ ꓔ Ⲧ ... passed through and TikTok/Kaspersky dodged."""
    seen = mapped = 0
    for lo, hi in RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if not unicodedata.category(ch).startswith("L") and cp != 0x166D:
                continue
            seen += 1
            want = _expected(ch)
            if want is None:
                assert not skeleton(ch).isascii(), (hex(cp), unicodedata.name(ch), skeleton(ch))
            else:
                mapped += 1
                assert skeleton(f"x{ch}x") == f"x{want}x", (hex(cp), unicodedata.name(ch), skeleton(ch))
    assert seen > 850 and mapped == 30 * 2 + 25 + 15 * 2 + 25
    # the table is written by name: each name is the character the test expects
    assert {ord(unicodedata.lookup(n)) for n in SCRIPT_LOOK_ALIKES} == set(EXPECTED)


def _named_forms():
    for cp in range(0x80, 0x20000):
        name = unicodedata.name(chr(cp), "")
        for kind in ("LATIN LETTER SMALL CAPITAL ", "MODIFIER LETTER SMALL CAPITAL ",
                     "NEGATIVE SQUARED LATIN CAPITAL LETTER ", "NEGATIVE CIRCLED LATIN CAPITAL LETTER "):
            if name.startswith(kind) and len(name) == len(kind) + 1:
                yield chr(cp), name[-1].lower()


def test_latin_small_capitals_and_named_forms_read_as_their_letter():
    """Every Latin small capital (ᴄ ᴡ ᴛ ᴋ ɪ ʀ ...), modifier small capital and negative squared
    or circled capital in the database reads as the letter its name gives."""
    got = list(_named_forms())
    assert len({w for _, w in got}) == 26 and len(got) > 70
    for ch, want in got:
        assert skeleton(f"a{ch}a") == f"a{want}a", (hex(ord(ch)), unicodedata.name(ch))
    assert skeleton("ƚ") == "l" and skeleton("ł") == "l" and skeleton("ø") == "o"
    # letters not named as a form of an ASCII letter are left alone
    for ch in "ɐʌəɛʃʒþð":
        assert latin_letter(ch) == ch
    assert all(skeleton(c) == c.lower() for c in string.ascii_letters + string.digits)
    # Cyrillic/Greek lower case drawn as those small capitals read the same way
    assert skeleton("\u0432\u043a\u043c\u043d\u0442\u03ba\u03c4") == skeleton("ʙᴋᴍʜᴛᴋᴛ") == "bkmhtkt"


@pytest.mark.parametrize("label,policy,decision", [
    ("\u13a2ik\u13a2o\u13e6", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),  # Cherokee
    ("\uab72ik\uab72o\uabb6", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),  # its lower case
    ("\ua4d4ik\ua4d4ok", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),       # Lisu
    ("\u2ca6ik\u2ca6o\u2c94", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),  # Coptic
    ("\u1d21e\u1d04hat", "canada-tbs-2023", "vendor-app-review"),                        # ᴡ ᴄ
    ("\u15ef\u15f4\u1455\u157c\u15e9T", "canada-tbs-2023", "vendor-app-review"),        # ᗯᗴᑕᕼᗩT
    ("\u13e6aspersky VPN", "us-dhs-bod-17-01", "bod-17-01-claim"),                       # Cherokee Ꮶ
    ("\u0442ik\u0442ok", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),     # Cyrillic т
])
def test_look_alike_script_labels_are_label_claims(gen, tmp_path, label, policy, decision):  # noqa: F811
    apk = _apk(gen, tmp_path, "renamed.apk", "com.example.video3", label, "test-rsa")
    _rc, doc = _scan(tmp_path, apk, "--policy", policy)
    app = _app(doc, "renamed.apk")
    assert _verdicts(app)[policy] == ("review", decision)
    assert any(e["basis"] == "label" for f in app["findings"] for e in f["evidence"])


def test_ascii_text_takes_the_fast_path_the_slow_one_would_give():
    """normalise and skeleton return ASCII text lower-cased without the per-character walk: true
    only while every table, the ignorable ranges, NFKC and latin_letter leave ASCII as it is."""
    import unicodedata

    from apkscan.ignorable import default_ignorable
    from apkscan.rules import normalise as n

    for cp in range(128):
        ch = chr(cp)
        assert ch.translate(n._CAPITAL_TABLE).translate(n._CONFUSABLE_TABLE) == ch
        assert n.latin_letter(ch) == ch and unicodedata.normalize("NFKC", ch) == ch
        assert unicodedata.category(ch) != "Cf" and not default_ignorable(cp)
    for text in ("com.Tencent.MM", "Kaspersky Lab, Inc.", "TikTok_2", ""):
        assert n.skeleton(text) == n.normalise(text) == text.lower()
    assert n.skeleton("com.tencеnt.mm") == "com.tencent.mm"  # a Cyrillic е still takes the slow path
