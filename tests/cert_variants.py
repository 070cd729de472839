"""Certificate variants for the OpenJDK acceptance tests (tests/test_jdk_cert.py): each a
tests/der_build.py certificate with one field changed (review 28 F3, F4, F6)."""

import der_build as d

t, seq, oid = d.tlv, d.seq, d.oid
def ext(o, value, critical=None):
    return seq(oid(o), *( [t(1, b"\xff" if critical else b"\x00")] if critical is not None else []), t(4, value))
def exts(*e): return t(0xA3, seq(*e))
B = d.Cert()
KU = t(3, b"\x07\x80")
SAN = seq(t(0x82, b"example.com"))
deep = t(2, b"\x05")
for _ in range(300): deep = seq(deep)
C = {
 "base": B, "v3-ku": B.with_(tail=exts(ext("2.5.29.15", KU, True))),
 "ku-crit-malformed": B.with_(tail=exts(ext("2.5.29.15", b"", True))),
 "ku-noncrit-malformed": B.with_(tail=exts(ext("2.5.29.15", b""))),
 "ku-noncrit-octet": B.with_(tail=exts(ext("2.5.29.15", t(4, b"\x80")))),
 "ku-crit-octet": B.with_(tail=exts(ext("2.5.29.15", t(4, b"\x80"), True))),
 "ku-trailing-crit": B.with_(tail=exts(ext("2.5.29.15", KU + b"\x00", True))),
 "dup-ku": B.with_(tail=exts(ext("2.5.29.15", KU), ext("2.5.29.15", KU))),
 "dup-ku-one-malformed": B.with_(tail=exts(ext("2.5.29.15", KU), ext("2.5.29.15", b""))),
 "dup-unknown": B.with_(tail=exts(ext("1.2.3.4", b"x"), ext("1.2.3.4", b"y"))),
 "unknown-crit": B.with_(tail=exts(ext("1.2.3.4", b"x", True))),
 "crit-false-explicit": B.with_(tail=exts(ext("2.5.29.15", KU, False))),
 "bool-len2": B.with_(tail=exts(seq(oid("2.5.29.15"), t(1, b"\xff\xff"), t(4, KU)))),
 "ext-value-not-octet": B.with_(tail=exts(seq(oid("2.5.29.15"), t(3, b"\x00")))),
 "ext-extra-field": B.with_(tail=exts(seq(oid("2.5.29.15"), t(1, b"\xff"), t(4, KU), d.NULL))),
 "bc-crit-ok": B.with_(tail=exts(ext("2.5.29.19", seq(t(1, b"\xff"), d.integer(0)), True))),
 "bc-crit-int-only": B.with_(tail=exts(ext("2.5.29.19", seq(d.integer(0)), True))),
 "bc-crit-bool-then-null": B.with_(tail=exts(ext("2.5.29.19", seq(t(1, b"\xff"), d.NULL), True))),
 "bc-crit-not-seq": B.with_(tail=exts(ext("2.5.29.19", t(1, b"\xff"), True))),
 "bc-crit-empty": B.with_(tail=exts(ext("2.5.29.19", seq(), True))),
 "ski-crit-not-octet": B.with_(tail=exts(ext("2.5.29.14", d.NULL, True))),
 "aki-crit-bad-tag": B.with_(tail=exts(ext("2.5.29.35", seq(t(0x83, b"x")), True))),
 "aki-crit-ok": B.with_(tail=exts(ext("2.5.29.35", seq(t(0x80, b"x")), True))),
 "eku-crit-non-oid": B.with_(tail=exts(ext("2.5.29.37", seq(d.NULL), True))),
 "eku-crit-empty": B.with_(tail=exts(ext("2.5.29.37", seq(), True))),
 "san-crit-empty": B.with_(tail=exts(ext("2.5.29.17", seq(), True))),
 "san-crit-bad-dns": B.with_(tail=exts(ext("2.5.29.17", seq(t(0x82, b"-bad..name-")), True))),
 "san-crit-ip-5": B.with_(tail=exts(ext("2.5.29.17", seq(t(0x87, b"12345")), True))),
 "empty-subject-san-crit": B.with_(subject=seq(), tail=exts(ext("2.5.29.17", SAN, True))),
 "empty-subject-san-noncrit": B.with_(subject=seq(), tail=exts(ext("2.5.29.17", SAN))),
 "empty-subject-noext": B.with_(subject=seq()),
 "empty-subject-v1": B.with_(version=b"", subject=seq()),
 "empty-issuer": B.with_(issuer=seq()),
 "empty-rdn-subject": B.with_(subject=seq(d.set_())),
 "v1-uid": B.with_(version=b"", tail=t(0x81, b"\x00\x01")),
 "v2-uid": B.with_(version=t(0xA0, d.integer(1)), tail=t(0x81, b"\x00\x01")),
 "v2-ext": B.with_(version=t(0xA0, d.integer(1)), tail=exts(ext("2.5.29.15", KU))),
 "v3-uids-ext": B.with_(tail=t(0x81, b"\x00\x01") + t(0x82, b"\x00\x01") + exts(ext("2.5.29.15", KU))),
 "v3-uid-constructed": B.with_(tail=t(0xA1, t(3, b"\x00\x01"))),
 "v3-not-ext": B.with_(tail=t(0xA4, d.NULL)),
 "v3-after-ext": B.with_(tail=exts(ext("2.5.29.15", KU)) + d.NULL),
 "version-5": B.with_(version=t(0xA0, d.integer(5))),
 "version-5-ext": B.with_(version=t(0xA0, d.integer(5)), tail=exts(ext("2.5.29.15", KU))),
 "version-neg": B.with_(version=t(0xA0, d.integer(-1))),
 "serial-empty": B.with_(serial=t(2, b"")),
 "serial-not-int": B.with_(serial=t(4, b"\x01")),
 "validity-1": B.with_(validity=seq(d.utc("200101000000Z"))),
 "validity-bad-tag": B.with_(validity=seq(t(4, b"x"), d.utc("300101000000Z"))),
 "validity-garbage-utc": B.with_(validity=seq(d.utc("garbage!!!!!"), d.utc("300101000000Z"))),
 "validity-empty-utc": B.with_(validity=seq(d.utc(""), d.utc("300101000000Z"))),
 "cn-integer": B.with_(subject=d.name(seq(oid(d.CN), d.integer(5)))),
 "cn-deep-seq": B.with_(subject=d.name(seq(oid(d.CN), deep))),
 "ava-trailing": B.with_(subject=d.name(seq(oid(d.CN), t(0x0C, b"a"), d.NULL))),
 "ava-no-value": B.with_(subject=d.name(seq(oid(d.CN)))),
 "rdn-not-set": B.with_(subject=seq(seq(seq(oid(d.CN), t(0x0C, b"a"))))),
 "alg-mismatch-params": B.with_(outer_alg=d.alg(d.SHA256_RSA, None)),
 "alg-mismatch-int": B.with_(outer_alg=d.alg(d.SHA256_RSA, d.integer(0))),
 "alg-params-both-int": B.with_(outer_alg=d.alg(d.SHA256_RSA, d.integer(0)), inner_alg=d.alg(d.SHA256_RSA, d.integer(0))),
 "sig-unused": B.with_(signature=d.bitstring(b"\x5a" * 16, 3)),
 "sig-not-bitstring": B.with_(signature=t(4, b"x")),
 "tbs-extra-after": B.with_(tail=exts(ext("2.5.29.15", KU)) + exts(ext("2.5.29.14", t(4, b"x")))),
 "alg-oid-padded": B.with_(inner_alg=seq(t(6, b"\x2a\x80\x86\x48\x86\xf7\x0d\x01\x01\x0b"), d.NULL), outer_alg=seq(t(6, b"\x2a\x80\x86\x48\x86\xf7\x0d\x01\x01\x0b"), d.NULL)),
 "netscape-crit-bad": B.with_(tail=exts(ext("2.16.840.1.113730.1.1", b"", True))),
 "policies-crit-null": B.with_(tail=exts(ext("2.5.29.32", d.NULL, True))),
 "crldp-crit-int": B.with_(tail=exts(ext("2.5.29.31", d.integer(1), True))),
}
