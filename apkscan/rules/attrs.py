"""Certificate name attributes as a rule file may write them -> the names apkscan reads.

Why: the certificate reader names an attribute by its short name (``O``, ``CN`` ...: the table in
:mod:`apkscan.apk.crypto.oids`) or, for any other type, by its dotted OID. A pattern keyed ``o`` or
``organizationName`` was kept as written and never matched, while ``rules lint`` and ``rules test``
(whose examples used the same spelling) both passed it (review 64 F10). Keys are mapped here, for
patterns and examples alike; a key that names no attribute is refused.
"""

from __future__ import annotations

import re

from apkscan.apk.crypto.oids import ATTR_NAMES

_SHORT = {name.lower(): name for name in ATTR_NAMES.values()}
_LONG = {  # RFC 4519 / PKCS #9 names, lower-cased; British spellings too
    "commonname": "CN", "countryname": "C", "localityname": "L", "stateorprovincename": "ST",
    "streetaddress": "STREET", "organizationname": "O", "organisationname": "O",
    "organizationalunitname": "OU", "organisationalunitname": "OU", "domaincomponent": "DC",
    "userid": "UID", "emailaddress": "E", "email": "E",
}
_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]{0,8})){1,30}")
KNOWN = ", ".join(sorted(set(ATTR_NAMES.values())))


def attribute_name(key: str) -> str | None:
    """The name the certificate reader gives the attribute ``key`` names (any case, short or
    long name, dotted OID), or None when it names none."""
    text = key.strip()
    if _OID.fullmatch(text):
        return ATTR_NAMES.get(text, text)
    return _SHORT.get(text.lower()) or _LONG.get(text.lower())


def unknown_attribute(key: object) -> str:
    """The refusal for a key that names no attribute (said the same by lint and the examples)."""
    return (f"{key!r} names no certificate name attribute: write a short name ({KNOWN}, any case), "
            "a long name such as organizationName or commonName, or a dotted OID")
