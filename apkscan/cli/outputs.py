"""Output paths are checked before any work starts, so a report never overwrites evidence.

Why: ``scan --json a.apk b.apk`` once replaced the analyst's ``a.apk`` with a JSON report
(``--json`` takes a FILE; the slip is natural). Every command that writes a file runs
:func:`check_outputs` first. A path is refused (usage error, exit 2) when it

- is one of the inputs, or lies inside an input folder or an input container file, or reaches
  its place through a symbolic link that lies inside an input (a link planted in the evidence,
  ``ev/reports -> /else``, must not make ``ev/reports/r.json`` an allowed path, however the
  path reaches ``ev``: reviews 49 F1, 50 F1), whatever mount point either is reached through
  (a second mount of an input or of a folder inside one: :mod:`apkscan.cli.mounts`);
- is an existing directory or a non-regular file (``/dev/null``, a FIFO: a report is
  written to a temporary sibling and renamed, which would replace the device node;
  ``-`` is stdout);
- exists and is not an apkscan report of that format (recognised by its first bytes),
  unless ``--force``;
- ends like an input (``.apk``, ``.apks``, ``.ab``, ...), unless ``--force``;
- is given twice, or its folder cannot be created or written.

Folders are created here, before scanning, so an unwritable path costs nothing.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable

import click

from apkscan.apk.io.readonly import open_binary
from apkscan.cli.mounts import MountTable
from apkscan.issues import warning
from apkscan.report.formats import OutputError, check_targets

HEAD_BYTES = 64 * 1024  # how much of an existing file is read to recognise a report
INPUT_SUFFIXES = (".apk", ".apks", ".xapk", ".apkm", ".aab", ".ab", ".idsig", ".dex", ".zip",
                  ".tar", ".tgz", ".gz", ".jar")
HTML_MARKER = b"<!-- apkscan report -->"
_ZIP_END = b"PK\x05\x06"  # an end-of-central-directory record: this is an archive, whatever its start


def _is_json_report(head: bytes) -> bool:
    """Our writers' exact openings (json.dump, indent 2): a scan result, a STIX export, inspect's array."""
    if head.startswith(b'{\n  "schema_version": "'):
        return b'\n  "tool": {\n    "name": "apkscan",' in head[:4096]
    if head.startswith(b'{\n  "kind": "apkscan-diff",'):
        return True
    if head.startswith(b'{\n  "type": "bundle",'):
        return b'"description": "apkscan rule ' in head
    return head.startswith(b'[\n  {\n    "path": ') and b'\n    "verified_sdk_range": ' in head


def _is_sarif_report(head: bytes) -> bool:
    return (head.startswith(b'{\n  "$schema": "https://docs.oasis-open.org/sarif/')
            and b'"driver": {\n          "name": "apkscan",' in head[:4096])


def _is_csv_report(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\r\n", 1)[0]
    return first.startswith(b"verdict,") and b",apk_sha256," in first


def _is_jsonl_stream(head: bytes) -> bool:
    """``scan --jsonl``'s first line (:class:`apkscan.batch.jsonl.JsonlWriter`)."""
    return head.startswith(b'{"type": "run", "run_id": ')


def _is_html_report(head: bytes) -> bool:
    """The marker, or (reports written before it) our title in the head."""
    return head.startswith(b"<!DOCTYPE html>") and (HTML_MARKER in head[:1024]
                                                     or b"<title>apkscan report: " in head[:2048]
                                                     or b"<title>apkscan diff: " in head[:2048])


RECOGNISERS: dict[str, Callable[[bytes], bool]] = {
    "json": _is_json_report, "sarif": _is_sarif_report, "csv": _is_csv_report, "html": _is_html_report,
    "jsonl": _is_jsonl_stream,
}


def is_report(name: str, path: str) -> bool:
    """Whether ``path`` is an apkscan ``name`` report: our writer's opening, and no ZIP end record
    (an APK can carry any bytes before its first entry, so a report-like start proves nothing alone)."""
    with open_binary(path) as fh:  # it may be an input given by mistake: its access time kept
        head = fh.read(HEAD_BYTES)
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - HEAD_BYTES))
        tail = fh.read(HEAD_BYTES)
    return RECOGNISERS.get(name, lambda _h: False)(head) and _ZIP_END not in head + tail


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)


