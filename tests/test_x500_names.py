"""X.500 name equality as Java's X500Principal.equals (apksig's signer-certificate match).

The table: real DER names built here, and the RFC 2253 canonical form OpenJDK 17's
``X500Principal.getName(CANONICAL)`` gave for each (None: ``new X500Principal`` threw),
recorded from ``java`` 17.0.15; when a JDK 17 is installed the test asks it again.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from apkscan.apk.crypto import pkcs7, x500

def hdr(n):
    if n < 0x80: return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big"); return bytes([0x80 | len(b)]) + b
def tlv(tag, body): return bytes([tag]) + hdr(len(body)) + body
def seq(*x): return tlv(0x30, b"".join(x))
def set_(*x): return tlv(0x31, b"".join(x))
OIDS = {"CN": bytes.fromhex("550403"), "O": bytes.fromhex("55040a"), "C": bytes.fromhex("550406"),
        "E": bytes.fromhex("2a864886f70d010901"), "DC": bytes.fromhex("0992268993f22c640119"),
        "SN": bytes.fromhex("550405"), "UID": bytes.fromhex("0992268993f22c640101"), "ST": bytes.fromhex("550408")}
def ava(t, v): return seq(tlv(6, OIDS[t]), v)
def u8(s): return tlv(0x0C, s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s)
def pr(s): return tlv(0x13, s.encode("latin-1") if isinstance(s, str) else s)
def bmp(s): return tlv(0x1E, s.encode("utf-16-be"))
def t61(s): return tlv(0x14, s.encode("latin-1"))
def ia5(s): return tlv(0x16, s.encode())
def name(*rdns): return seq(*[set_(*(r if isinstance(r, list) else [r])) for r in rdns])

CASES = [
  name(ava("CN", u8("Review"))), name(ava("CN", u8("Rev\u0131ew"))), name(ava("CN", pr("review"))),
  name(ava("CN", u8("  a   b  "))), name(ava("CN", u8("\ta\t\tb\t"))), name(ava("CN", u8("a\u00a0\u00a0b"))),
  name(ava("CN", bmp("Review"))), name(ava("CN", t61("Review"))), name(ava("CN", ia5("Review"))),
  name(ava("CN", tlv(2, b"\x05"))), name(ava("CN", seq(tlv(2, b"\x01")))), name(ava("E", ia5("A@B"))),
  name(ava("E", u8("A@B"))), name(ava("DC", ia5("Com"))), name(ava("DC", u8("Com"))), name(ava("UID", u8("X"))),
  name(ava("SN", pr("X"))), name(ava("ST", u8("Ss"))),
  name(ava("CN", u8("\u00df"))), name(ava("CN", u8("SS"))), name(ava("CN", u8("\ufb01"))), name(ava("CN", u8("fi"))),
  name(ava("CN", u8("\u0130"))), name(ava("CN", u8("i\u0307"))), name(ava("CN", u8("\u03a3\u03a3"))),
  name(ava("CN", u8("#x,y+z<>;\"\\"))), name(ava("CN", u8(" #x"))), name(ava("CN", u8("a\x00"))),
  name(ava("CN", u8(b"\xff\xfe"))), name(ava("CN", pr(b"caf\xe9"))), name(ava("CN", u8("caf\u00e9"))),
  name(ava("CN", u8("\U0001F600"))), name(ava("CN", u8("\uffff"))),
  name([ava("CN", u8("b")), ava("O", u8("a"))]), name([ava("O", u8("a")), ava("CN", u8("b"))]),
  name([ava("E", ia5("x")), ava("CN", u8("b"))]), name([ava("CN", u8("\U0001F600")), ava("CN", u8("\uffff"))]),
  name(ava("O", u8("a")), ava("CN", u8("b"))), name(ava("CN", u8("b")), ava("O", u8("a"))),
  name(), name(set_()), name(ava("CN", u8(""))), name(ava("CN", pr("   "))),
  name(ava("CN", tlv(0x0C, b"") )), name(ava("CN", b"\x0c\x81\x01A")), name(ava("CN", b"\x02\x81\x01\x05")),
  seq(set_(seq(tlv(6, b"\x55\x04\x03"), u8("a"), u8("b")))), seq(set_(tlv(0x31, b""))),
  seq(set_(seq(tlv(6, b"\x55\x80\x04\x03"), u8("a")))),
  name(ava("CN", u8("a" + " " * 70000 + "b"))), name(ava("CN", u8("a b"))),
  name(ava("CN", u8("\u212b"))), name(ava("CN", u8("\u00c5"))),
]
CASES += [seq(set_()), seq(set_(), set_(ava("CN", u8("a")))), name(ava("CN", pr(b"\x80\xff"))),
          name(ava("CN", tlv(0x2C, u8("a")))), name(ava("CN", u8(b"\xed\xa0\x80x"))), name(ava("CN", u8(b"\xe2\x82"))),
          name(ava("O", u8("\u0131\u0130"))), name(ava("CN", u8("\u1e9e"))), name(ava("CN", u8("\u01c5"))),
          bytes.fromhex("3080310f300d06035504030c06526576696577") + b"\0\0",
          name(ava("CN", bytes.fromhex("2c80") + u8("a") + b"\0\0"))]
CASES += [name(ava("CN", u8(b"\xed\xa0\x80\xed\xb0\x80z")))]

JAVA = [
    'cn=review',
    'cn=review',
    'cn=review',
    'cn=a b',
    'cn=a\t\tb',
    'cn=a  b',
    'cn=#1e0c005200650076006900650077',
    'cn=#1406526576696577',
    'cn=#1606526576696577',
    'cn=#020105',
    'cn=#3003020101',
    '1.2.840.113549.1.9.1=#1603414042',
    '1.2.840.113549.1.9.1=#0c03414042',
    'dc=#1603436f6d',
    'dc=com',
    'uid=x',
    '2.5.4.5=#130158',
    'st=ss',
    'cn=ss',
    'cn=ss',
    'cn=fi',
    'cn=fi',
    'cn=i\u0307',
    'cn=i\u0307',
    'cn=\u03c3\u03c2',
    'cn=\\#x\\,y\\+z\\<\\>\\;\\"\\\\',
    'cn=#x',
    'cn=a',
    'cn=\ufffd\ufffd',
    'cn=caf\ufffd',
    'cn=cafe\u0301',
    'cn=\U0001f600',
    'cn=\uffff',
    'cn=b+o=a',
    'cn=b+o=a',
    'cn=b+1.2.840.113549.1.9.1=#160178',
    'cn=\U0001f600+cn=\uffff',
    'cn=b,o=a',
    'o=a,cn=b',
    '',
    None,
    'cn=',
    'cn=',
    'cn=',
    'cn=a',
    'cn=#020105',
    None,
    None,
    None,
    'cn=a b',
    'cn=a b',
    'cn=a\u030a',
    'cn=a\u030a',
    '',
    'cn=a,',
    'cn=\ufffd\ufffd',
    'cn=#2c030c0161',
    'cn=\ufffdx',
    'cn=\ufffd',
    'o=ii\u0307',
    'cn=\xdf',
    'cn=dz\u030c',
    'cn=review',
    'cn=#2c030c0161',
    'cn=\ufffd\ufffdz',
]


def test_canonical_form_is_javas():
    assert len(CASES) == len(JAVA)
    for i, (der, expected) in enumerate(zip(CASES, JAVA)):
        got = x500.canonical(der)
        assert (got[1] if got else None) == expected, (i, der[:40].hex())


def test_equality_needs_the_same_rdn_and_ava_counts():
    """X500Name.equals compares the counts before the strings: CN=a,(empty RDN) != CN=a."""
    names = pkcs7.Names()
    assert not names.equal(seq(set_()), seq())
    assert names.equal(name(ava("CN", u8("Rev\u0131ew"))), name(ava("CN", pr("review"))))
    assert not names.equal(name(ava("CN", bmp("Review"))), name(ava("CN", pr("Review"))))
    assert names.equal(name([ava("CN", u8("b")), ava("O", u8("a"))]), name([ava("O", u8("a")), ava("CN", u8("b"))]))


def test_linear_at_any_length():
    """15 MiB of spaces inside a CN: canonical in well under a second (no byte-compare fallback)."""
    import time
    big = name(ava("CN", u8("Review" + " " * (15 << 20))))
    start = time.perf_counter()
    assert pkcs7.Names().equal(big, name(ava("CN", pr("review"))))
    assert time.perf_counter() - start < 5


JDK17 = Path("/usr/lib/jvm/java-17-openjdk-amd64/bin")


@pytest.mark.skipif(not (JDK17 / "javac").exists(), reason="no JDK 17")
def test_table_still_matches_java(tmp_path):
    (tmp_path / "Canon.java").write_text(JAVA_SRC)
    subprocess.run([str(JDK17 / "javac"), "Canon.java"], cwd=tmp_path, check=True)
    out = subprocess.run([str(JDK17 / "java"), "-cp", str(tmp_path), "Canon"], capture_output=True, text=True,
                         input="".join(c.hex() + "\n" for c in CASES), check=True).stdout.split("\n")
    for i, (line, expected) in enumerate(zip(out, JAVA)):
        java = None if line.startswith("ERR") else bytes.fromhex(line[3:]).decode("utf-8", "surrogatepass")
        assert java == expected, i


JAVA_SRC = """
import javax.security.auth.x500.X500Principal;
import java.io.*;
import java.util.HexFormat;
public class Canon {
  public static void main(String[] a) throws Exception {
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in));
    String line;
    while ((line = r.readLine()) != null) {
      try {
        X500Principal p = new X500Principal(HexFormat.of().parseHex(line.trim()));
        System.out.println("OK " + HexFormat.of().formatHex(p.getName(X500Principal.CANONICAL).getBytes("UTF-8")));
      } catch (Throwable t) { System.out.println("ERR"); }
    }
  }
}
"""


def test_trim_is_javas_and_linear_in_a_run_of_control_characters():
    """String.trim(): every char <= U+0020 off both ends, runs inside kept (tabs are not spaces
    to collapse). Review 33: the regex that trimmed the end backtracked over a run of tabs inside
    a value (a 3 KB APK of 400,000 tabs took 21 minutes); a strip is linear."""
    from apkscan.apk.crypto.x500 import _string

    assert _string("\x00\t a\t\tb  c \x1f") == "a\t\tb c"
    tabs = "a" + "\t" * 400_000 + "b"
    assert _string(tabs) == tabs
