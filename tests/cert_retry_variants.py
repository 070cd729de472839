"""Certificates apksig's BER-to-DER retry reads and OpenJDK's strict reading refuses (or the
reverse): each a tests/der_build.py certificate with one field changed (review 31 F1, F2, F4)."""

import der_build as d

t, seq, oid, B = d.tlv, d.seq, d.oid, d.Cert()
CN = "2.5.4.3"
TIMES = (d.utc("200101000000Z"), d.utc("300101000000Z"))


def outer(*extra: bytes, cert: d.Cert = B) -> bytes:
    return seq(cert.tbs(), cert.outer_alg, cert.signature, *extra)


def issuer(*avas: bytes) -> d.Cert:
    return B.with_(issuer=seq(d.set_(*avas)))


def ava_raw(oid_el: bytes, *rest: bytes) -> bytes:
    return seq(oid_el, *rest)


PRINT = t(0x13, b"Extra")
KEY = d.bitstring(seq(d.integer(d.RSA_N), d.integer(65537)))
V = {
    "base": B.der(),
    "outer-4-elements": outer(d.bitstring(b"\x00")),
    "outer-4-null": outer(d.NULL),
    "outer-5-elements": outer(d.NULL, d.integer(3)),
    "validity-3-times": B.with_(validity=seq(*TIMES, TIMES[1])).der(),
    "validity-3-null": B.with_(validity=seq(*TIMES, d.NULL)).der(),
    "spki-3-elements": B.with_(spki=seq(d.alg(d.RSA), KEY, d.NULL)).der(),
    "version-2-integers": B.with_(version=t(0xA0, d.integer(2) + d.integer(5))).der(),
    "version-constructed": B.with_(version=t(0xA0, t(0x22, b"\x02"))).der(),
    "version-constructed-chunks": B.with_(version=t(0xA0, t(0x22, d.tlv(2, b"") + d.integer(2)))).der(),
    "version-over-int": B.with_(version=t(0xA0, t(2, b"\x01\x00\x00\x00\x02"))).der(),
    "version-utf8": B.with_(version=t(0xA0, t(0x0C, b"\x02"))).der(),
    "version-context": B.with_(version=t(0xA0, t(0x80, b"\x02"))).der(),
    "version-multibyte-tag": B.with_(version=t(0xA0, b"\x1f\x81\x00\x01\x02")).der(),
    "serial-utf8": B.with_(serial=t(0x0C, b"\x07")).der(),
    "time-z-space": B.with_(validity=seq(TIMES[0], d.gen("20540101000000Z "))).der(),
    "time-offset": B.with_(validity=seq(TIMES[0], d.gen("20540101000000+0100"))).der(),
    "time-offset-short": B.with_(validity=seq(TIMES[0], d.gen("20540101000000+01"))).der(),
    "issuer-ava-context-middle": issuer(ava_raw(oid(CN), t(0x80, b"x"), PRINT)).der(),
    "issuer-ava-context-value": issuer(ava_raw(oid(CN), t(0x80, b"x"))).der(),
    "issuer-ava-context-value-padded-oid": issuer(ava_raw(t(0x06, b"\x55\x80\x04\x03"), t(0x80, b"x"))).der(),
    "alg-context-then-null": B.with_(spki=seq(seq(oid(d.RSA), t(0x80, b"x"), d.NULL), KEY)).der(),
    "alg-null-constructed": B.with_(spki=seq(seq(oid(d.RSA), t(0x25, d.NULL + d.NULL)), KEY)).der(),
    "serial-constructed": B.with_(serial=t(0x22, d.integer(7))).der(),
    "serial-constructed-empty": B.with_(serial=t(0x22, b"")).der(),
    "issuer-constructed-oid": issuer(ava_raw(t(0x26, oid(CN)), PRINT)).der(),
    "issuer-ava-3-elements": issuer(ava_raw(oid(CN), PRINT, d.NULL)).der(),
    "issuer-ava-null-middle": issuer(ava_raw(oid(CN), d.NULL, PRINT)).der(),
    "issuer-padded-oid": issuer(ava_raw(t(0x06, b"\x55\x80\x04\x03"), PRINT)).der(),
    "issuer-multibyte-tag-128": issuer(ava_raw(oid("2.5.4.5"), b"\x1f\x81\x00\x01A")).der(),
    "issuer-multibyte-tag-31": issuer(ava_raw(oid("2.5.4.5"), b"\x1f\x1f\x01A")).der(),
    "issuer-multibyte-context-128": issuer(ava_raw(oid("2.5.4.5"), b"\x9f\x81\x00\x01A")).der(),
    "subject-multibyte-tag-128": B.with_(subject=seq(d.set_(ava_raw(oid(CN), b"\x1f\x81\x00\x01A")))).der(),
    "outer-4-truncated": outer(b"\x05"),
    "validity-3-truncated": B.with_(validity=seq(*TIMES, b"\x30\x05")).der(),
    "spki-3-truncated": B.with_(spki=seq(d.alg(d.RSA), KEY, b"\x02")).der(),
    "issuer-ava-3-truncated": issuer(ava_raw(oid(CN), PRINT, b"\x13\x7f")).der(),
    "issuer-constructed-oid-2-oids": issuer(ava_raw(t(0x26, oid(CN) + oid(CN)), PRINT)).der(),
    "issuer-constructed-oid-empty": issuer(ava_raw(t(0x26, b""), PRINT)).der(),
    "issuer-ava-1-element": issuer(ava_raw(oid(CN))).der(),
    "version-empty": B.with_(version=t(0xA0, b"")).der(),
    "ec-padded-key-oid": B.with_(spki=seq(seq(t(0x06, b"\x80" + d.oid_body(d.EC)), oid(d.P256)),
                                          d.bitstring(b"\x04" + bytes(range(1, 65))))).der(),
    "ec-padded-curve-oid": B.with_(spki=d.ec_spki(curve=t(0x06, b"\x80" + d.oid_body(d.P256)))).der(),
    "spki-constructed-oid": B.with_(spki=seq(seq(t(0x26, oid(d.RSA)), d.NULL), KEY)).der(),
    "algs-constructed-oid": B.with_(inner_alg=seq(t(0x26, oid(d.SHA256_RSA)), d.NULL),
                                    outer_alg=seq(t(0x26, oid(d.SHA256_RSA)), d.NULL)).der(),
    "spki-padded-oid": B.with_(spki=seq(seq(t(0x06, b"\x80" + d.oid_body(d.RSA)), d.NULL),
                                        KEY)).der(),
}
