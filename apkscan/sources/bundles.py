"""Split bundles from stores and tools: bundletool/SAI/AppManager ``.apks``, ``.xapk``, ``.apkm``.

One rule for all of them (as SAI and AppManager install them): every ``*.apk`` entry at
any depth is a member of the bundle, classified and verified on its own; the scan groups
them by the bundle key, takes the base (no ``split`` attribute) as the app and compares
every split with it. Metadata (``toc.pb``, ``manifest.json``, ``info.json``...) is a claim
and is not trusted for identity; APKMirror's ``META-INF/APKMIRRO.*`` signs the *bundle*
and is never the app's certificate; OBB expansion files are data, listed and not scanned.
Those names are claims too: a member skipped by its name whose bytes are an APK (a ZIP
holding ``AndroidManifest.xml``) is scanned like any other member.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from apkscan.issues import ApkScanError
from apkscan.sources import detect, polyglot
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped, chain_display
from apkscan.sources import zip_member_sizes
from apkscan.sources.zip_archive import ZipReader, empty_folder, encrypted, shown_name

_METADATA = re.compile(r"(toc\.pb|manifest\.json|info\.json|meta\.sai_v\d+\.json|icon\.png|APKM_installer\.url)\Z")


class BundleReader(ZipReader):
    """A ZIP-based split bundle of kind ``apks``, ``apks-sai``, ``xapk`` or ``apkm``."""

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self._judged: dict[tuple | None, bool] = {}  # data key -> an APK? (names skipped as data)

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """The ``*.apk`` entries first, then the rest (random access, as a pulled folder's base and
        splits are walked first: review 48 F1): the set is gathered before anything else is read, as
        Android and SAI take every ``*.apk`` of the ZIP wherever it lies (review 90 F1)."""
        apks = [e.name.lower().endswith(".apk") for e in self.archive.entries]
        for first in (True, False):
            for entry, apk in zip(self.archive.entries, apks):
                if apk is first:
                    yield from self._entry(entry)
        yield from self.local_items()

    def _entry(self, entry) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """Like :meth:`ZipReader._entry`, but a member skipped by its name (OBB, APKMirror's
        signature) is scanned after all when its bytes are an APK (a ZIP holding a manifest)."""
        if empty_folder(entry) or entry.index in self.exclude:  # read by a layout below the root
            return
        skip = self.skip_reason(entry.name)
        try:  # a skipped name is looked at by its head first: data is neither inflated nor charged,
            apk = not skip or encrypted(entry) or self._worth_a_look(entry)  # unless it may be an APK
            # (an encrypted one: member() says so)
            member = self.member(entry) if apk else None
            if member is None or (skip and not self._holds_apk(member)):
                yield Skipped(self.chain, skip, 1, [entry.name])
                member = None
        except ApkScanError as exc:
            yield InputProblem(self.chain + (entry.name,), [exc.to_issue()])
            member = None
        if member is not None:
            zip_member_sizes.flag_first(entry, member)
            yield member
        for other in zip_member_sizes.csize_reading(self, entry, shown_name(entry), member.flags if member else []):
            if not skip or not isinstance(other, Member) or self._holds_apk(other):
                yield other  # a name skipped as data: its other reading too, unless it holds an APK

    def _worth_a_look(self, entry) -> bool:
        """A skipped name's bytes may be an APK: stored (looked at from its end in place, one read) or
        a head that is a ZIP's or one the walker knows (a tar, a gzip ...: read to its end, its tail
        kept, review 60 F1); any other deflated head is data by its first bytes, as for any stream."""
        if not entry.compressed:
            return True
        head = detect.zip_entry_head(self.archive_of(entry)[0], entry, detect.HEAD_SIZE)
        return detect.is_zip(head) or polyglot.known_head(head) is not None

    def _holds_apk(self, member: Member) -> bool:
        """:func:`detect.member_holds_apk`, asked once per data key: names that all point at one
        deflated OBB would otherwise inflate it once each (a "no" reused inflates nothing: that
        member's charge is given back; a "yes" goes to the walker, which settles its charge)."""
        if member.data_key not in self._judged:
            self._judged[member.data_key] = detect.member_holds_apk(member)
        elif not self._judged[member.data_key]:
            self.budget.refund(member.charged)
        return self._judged[member.data_key]

    def skip_reason(self, name: str) -> str | None:
        lower = name.lower()
        if lower.endswith(".obb"):
            return "OBB data, not an APK"
        if name.startswith("META-INF/APKMIRRO."):
            return "the bundle's own signature (APKMirror), not the app's"
        if _METADATA.fullmatch(name):
            return "bundle metadata (a claim, not an identity)"
        return None

    def bundle_key(self, name: str) -> str | None:
        return chain_display(self.chain) if name.lower().endswith(".apk") else None


def in_split_folder(name: str) -> bool:
    """A file Android reads as part of a pulled install folder's set: every ``*.apk`` of it, as
    ``parseClusterPackageLite`` reads them (an odd name is no excuse: review 90 F2)."""
    return name.endswith(".apk")


def is_split_folder(file_names: list[str]) -> bool:
    """A pulled install folder: ``base.apk`` beside another ``*.apk``, whatever its name."""
    return "base.apk" in file_names and any(in_split_folder(n) and n != "base.apk" for n in file_names)


class InstallSetReader(ZipReader):
    """A plain ZIP that a backup layout says holds part of one install (Swift Backup's
    ``<pkg>.splits``): every member carries that install's bundle key, so its APKs are assembled
    with the base beside it; which member is an APK, a base or a split is read from its bytes."""

    def __init__(self, *args, key: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = key

    def bundle_key(self, name: str) -> str | None:
        return self.key
