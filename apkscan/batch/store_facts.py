"""What the warm lane (:mod:`apkscan.batch.known`) reads of a stored identity after a rule or
policy change: the identity itself (:func:`apkscan.batch.store.stored_identity`, :class:`Deferred`), or only its match
facts (:func:`stored_facts`, :func:`matches_nothing`).

Match facts are kept beside each stored identity (table ``match_facts``, schema 7): what
:mod:`apkscan.rules.prefilter` reads to know an app matches nothing, as JSON, so a rescan after a
rule change need not unpickle the identity (~50 us) and match it (~100 us) for such an app.

Why the facts cannot disagree with the identity they stand for: each identity's row carries the
SHA-256 of its pickle (column ``digest``, schema 8), computed once when the row is written
(:func:`apkscan.batch.store._save`), and checked against the pickle whenever the pickle is read
(a row without it, or whose pickle gives another, is a miss); the facts are written with it, sealed to that
digest (:func:`facts_seal`), and read only through a join on the identity's own row whose digest
must still give the same seal, in this code's format, naming the same SHA-256. apkscan writes an
identity's row only whole (pickle and digest together); a pickle rewritten in place by anything
else loses its digest (a trigger, ``identity_rewritten``). So an identity replaced, rewritten or
moved without its facts, or facts changed alone, is a miss: the identity is then unpickled,
checked and matched as before. What is no longer caught on this read: bytes of a pickle damaged
below SQL (the pickle is not hashed again here: that cost much of the unpickling it saves); such a
pickle is still caught when it is unpickled (hashed against its digest first: review 74 F1), and
its facts are those of what was stored. The seal
is a checksum, not an authenticator: whoever can write the store can write facts, digest and seal
together, as they can plant a well-shaped identity or decision (docs/batch.md: the store is trusted like
your own files).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from apkscan.batch import store


def stored_facts(path: str, sha: str, sdk: dict[str, Any]) -> dict[str, Any] | None:
    """The match facts (:func:`apkscan.rules.prefilter.facts_of`) of the stored identity of ``sha``,
    read without its pickle: only when their seal binds them to that identity's digest as stored
    now (:func:`facts_seal`), in this code's format and of these bytes. None: none stored (a store
    migrated from schema 7 or before), damaged, moved, or their identity changed without them."""
    from apkscan.rules.prefilter import FORMAT

    conn = store.connection(path)
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT f.facts, f.seal, i.digest FROM match_facts f JOIN identities i ON "
                           "i.sha256=f.sha256 AND i.parser=f.parser AND i.options=f.options WHERE f.sha256=? "
                           "AND f.parser=? AND f.options=?",
                           (sha, store.parser_version(), store.options_key(sdk))).fetchone()
        if row is None or row[2] is None or row[1] != facts_seal(row[0], row[2]):
            return None
        facts = json.loads(row[0])
    except (sqlite3.Error, ValueError, TypeError, AttributeError, RecursionError):  # a planted row of another type
        return None
    return facts if _shaped(facts, sha, FORMAT) else None


def _shaped(facts: Any, sha: str, fmt: int) -> bool:
    """Facts of :func:`apkscan.rules.prefilter.facts_of`'s shape, format and bytes (a sealed row of
    another shape was planted: never read as "nothing"). A value of another type deeper in (a
    number as a label or an attribute's value) makes the prefilter raise, which its caller takes
    for "could match" (:func:`matches_nothing`)."""
    if not (type(facts) is dict and facts.get("format") == fmt and facts.get("sha256") == sha
            and type(facts.get("ambiguous")) is bool
            and all(k in facts and (facts[k] is None or type(facts[k]) is str) for k in ("sha1", "md5"))):
        return False
    lists = [facts.get(k) for k in ("packages", "labels", "certificates")]
    return (all(type(x) is list for x in lists)
            and all(type(c) is list and len(c) == 5 and all(d is None or type(d) is str for d in c[:3])
                    and all(type(a) is dict and all(type(v) is list for v in a.values()) for a in c[3:])
                    for c in lists[2]))


def blob_digest(blob: bytes) -> str:
    """An identity's pickle as its row's ``digest`` column keeps it (SHA-256, hex)."""
    return hashlib.sha256(blob).hexdigest()


def facts_seal(facts: str, digest: str) -> str:
    """What binds match facts to the identity they were read from: a SHA-256 (128 bits kept) of the
    facts' text and the digest of the identity's pickle (:func:`blob_digest`). A checksum, not an
    authenticator (like the warm lane's seal: whoever can write the store can plant an identity
    too, docs/batch.md)."""
    return hashlib.sha256(facts.encode("utf-8") + b"\n" + digest.encode("ascii")).hexdigest()[:32]


def put_facts(conn: sqlite3.Connection, identity: Any, options: str, digest: str) -> dict[str, Any] | None:
    """Buffer ``identity``'s match facts, sealed to ``digest`` (of its pickle as stored); the facts
    (None: they could not be made)."""
    from apkscan.rules.prefilter import facts_of

    try:
        facts = facts_of(identity)
        text = json.dumps(facts)
    except Exception:  # noqa: BLE001 - a stored value that fails when used: no facts, matched as before
        return None
    store.buffered_write(conn, "INSERT OR REPLACE INTO match_facts VALUES (?,?,?,?,?)",
                         (identity.file.sha256, store.parser_version(), options, text, facts_seal(text, digest)))
    return facts


class Deferred:
    """A stored identity unpickled when deciding first reads it (only an allow-list entry does:
    ``policy.decide``), or never; not stored, or not an identity of those bytes: LookupError,
    which the caller takes for a miss."""

    __slots__ = ("_load", "_got")

    def __init__(self, load: Callable[[], Any]):
        self._load, self._got = load, None

    def __getattr__(self, name: str) -> Any:
        if self._got is None:
            self._got = self._load()
            if self._got is None:
                raise LookupError("no stored identity of these bytes")
        return getattr(self._got, name)


def matches_nothing(facts: dict[str, Any], rules: Any) -> bool:
    """An identity whose stored match facts are ``facts`` (:func:`stored_facts`: sealed to the
    stored identity, only ever written for one read to the end) yields no finding under ``rules``,
    known without unpickling it. False: they say some rule could match (the identity is then
    matched as usual)."""
    from apkscan.rules.prefilter import prefilter_of

    try:
        return not prefilter_of(rules).could_match(facts)
    except Exception:  # noqa: BLE001 - facts of the wrong shape (planted with a seal): matched as usual
        return False
