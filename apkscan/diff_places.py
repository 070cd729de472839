"""Where things are, for ``apkscan diff``: each outermost source's key and the place inside it.

An app, an input error or a skipped file is matched across two scans by (source key, place):
the source is the outermost input it came from (a backup, an archive; ``DIRECT`` for APKs given
as files or folders; an input given itself that failed is its own, by its path), the place the
member chain inside a container or the path below the scanned input. With ``--source-by-name`` a source is keyed by its file name, lengthened to the
shortest path suffix that no other source of either scan shares with it in the same scan:
two devices' ``backup.ab`` (``2026-01/dev1/backup.ab``, ``2026-01/dev2/backup.ab``) are
``dev1/backup.ab`` and ``dev2/backup.ab``, never one merged source (review 55 F2).
Places are found by looking each path's ancestors up in a set of the scanned roots: O(depth)
per path, not O(inputs) (review 55 F6: 8,000 inputs x 8,000 errors took minutes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from apkscan.report.paths import outermost_input
from apkscan.sources.interface import CHAIN_SEPARATOR

if TYPE_CHECKING:
    from apkscan.document import ScanDocument, Source

DIRECT = ""  # source key of APKs given directly (files and folders on the command line)
_SEPARATORS = re.compile(r"[/\\]")


def outermost(where: Source, container: str | None) -> str:
    """The outermost source an app or error came from (:func:`outermost_input`, as every report
    reads it), or DIRECT for an APK given directly."""
    return outermost_input(where, container) or DIRECT


def document_sources(doc: ScanDocument) -> set[str]:
    """Every outermost path a document names: of its apps, errors and skipped places, and every
    input it was given, read or not: a name is lengthened over all of them, so a device whose
    ``backup.ab`` failed still tells the other ``backup.ab`` apart (review 71 F12)."""
    out = {outermost(a.where, a.container) for a in doc.apps}
    out |= {outermost(e.where, e.container) for e in doc.errors}
    out |= {s.where[0] for s in doc.skipped if s.where}
    out |= Roots(doc).roots
    out.discard(DIRECT)
    return out


def _parts(path: str) -> list[str]:
    return [p for p in _SEPARATORS.split(path.rstrip("/\\")) if p] or [path]


class SourceKeys:
    """Outermost path -> the key it is matched by (itself; with ``by_name`` its shortest
    unambiguous name), the same for both documents; ``lengthened`` lists names that two
    sources of one scan shared (said in a note)."""

    def __init__(self, documents: Iterable[set[str]], by_name: bool):
        self.by_name = by_name
        self.keys: dict[str, str] = {}
        self.lengthened: list[str] = []
        if by_name:
            self._name_keys(list(documents))

    def _name_keys(self, documents: list[set[str]]) -> None:
        groups: dict[str, list[list[str]]] = {}  # file name -> each document's paths of that name
        for i, paths in enumerate(documents):
            for p in paths:
                groups.setdefault(_parts(p)[-1], [[] for _ in documents])[i].append(p)
        for name, per_doc in groups.items():
            depth = max(len(_parts(p)) for paths in per_doc for p in paths)
            k = next((k for k in range(1, depth + 1) if all(_unique(paths, k) for paths in per_doc)), None)
            if k is not None and k > 1:
                self.lengthened.append(name)
            for paths in per_doc:
                for p in paths:  # no suffix tells them apart (a//b.ab and a/b.ab): the path itself
                    self.keys[p] = "/".join(_parts(p)[-k:]) if k is not None else p

    def key(self, path: str) -> str:
        if not self.by_name or not path:
            return path
        return self.keys.get(path) or os.path.basename(path.rstrip("/\\")) or path


def _unique(paths: list[str], k: int) -> bool:
    suffixes = {tuple(_parts(p)[-k:]) for p in paths}
    return len(suffixes) == len(paths)


class Roots:
    """The paths a scan was given (``inputs``), without a trailing separator, as a set."""

    def __init__(self, doc: ScanDocument):
        paths = [i if isinstance(i, str) else i.get("path") for i in doc.inputs]
        self.roots = frozenset(p.rstrip("/\\") or p for p in paths if isinstance(p, str) and p)

    def place(self, where: Source, container: str | None = None) -> str:
        """Where in its source an input is: the member chain inside a container, else its path
        below the scanned input it came from (the input's file name when it was given itself;
        the whole path when no recorded input holds it). ``container``: the record's own (1.0)."""
        chain = where.chain or _chain_of(where, container)
        if len(chain) > 1:
            return CHAIN_SEPARATOR.join(chain[1:])
        return self.below(chain[0] if chain else "")

    def given(self, where: Source, container: str | None = None) -> str | None:
        """The recorded input a record *is* (a file or folder named on the command line), else
        None. Such an input's failure is a source of its own, keyed by its path: by its file name
        alone, two devices' byte-identical failures (0-byte ``base.apk`` pulls) swapped places
        unseen (review 71 F12)."""
        chain = where.chain or _chain_of(where, container)
        if len(chain) != 1:
            return None
        path = chain[0].rstrip("/\\") or chain[0]
        return path if path in self.roots else None

    def below(self, path: str) -> str:
        """``path`` below its deepest recorded root: each ancestor looked up, nearest first."""
        root = self.root_of(path)
        if root is None:
            return path
        return os.path.basename(path.rstrip("/\\")) or path if root == path else path[len(root) + 1:]

    def root_of(self, path: str) -> str | None:
        """The deepest recorded root that is ``path`` or holds it (None: none does)."""
        if path in self.roots:
            return path
        for m in reversed(list(_SEPARATORS.finditer(path))):
            if path[:m.start()] in self.roots:
                return path[:m.start()]
        return None


def _chain_of(where: Source, container: str | None) -> tuple[str, ...]:
    """The chain of a record that names none (1.0, edited): its container's, then its path (a
    member name, as 1.0 wrote it), so a place is the same whether the document has ``chain`` or not
    (``level5.zip`` four levels into ``deep.zip`` was a place of its own and a new failure)."""
    container = where.container or container
    if container:
        return (*container.split(CHAIN_SEPARATOR), where.path)
    return tuple(where.path.split(CHAIN_SEPARATOR))


def direct_folders(doc: ScanDocument) -> set[str]:
    """The folders a document's APKs met in input folders lie in (not the input folders alone: a
    fleet folder of device folders is one input, review 69 F1): one group in a diff."""
    roots, out = Roots(doc), set()
    for a in doc.apps:
        if outermost(a.where, a.container) == DIRECT:
            root = roots.root_of(a.where.path)
            if root is not None and root != a.where.path:
                out.add(os.path.dirname(a.where.path.rstrip("/\\")))
    return out


def skipped_places(doc: ScanDocument, keys: SourceKeys, roots: Roots) -> dict[tuple[str, str], str]:
    """(source key, place) -> reason, for every skipped file a document lists by name. A place
    of one element may be a folder or a container: both readings are kept (a path cannot be both)."""
    out: dict[tuple[str, str], str] = {}
    for s in doc.skipped:
        if not s.where:
            continue
        for example in s.examples:
            if len(s.where) > 1:
                out[(keys.key(s.where[0]), CHAIN_SEPARATOR.join((*s.where[1:], example)))] = s.reason
                continue
            out[(keys.key(s.where[0]), example)] = s.reason  # a member of a container
            top = s.where[0].rstrip("/\\")
            path = example if example.startswith((top + "/", top + "\\")) else f"{top}/{example}"
            out[(DIRECT, roots.below(path))] = s.reason  # a file in a folder
    return out
