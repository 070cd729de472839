"""What every signature scheme shares: SDK levels, block ids, which schemes count, and the
one reader of the length-prefixed little-endian records every APK signature format uses.

``SchemePlan.for_range`` is apksig's ``ApkVerifier`` rule "which schemes does a platform
in [min_sdk, max_sdk] check" written once: the verifier follows it, and the tests that
drive schemes by hand use it instead of restating the rule.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

MAX_SDK = 2**31 - 1


class Sdk(IntEnum):
    """Android API levels at which signature verification changed."""

    GINGERBREAD = 9
    JELLY_BEAN_MR2 = 18
    KITKAT = 19
    N = 24  # v2
    O = 26  # targetSandboxVersion
    P = 28  # v3, key rotation
    R = 30  # v2+ required for targetSdk >= 30; source stamp
    T = 33  # v3.1


class BlockId(IntEnum):
    """Ids of the pairs of the APK Signing Block that apkscan knows."""

    V2 = 0x7109871A
    V3 = 0xF05368C0
    V31 = 0x1B93AD61
    STAMP_V1 = 0x2B09189E  # ignored by current apksig
    STAMP_V2 = 0x6DFF800D
    VERITY_PADDING = 0x42726577
    DEPENDENCY_INFO = 0x504B4453  # Play
    PLAY_FROSTING = 0x71777777


KNOWN_BLOCK_IDS = frozenset(int(b) for b in BlockId)
SCHEME_ID = {"v1": 1, "v2": 2, "v3": 3, "v31": 31, "v4": 4}


@dataclass(frozen=True, slots=True)
class SchemePlan:
    """The schemes that count for a platform range, in apksig's order of decision.

    ``counted`` lists v3.1, v3, v2 (as present and applicable), then v1 when the range starts
    below N or no signing-block scheme counts. ``v31_without_v3``: a v3.1 block that counts
    has no v3 block beside it, which apksig rejects.
    """

    min_sdk: int
    max_sdk: int
    counted: tuple[str, ...]
    v31_without_v3: bool = False

    @classmethod
    def for_range(cls, min_sdk: int, max_sdk: int, blocks) -> "SchemePlan":
        """``blocks``: ids of the signing-block pairs present."""
        counted: list[str] = []
        if max_sdk >= Sdk.N:
            if BlockId.V31 in blocks and max_sdk >= Sdk.T:
                counted.append("v31")
            if BlockId.V3 in blocks and max_sdk >= Sdk.P:
                counted.append("v3")
            if BlockId.V2 in blocks and (min_sdk < Sdk.P or not counted):
                counted.append("v2")
        v31_without_v3 = "v31" in counted and "v3" not in counted
        if min_sdk < Sdk.N or not counted:
            counted.append("v1")
        return cls(min_sdk, max_sdk, tuple(counted), v31_without_v3)

    def counts(self, scheme: str) -> bool:
        return scheme in self.counted

    @property
    def found_ids(self) -> frozenset[int]:
        """Scheme ids of the signing-block schemes that count (v1's stripping protection)."""
        return frozenset(SCHEME_ID[s] for s in self.counted if s != "v1")

    @property
    def v2_found_ids(self) -> frozenset[int]:
        """The newer schemes v2's stripping-protection attribute is checked against."""
        return frozenset(SCHEME_ID[s] for s in self.counted if s in ("v31", "v3"))

    @property
    def supported_ids(self) -> frozenset[int]:
        """Signing-block schemes a platform of ``max_sdk`` understands (v2's attribute check)."""
        if self.max_sdk >= Sdk.P:
            return frozenset({2, 3})
        return frozenset({2}) if self.max_sdk >= Sdk.N else frozenset()


class Malformed(Exception):
    """A length or field ran past its container (apksig's ApkFormatException/BufferUnderflow)."""


class Buf:
    """Bounded little-endian reader over one length-prefixed record (v2, v3, v3.1, v4,
    source stamp, lineage): ``int32`` lengths, never reading past ``end``."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes | memoryview, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def u8(self) -> int:
        if self.remaining() < 1:
            raise Malformed("buffer underflow reading a byte")
        self.pos += 1
        return self.data[self.pos - 1]

    def i32(self) -> int:
        if self.remaining() < 4:
            raise Malformed("buffer underflow reading a 32-bit value")
        (v,) = struct.unpack_from("<i", self.data, self.pos)
        self.pos += 4
        return v

    def u32(self) -> int:
        return self.i32() & 0xFFFFFFFF

    def slice(self) -> "Buf":
        n = self.i32()
        if n < 0 or n > self.remaining():
            raise Malformed(f"length-prefixed field of {n} bytes, {self.remaining()} remaining")
        out = Buf(self.data, self.pos, self.pos + n)
        self.pos += n
        return out

    def prefixed_bytes(self) -> bytes:
        return self.slice().rest()

    def rest(self) -> bytes:
        out = bytes(self.data[self.pos : self.end])
        self.pos = self.end
        return out
