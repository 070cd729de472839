"""Where ``scan`` and ``inspect`` spool container members: never into evidence, no folder left behind.

Copies of APKs from compressed containers go to a private folder under ``--tmp-dir``, else
under Python's temporary folder (``TMPDIR``, ``TEMP``, ``TMP``, then ``/tmp``). Either
inside an input folder (or equal to it) would create folders and files in the evidence, so
the run is refused (exit 2) before any input is read, as an output path there is. Python's
choice is found without asking ``tempfile.gettempdir``, which writes a probe file into its
candidate (:func:`default_temp`). A ``--tmp-dir`` that did not exist
is created here and removed after the run if it is empty then (review 19 #6).

The folder and every folder above it must be this user's or root's and writable by no one else
unless sticky (:func:`apkscan.folders.untrusted`, ssh's StrictModes): another user who can rename
entries there can move the private spool folder away and put their own bytes under a spooled
member's name, so a banned app scans as a clean one (review 66 F2). Such a folder is refused
(``USAGE_TMP_UNTRUSTED``, exit 2) before anything is read, and checked again once made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from apkscan.cli.usage import OutputRefused, TmpUntrusted

TMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")  # tempfile's order


def temp_parents(tmp_dir: str | None) -> list[tuple[str, str]]:
    """``(how it was named, path)`` of the folder the run puts temporary files under: ``--tmp-dir``,
    else the one ``tempfile`` would pick (:func:`default_temp`)."""
    if tmp_dir is not None:
        return [(f"--tmp-dir {tmp_dir}", tmp_dir)]
    return [default_temp()]


def default_temp() -> tuple[str, str]:
    """``tempfile.gettempdir()``'s choice, found without its probe file: its cached value, else the
    first of its candidates that is a writable folder (the variables, the system folders, cwd)."""
    tempfile = sys.modules.get("tempfile")  # only a loaded tempfile can have a cached choice (inspect's start-up)
    if tempfile is not None and tempfile.tempdir:
        return f"the temporary folder {tempfile.tempdir}", tempfile.tempdir
    named = [(f"{v}={os.environ[v]}", os.environ[v]) for v in TMP_VARIABLES if os.environ.get(v)]
    named += [(f"the temporary folder {p}", p) for p in ("/tmp", "/var/tmp", "/usr/tmp")]
    for name, path in named:
        if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
            return name, path
    return f"the temporary folder {os.getcwd()} (the current folder)", os.getcwd()


def check_temp(tmp_dir: str | None, inputs, hint: str = "give --tmp-dir outside the inputs",
               written: str | None = None) -> None:
    """A usage error (exit 2) when a temporary folder is an input or inside one. ``scan`` and
    ``inspect`` (which spools members of compressed containers too) call it before reading.
    ``inputs``: :class:`apkscan.cli.outputs.ResolvedInputs`; ``hint``: the way out, for the default
    folder; ``written``: ``--tmp-dir`` as the user wrote it (``tmp_dir`` is resolved), also checked."""
    from apkscan.cli.outputs import input_conflict

    for name, path in temp_parents(tmp_dir):
        conflict = input_conflict(path, inputs, written if tmp_dir is not None else None)
        if conflict:
            hint = "" if tmp_dir is not None else f"; {hint}"
            raise OutputRefused(f"{name}: {conflict} (temporary copies never go into evidence{hint})")
        check_trusted(name, path)
        if tmp_dir is not None and written is not None and written != path:
            check_trusted(name, written)  # the links it names on the way, which resolving took out (review 68 F4)


def check_trusted(name: str, path: str) -> None:
    """A usage error (exit 2) when another user could swap what is spooled under ``path``."""
    from apkscan.folders import untrusted

    why = untrusted(path)
    if why:
        raise TmpUntrusted(f"{name}: {why}: another user could replace the members apkscan copies there "
                           "before they are scanned; give --tmp-dir (or TMPDIR) a folder that is yours, "
                           "with no other user able to write to it or to a folder above it (or sticky, as /tmp is)")


@contextmanager
def made_tmp_dir(tmp_dir: str | None) -> Iterator[None]:
    """Create a missing ``--tmp-dir`` (mode 0700 at each level created) for the run; remove what
    was created, when empty, afterwards. A folder that existed is left as it was."""
    from apkscan.folders import make_private

    if tmp_dir is None:
        yield
        return
    try:
        created = make_private(tmp_dir)
    except OSError as exc:
        raise click.UsageError(f"--tmp-dir {tmp_dir}: cannot create it: {exc.strerror or exc}") from None
    try:
        check_trusted(f"--tmp-dir {tmp_dir}", tmp_dir)  # again: a folder someone else made meanwhile
        yield
    finally:
        for folder in created:  # deepest first; a folder someone else filled meanwhile stays
            try:
                os.rmdir(folder)
            except OSError:
                break
