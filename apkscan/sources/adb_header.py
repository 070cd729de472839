"""The header of an adb backup (``.ab``) and the master key of an encrypted one.

Layout (AOSP ``BackupManagerService``; see shared ``backup-formats.md`` §1): LF-terminated
ASCII lines ``ANDROID BACKUP``, version, compressed flag, ``none`` | ``AES-256``, and
for AES five more lines (user salt, checksum salt, PBKDF2 rounds, user IV, master-key
blob). MIUI writes junk lines before the magic and Windows pipes turn LF into CRLF, so
both are tolerated. Every line and the whole header are length-capped: a hostile header
cannot make us buffer more than :data:`MAX_HEADER_BYTES`. Numbers are read as AOSP's
``PerformAdbRestoreTask`` reads them (``Integer.parseInt``: a version up to 5, 0 and below too;
compressed unless the flag is 0); a form adb never writes is kept in :attr:`AdbHeader.unusual`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAGIC = b"ANDROID BACKUP"
MAX_LINE = 512  # the longest real line is the 192-hex-digit master-key blob
MAX_JUNK_LINES = 8  # MIUI prefixes a few lines
MAX_HEADER_BYTES = 8192
MAX_ROUNDS = 1_000_000  # Android writes 10,000; a hostile header must not buy minutes of CPU
MAX_VERSION = 5  # AOSP BACKUP_FILE_VERSION: restore takes any version up to it, 0 and negatives too


class HeaderError(Exception):
    """The header cannot be used; ``code`` is the stable issue code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AdbHeader:
    version: int
    compressed: bool
    encryption: str  # "none" or "AES-256"
    user_salt: bytes = b""
    checksum_salt: bytes = b""
    rounds: int = 0
    user_iv: bytes = b""
    master_blob: bytes = b""
    junk_lines: int = 0  # lines skipped before the magic (MIUI)
    unusual: tuple[str, ...] = ()  # values read as Integer.parseInt reads them, in a form adb never writes


def _lines(head: bytes) -> list[bytes]:
    """Complete lines of ``head`` (CR stripped); an incomplete last line is dropped."""
    parts = head.split(b"\n")
    return [p[:-1] if p.endswith(b"\r") else p for p in parts[:-1]]


def _magic_index(lines: list[bytes]) -> int | None:
    for i, line in enumerate(lines[: MAX_JUNK_LINES + 1]):
        if line == MAGIC:
            return i
    return None


def looks_like_adb_backup(head: bytes) -> bool:
    """True when ``head`` (the first KBs of a file) has the magic line at 0 or after junk lines."""
    return _magic_index(_lines(head[:MAX_HEADER_BYTES])) is not None


def read_header_bytes(stream: BinaryIO) -> bytes:
    """Up to MAX_HEADER_BYTES from the start, in bounded reads (pipes may return short reads)."""
    buf = bytearray()
    while len(buf) < MAX_HEADER_BYTES:
        got = stream.read(MAX_HEADER_BYTES - len(buf))
        if not got:
            break
        buf += got
    return bytes(buf)


def parse_header(head: bytes) -> tuple[AdbHeader, int]:
    """The header and the offset in ``head`` where the body starts; raises HeaderError."""
    lines = _lines(head)
    start = _magic_index(lines)
    if start is None:
        raise HeaderError("BACKUP_HEADER_INVALID", "no 'ANDROID BACKUP' line at the start")
    fields: list[bytes] = []
    i = start + 1
    while len(fields) < 3:
        fields.append(_field(lines, i, "version, compression flag and encryption"))
        i += 1
    version = _int(fields[0], "version")
    if version > MAX_VERSION:
        raise HeaderError("BACKUP_VERSION_UNSUPPORTED", f"backup format version {version} (known: up to {MAX_VERSION})")
    flag = _int(fields[1], "compression flag")
    unusual = tuple(f"{what} {_show(raw)}" for what, raw, plain in (
        ("version", fields[0], (b"1", b"2", b"3", b"4", b"5")), ("compression flag", fields[1], (b"0", b"1")))
        if raw not in plain)
    encryption = fields[2].decode("ascii", "replace")
    header = AdbHeader(version, flag != 0, encryption, junk_lines=start, unusual=unusual)
    if encryption == "AES-256":
        extra = [_field(lines, i + k, "encryption parameters") for k in range(5)]
        i += 5
        header = AdbHeader(version, header.compressed, encryption, _hex(extra[0], 64, "user salt", True),
                           _hex(extra[1], 64, "checksum salt", True), _int(extra[2], "PBKDF2 rounds"),
                           _hex(extra[3], 16, "user IV"), _hex(extra[4], 96, "master-key blob"), start, unusual)
        if not 1 <= header.rounds <= MAX_ROUNDS:
            raise HeaderError("BACKUP_HEADER_INVALID", f"PBKDF2 rounds {header.rounds} out of range")
    elif encryption != "none":
        raise HeaderError("BACKUP_ENCRYPTION_UNSUPPORTED", f"encryption {_show(fields[2])} (known: none, AES-256)")
    return header, _after_line(head, i)


