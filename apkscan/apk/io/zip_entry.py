"""One central-directory record, as Android and apksig trust it (:mod:`apkscan.apk.io.zipreader`
parses them; :mod:`apkscan.apk.io.zip_trailing` the records past the EOCD's count)."""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.issues import ApkFormatError

CD_SIG = 0x02014B50
CD_HEADER = 46
METHOD_STORED = 0
METHOD_DEFLATED = 8


@dataclass(slots=True)
class ZipEntry:
    """One central-directory record: the values Android trusts."""

    index: int
    name: str  # UTF-8, undecodable bytes replaced, as apksig decodes names
    raw_name: bytes | None  # the name's bytes; None when ASCII (``name`` is then the same bytes)
    method: int
    flags: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    local_header_offset: int
    cd_record_offset: int
    raw_sizes: tuple[int, int] | None = None  # the record's own 32-bit (compressed, uncompressed) fields
    raw_offset: int | None = None  # its own 32-bit local-header offset (a ZIP64 extra may replace it)
    _data_delta: int | None = field(default=None, repr=False)  # data offset - local header offset: a small int, not one more object
    _local_refusal: ApkFormatError | None = field(default=None, repr=False)  # see LocalHeader.refusal

    @property
    def name_bytes(self) -> bytes:
        """The name as the central directory holds it (an ASCII name is not kept twice: 65,000
        entries with long names held 15 MB of copies)."""
        return self.name.encode("ascii") if self.raw_name is None else self.raw_name

    @property
    def name_size(self) -> int:
        """The name's length in bytes, without encoding it."""
        return len(self.name) if self.raw_name is None else len(self.raw_name)

    @property
    def is_directory(self) -> bool:
        return self.name.endswith("/")

    @property
    def compressed(self) -> bool:
        """apksig and Android inflate every entry whose method is not STORED."""
        return self.method != METHOD_STORED

    @property
    def stored_size(self) -> int:
        """Bytes the entry occupies in the file (CD sizes, as Android uses them)."""
        return self.compressed_size if self.compressed else self.uncompressed_size