def _existing_problem(name: str, path: str, real: str, force: bool) -> str | None:
    """Why an existing ``path`` must not be replaced by a ``name`` report, or None."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot check it: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder; give a file name"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (use '-' for stdout)"
    if st.st_nlink > 1:  # even with --force: its other name may lie in an input folder (review 68 F5)
        return (f"has {st.st_nlink} names (hard links): replacing it would change that file's link count and "
                "ctime under its other names, which may be evidence; give a new file name")
    if force:
        return None
    try:
        if is_report(name, real):
            return None
    except OSError as exc:
        return f"cannot be read to check what it is: {exc.strerror or exc}"
    return (f"exists and is not an apkscan {name} report; refusing to replace it "
            "(did an input slip in as the option's value? --force replaces it)")


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class ResolvedInputs(list):
    """The run's inputs as ``(given, real path)`` pairs, resolved once: a run may name 100,000
    files, and every output, the store, the JSONL stream and the rule cache are checked against
    them (each check resolving them again cost ~5 ``realpath`` per input). ``-`` (stdin) is left out."""

    def __init__(self, inputs: Iterable[str], pairs: Iterable[tuple[str, str]] = (), mounts: _Mounts | None = None):
        super().__init__(pairs)
        self.extend((i, os.path.realpath(i)) for i in inputs if i != "-")
        self._ids: list[tuple[int, int] | None] | None = None
        self._by_id: dict[tuple[int, int], str] | None = None
        self.mounts = mounts or _Mounts()

    @classmethod
    def of(cls, inputs: Iterable[str]) -> ResolvedInputs:
        return inputs if isinstance(inputs, ResolvedInputs) else cls(inputs)

    def with_files(self, more: Iterable[str]) -> ResolvedInputs:
        """These inputs and ``more`` (files the run reads besides its inputs: rule, indicator,
        policy and password files), for output checks only: the run's identity is its inputs'."""
        return ResolvedInputs((), [*self, *((f"{p} (a file this run reads)", os.path.realpath(p)) for p in more)],
                              self.mounts)

    def holding(self, real: str) -> str | None:
        """The input (as given) that is the real path ``real`` or holds it, or None (:meth:`holding_as`)."""
        found = self.holding_as(real)
        return None if found is None else found[0]

    def holding_as(self, real: str) -> tuple[str, str] | None:
        """The input (as given) that is the real path ``real`` or holds it, and the name of ``real``
        it holds, or None: by path, also for every other name the mounts give ``real`` (a second
        mount point of a folder inside an input: review 52 F2), and by (device, inode) of ``real``
        and each folder above it, so a second mount point of an input (a bind mount, a container
        volume) is that input too (51 F1)."""
        table = self.mounts()
        for name in [real, *(table.names(real) if table is not None else ())]:
            for given, real_input in self:
                if _inside(name, real_input):
                    return given, name
        if self._by_id is None:
            self._by_id = {i: given for (given, _), i in zip(self, self.file_ids()) if i is not None}
        ids, here = self._by_id, real
        while ids:
            found = _file_id(here)
            if found in ids:
                return ids[found], real
            up = os.path.dirname(here)
            if up == here:
                break
            here = up
        return None

    def file_ids(self) -> list[tuple[int, int] | None]:
        """(device, inode) of each real input, read once (hard links are the same file)."""
        if self._ids is None:
            self._ids = [_file_id(real) for _, real in self]
        return self._ids


class _Mounts:
    """This run's mount table, read on first use and then shared (:mod:`apkscan.cli.mounts`).
    Unreadable on Linux (no ``/proc``): said once on stderr, and the checks are those without it."""

    def __init__(self) -> None:
        self._read = False
        self._table: MountTable | None = None

    def __call__(self) -> MountTable | None:
        if not self._read:
            self._read = True
            self._table = MountTable.read()
            if self._table is None and sys.platform.startswith("linux"):
                from apkscan.issue_codes import meaning  # the registry: loaded on a problem only

                issue = warning("MOUNT_TABLE_UNREADABLE", meaning("MOUNT_TABLE_UNREADABLE"))  # the registered text
                click.echo(f"warning: {issue.code}: {issue.message}", err=True)
        return self._table


def input_conflict(path: str, inputs: Iterable[str], written: str | None = None) -> str | None:
    """Why writing ``path`` would touch evidence (it is an input or lies inside one), or None;
    ``written``: the path as the user wrote it, when ``path`` was resolved already.

    Also for files that are not reports (the temporary folder; the store: :func:`store_conflict`)."""
    return _input_conflict(os.path.realpath(path), ResolvedInputs.of(inputs), written or path)


STORE_SIDECARS = ("", "-wal", "-shm", "-journal")  # SQLite creates, truncates or deletes each of them


def store_conflict(path: str, inputs: Iterable[str]) -> str | None:
    """:func:`input_conflict` for a SQLite file and every sidecar SQLite may write or delete
    beside it (a new store removes an existing ``X-wal``: review 49 F4)."""
    inputs = ResolvedInputs.of(inputs)
    for suffix in STORE_SIDECARS:
        problem = input_conflict(path + suffix, inputs)
        if problem:
            return problem if not suffix else f"its {suffix[1:]} file {path + suffix} {problem}"
    return None


def _input_conflict(real: str, inputs: ResolvedInputs, path: str | None = None) -> str | None:
    """``real``: the output's real path, compared with the inputs (by path and by device and inode);
    ``path``: as given, resolved again step by step (:func:`_link_in_an_input`)."""
    out_id = _file_id(real)
    for (given, real_input), in_id in zip(inputs, inputs.file_ids()):
        if real == real_input or (out_id is not None and out_id == in_id):
            return f"is the input {given}"  # also through a symlink or a hard link
    found = inputs.holding_as(real)
    if found is not None:
        owner, name = found
        return f"is inside the input {owner}" + ("" if name == real else f" (it is {name} through another mount point)")
    return None if path is None else _link_in_an_input(path, inputs)


MAX_LINKS = 40  # what Linux follows in one path resolution (ELOOP past it)


def _link_in_an_input(path: str, inputs: ResolvedInputs) -> str | None:
    """Why ``path`` must not be written: resolving it as the system does, component by component,
    meets a symbolic link that lies inside an input (the evidence decides where that link points);
    or None. ``..`` applies to the folder reached so far, as it does for the system."""
    pending = _components(path if os.path.isabs(path) else os.path.join(os.getcwd(), path))
    here, hops = os.sep, 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            here = os.path.dirname(here)
            continue
        step = os.path.join(here, part)
        try:
            target = os.readlink(step)
        except OSError:  # no link (or not there yet: created as named)
            here = step
            continue
        owner = inputs.holding(here)
        if owner is not None:
            return (f"goes through the link {step} inside the input {owner} (a link in the evidence may point "
                    "anywhere; the scan never writes through one)")
        hops += 1
        if hops > MAX_LINKS:  # the system refuses it (ELOOP); Python's realpath, which writers use, may not
            return f"goes through more than {MAX_LINKS} symbolic links"
        if os.path.isabs(target):
            here = os.sep
        pending.extend(_components(target))
    return None


def _components(path: str) -> list[str]:
    """``path``'s parts, last first (a stack: a link's target is pushed on what is left)."""
    return list(reversed(path.split(os.sep)))


def output_problem(name: str, path: str, real: str, inputs: ResolvedInputs, force: bool) -> str | None:
    """Why ``path`` (real path ``real``) must not receive a ``name`` output, or None. The input
    check comes first: ``--force`` never reaches it."""
    problem = _input_conflict(real, inputs, path)
    if problem:
        return problem
    problem = _existing_problem(name, path, real, force)
    if problem:
        return problem
    if not force and path.lower().endswith(INPUT_SUFFIXES):
        return "is named like an input, not a report (--force writes it anyway)"
    return None


def prepare_folder(path: str) -> None:
    """Create the folder of a report (or the JSONL stream) and prove it is writable, before any scanning."""
    import tempfile  # only when a report is asked for

    from apkscan.folders import resolved

    folder = os.path.dirname(resolved(path))  # where the system will write it (``link/..``: review 43 F7)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".apkscan-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_outputs(targets: dict[str, str | None], inputs: Iterable[str], *, force: bool = False,
                  options: dict[str, str] | None = None) -> dict[str, str]:
    """The requested ``{format: path}`` once every path is safe; raises :class:`OutputError`.

    ``options`` maps a format to the option that named it (``{"json": "--json"}``) for
    messages. ``--force`` only allows replacing a file that is not a report (or has an
    input-like name); it never allows writing over or into an input.
    """
    options = options or {}
    for name, path in targets.items():
        if path == "":  # named here with the option that gave it; check_targets refuses it too
            raise OutputError(f"{options.get(name, f'--{name}')}: empty file name ('-' for stdout)")
    chosen = check_targets(targets)
    real_inputs = ResolvedInputs.of(inputs)
    seen: dict[str, str] = {}
    for name, path in chosen.items():
        if path == "-":
            continue
        flag = options.get(name, f"--{name}")
        real = os.path.realpath(path)
        if real in seen:
            raise OutputError(f"{flag} {path}: same file as {options.get(seen[real], seen[real])}")
        seen[real] = name
        problem = output_problem(name, path, real, real_inputs, force)
        if problem:
            raise OutputError(f"{flag} {path}: {problem}")
    for path in chosen.values():
        if path != "-":
            prepare_folder(path)
    return chosen