def _after_line(head: bytes, n: int) -> int:
    """Offset just past the ``n``-th LF: where the binary body starts."""
    pos = -1
    for _ in range(n):
        pos = head.index(b"\n", pos + 1)
    return pos + 1


def _field(lines: list[bytes], i: int, what: str) -> bytes:
    if i >= len(lines):
        raise HeaderError("BACKUP_HEADER_INVALID", f"header ends before the {what} (or a line is too long)")
    if len(lines[i]) > MAX_LINE:
        raise HeaderError("BACKUP_HEADER_INVALID", f"header line {i + 1} is longer than {MAX_LINE} bytes")
    return lines[i]


def _show(raw: bytes) -> str:
    return repr(raw[:40].decode("ascii", "replace"))


def _int(raw: bytes, what: str) -> int:
    """The line as AOSP's restore reads it, ``Integer.parseInt``: an optional ``+``/``-``, then ASCII
    digits (any number of leading zeros), within Java's int range (review 81 F5: ``2``, ``01``, ``+5``,
    ``-1`` were refused, AOSP restores them)."""
    digits = raw[1:] if raw[:1] in (b"+", b"-") else raw
    if not digits or not digits.isascii() or not digits.isdigit():
        raise HeaderError("BACKUP_HEADER_INVALID", f"{what} {_show(raw)} is not a number")
    value = int(raw)
    if not -2**31 <= value < 2**31:
        raise HeaderError("BACKUP_HEADER_INVALID", f"{what} {_show(raw)} is out of Java's int range")
    return value


def _hex(raw: bytes, size: int, what: str, at_least: bool = False) -> bytes:
    try:
        value = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise HeaderError("BACKUP_HEADER_INVALID", f"{what} is not hexadecimal") from None
    if len(value) != size and not (at_least and 8 <= len(value) <= size):
        raise HeaderError("BACKUP_HEADER_INVALID", f"{what} has {len(value)} bytes, expected {size}")
    return value


def java_quirk_bytes(key: bytes) -> bytes:
    """The master key as Java's PBKDF2 sees it after ``byte[] -> char[]`` sign extension.

    Each byte >= 0x80 becomes U+FF80..U+FFFF, which PBKDF2WithHmacSHA1 encodes as 3 bytes
    of UTF-8 (``EF BE xx`` / ``EF BF xx``). Backups from v2 on were written this way.
    """
    return b"".join(bytes([b]) if b < 0x80 else chr(0xFF00 | b).encode("utf-8") for b in key)


def checksum(master_key: bytes, salt: bytes, rounds: int, quirk: bool) -> bytes:
    material = java_quirk_bytes(master_key) if quirk else master_key
    return hashlib.pbkdf2_hmac("sha1", material, salt, rounds, 32)


def unlock(header: AdbHeader, password: str) -> tuple[bytes, bytes] | None:
    """(master key, master IV) when ``password`` opens the backup, None when it does not.

    A wrong password shows as bad padding, a malformed blob or a checksum mismatch. Both
    checksum variants are tried (v1 files use the plain key, later ones the Java quirk),
    the expected one first, as abe and hoardy-adb do.
    """
    user_key = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), header.user_salt, header.rounds, 32)
    dec = Cipher(algorithms.AES(user_key), modes.CBC(header.user_iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        blob = unpadder.update(dec.update(header.master_blob) + dec.finalize()) + unpadder.finalize()
    except ValueError:
        return None
    parts = _length_prefixed(blob, 3)
    if parts is None or len(parts[0]) != 16 or len(parts[1]) != 32:
        return None
    iv, key, expected = parts
    for quirk in ((False, True) if header.version == 1 else (True, False)):
        if checksum(key, header.checksum_salt, header.rounds, quirk) == expected:
            return key, iv
    return None


def _length_prefixed(blob: bytes, count: int) -> list[bytes] | None:
    out, pos = [], 0
    for _ in range(count):
        if pos >= len(blob):
            return None
        n = blob[pos]
        if pos + 1 + n > len(blob):
            return None
        out.append(blob[pos + 1: pos + 1 + n])
        pos += 1 + n
    return out
