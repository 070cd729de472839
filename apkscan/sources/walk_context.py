"""A walk's options and its run-wide state (temporary space, inflation budget, the password).

Kept apart from :mod:`walker`, which recurses through containers: the CLI and the batch layer
build options, readers ask the context; neither needs the recursion. ``walker`` re-exports both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from apkscan.sources import detect, walkclock
from apkscan.sources.streams import InflateBudget
from apkscan.sources.tempspace import DEFAULT_TMP_LIMIT, TempSpace


@dataclass(slots=True)
class WalkOptions:
    """Bounds and choices of one run (the CLI's container options)."""

    max_depth: int = 4
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    tmp_dir: str | None = None
    tmp_limit: int = DEFAULT_TMP_LIMIT
    max_inflate: int = 64 << 30  # decompressed bytes per outermost input
    max_ratio: int = 200  # decompressed/compressed beyond which a member is a bomb
    max_files: int = 100_000  # files per given folder
    walk_timeout: float = walkclock.DEFAULT_WALK_TIMEOUT  # seconds of walking per outermost input (+ per size)
    password: Callable[[], str | None] | None = None  # asked at most once, when a reader needs it
    # injected by a caller that remembers files (the scan store's fast lane; this layer knows no store):
    known: Callable[[str], list | None] | None = None  # a top-level file's items without reading it, or None
    on_plain: Callable[[str, os.stat_result], None] | None = None  # told: this top-level file (the
    # descriptor's stat given) was read as one plain APK


class WalkContext:
    """What readers may need from the run: options, temporary space, budget, password."""

    def __init__(self, options: WalkOptions):
        self.options = options
        self.temp = TempSpace(options.tmp_dir, options.tmp_limit)
        self.budget = InflateBudget(options.max_inflate, options.max_ratio)
        # per ZIP reader being walked: what was read, by whose name; per local walk being walked, the local-only
        # entries it found, by place (zip_local.shared)
        self.walked: dict[int, dict[tuple, object]] = {}
        self.read_again = 0  # streamed members read a second time in this input (polyglot.MAX_READ_AGAIN)
        self._password: list[str | None] = []

    def new_input(self) -> None:
        self.budget = InflateBudget(self.options.max_inflate, self.options.max_ratio)
        self.walked = {}
        self.read_again = 0
        detect.forget_windows()

    def password(self) -> str | None:
        if not self._password:
            with walkclock.paused():  # a prompt's wait is not the input's walking time
                self._password.append(self.options.password() if self.options.password else None)
        return self._password[0]
