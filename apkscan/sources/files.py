"""APK files and folders of APKs given on the command line.

A file is scanned whatever its name (the user asked for it); a folder is walked for
``*.apk`` files, sorted, without following symlinked folders (no loops), and with a cap on
how many files one folder can yield so a mistaken ``/`` does not run forever.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from apkscan.issues import error
from apkscan.sources.interface import InputProblem, ScanInput

APK_SUFFIXES = (".apk",)
MAX_FILES_PER_FOLDER = 100_000


class FileSource:
    """Files and folders on the local file system."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]], suffixes: tuple[str, ...] = APK_SUFFIXES,
                 max_files: int = MAX_FILES_PER_FOLDER):
        self.paths = [os.fspath(p) for p in paths]
        self.suffixes = suffixes
        self.max_files = max_files
        self.description = ", ".join(self.paths)

    def inputs(self) -> Iterator[ScanInput | InputProblem]:
        for given in self.paths:
            p = Path(given)
            if p.is_dir():
                yield from self._folder(p)
            elif p.is_file():
                yield ScanInput(path=str(p), chain=(given,))
            elif p.exists():
                yield InputProblem((given,), [error("INPUT_NOT_A_FILE", "not a regular file or folder")])
            else:
                yield InputProblem((given,), [error("INPUT_NOT_FOUND", "no such file or folder")])

    def _folder(self, root: Path) -> Iterator[ScanInput | InputProblem]:
        count = 0
        problems: list[InputProblem] = []

        def on_error(exc: OSError) -> None:
            problems.append(InputProblem((str(exc.filename or root),),
                                         [error("INPUT_UNREADABLE", f"cannot list: {exc.strerror or exc}")]))

        for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.lower().endswith(self.suffixes):
                    continue
                full = os.path.join(dirpath, name)
                if not os.path.isfile(full):  # a dangling symlink, a FIFO... named *.apk: say so
                    yield InputProblem((full,), [error("INPUT_NOT_A_FILE", "named like an APK but not a regular file")])
                    continue
                count += 1
                if count > self.max_files:
                    yield InputProblem((str(root),), [error(
                        "INPUT_LIMIT_EXCEEDED", f"more than {self.max_files} APKs under this folder; rest skipped")])
                    yield from problems  # folders that could not be listed are still reported
                    return
                yield ScanInput(path=full, chain=(full,))
        yield from problems
