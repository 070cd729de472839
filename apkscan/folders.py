"""Folders apkscan creates (caches, the store's folder, ``--tmp-dir``): private at every level.

``os.makedirs(path, mode=0o700)`` applies the mode to the last folder only; the ones above it get
the umask's 0755 (review 37 R2-3), so other users could list a cache's or a spool's folders.
"""

from __future__ import annotations

import os


def resolved(folder: str) -> str:
    """``folder`` as the system will resolve it, its last part kept as named: ``link/../spool`` is
    ``spool`` beside the link's *target* (``abspath`` alone drops ``link/..`` by its text and
    names another folder: review 43 F7). The last part is not followed, so a link in its place
    is seen (and refused) rather than its target created."""
    head, last = os.path.split(os.path.abspath(folder) if folder.endswith(os.sep) else folder)
    return os.path.abspath(os.path.join(os.path.realpath(head or "."), last))


def make_private(folder: str) -> list[str]:
    """Create ``folder`` and each missing parent with mode 0700; folders that exist are left as
    they are. Returns the folders created, deepest first (for a caller that removes them again).
    OSError as ``os.mkdir`` raises it (a file in the way, no permission)."""
    missing = []
    path = resolved(folder)
    if os.path.lexists(path) and not os.path.isdir(path):  # a file or a dangling link in the way (review 43 F6)
        raise FileExistsError(17, "exists and is not a folder", folder)
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
            continue  # made meanwhile by another process: not ours to remove
        created.append(path)
    return created[::-1]
