"""The split sets one source's walk holds open, by bundle key, until the walk leaves their container.

Android and SAI install every ``*.apk`` of a bundle whatever lies between them, so a set is never
closed by an item inside its container: not by an APK of no set (a ``.bin``, an OBB of APKs), nor
by a bundle nested in it (a ``.apks`` inside an ``.xapk``: both stay open, each with its own key).
Before, the first such item closed the set and a planted split after it was a base-less group of
its own: no ``split-mismatch`` (review 90 F1). An APK with a ``split`` attribute that is in no set
(a loose split, a planted one Android would install with a base elsewhere) is compared with no base:
said with ``CONTAINER_BUNDLE_NO_BASE`` (review 90 F2). A set gathers at most :data:`MAX_SET` apps
(held whole until it ends: 40,000 splits took 567 MB); past that its apps are apps of their own,
never dropped, each said with ``CONTAINER_BUNDLE_TOO_LARGE`` (review 90 F4).
"""

from __future__ import annotations

import os
from typing import Any

from apkscan.issues import warning

MAX_SET = 256  # as AndroidQF's sets (androidqf_sets.MAX_SET): Android installs a base and a few dozen splits



def where(chain: tuple[str, ...]) -> tuple[str, ...]:
    """A chain as places: a file's folder and name, then the members inside it."""
    if not chain:
        return ()
    return (os.path.dirname(chain[0]), os.path.basename(chain[0]), *chain[1:])


def is_base(identity: Any) -> bool:
    """A base APK to Android: a manifest without a split name (absent or empty). Here, not in
    :mod:`apkscan.splits` (which uses it too): a scan of one APK asks it without loading that module
    and the policy and report types it imports."""
    return identity.manifest is not None and not identity.manifest.split


def loose(records: list[Any]) -> None:
    """Say on each split APK of ``records`` (an item of no set) that no base was compared with it."""
    from apkscan.result import AppResult

    for r in records:
        if isinstance(r, AppResult) and r.identity.manifest is not None and not is_base(r.identity):
            r.warnings.append(warning("CONTAINER_BUNDLE_NO_BASE", "a split APK (its manifest has a split attribute) "
                                      "in no split set: no base APK was compared with it"))


def _holds(scope: tuple[str, ...], place: tuple[str, ...]) -> bool:
    return len(place) > len(scope) and place[:len(scope)] == scope


def _shared(scope: tuple[str, ...], place: tuple[str, ...]) -> tuple[str, ...]:
    """The container every member's place shares (a Swift ``.app`` beside its ``.splits``)."""
    n = 0
    while n < len(scope) and n < len(place) - 1 and scope[n] == place[n]:
        n += 1
    return scope[:n]


class OpenSets:
    """``leave(item)`` closes the sets the walk has left; ``add`` gathers a set's apps; ``close()``
    the rest. Each close gives the assembled records (``close_one(apps, key)``). Sets are filed by
    container: an item is checked once per open container, not once per open set (an adb backup's
    thousands of installs share one)."""

    def __init__(self, close_one):
        self._apps: dict[str, list[Any]] = {}  # key -> the set's apps
        self._scope: dict[str, tuple[str, ...]] = {}  # key -> its container
        self._keys: dict[tuple[str, ...], dict[str, None]] = {}  # container -> its sets' keys, in order
        self._close_one = close_one

    def __bool__(self) -> bool:
        return bool(self._apps)

    def _file(self, key: str, scope: tuple[str, ...]) -> None:
        old = self._scope.get(key)
        if old is not None:
            del self._keys[old][key]
            if not self._keys[old]:
                del self._keys[old]
        self._scope[key] = scope
        self._keys.setdefault(scope, {})[key] = None

    def leave(self, item: Any, key: str | None) -> list[Any]:
        """Close every open set (but ``key``'s) whose container does not hold ``item``."""
        chain = tuple(getattr(item, "chain", ()) or ())
        if not chain and getattr(item, "path", None):
            chain = (item.path,)
        place = where(chain)
        if key is not None and key in self._scope and not _holds(self._scope[key], place):
            self._file(key, _shared(self._scope[key], place))
        out: list[Any] = []
        for scope in [c for c in self._keys if not _holds(c, place)]:
            for k in [k for k in self._keys[scope] if k != key]:
                del self._keys[scope][k], self._scope[k]
                out.extend(self._close_one(self._apps.pop(k), k))
            if not self._keys[scope]:
                del self._keys[scope]
        return out

    def add(self, key: str, item: Any, apps: list[Any]) -> list[Any]:
        """Gather ``apps`` into ``key``'s set; those past :data:`MAX_SET` are given back, said."""
        if key not in self._apps:
            if not apps:  # a member that gave no app (an input error): no set to hold yet
                return []
            self._apps[key] = []
            self._file(key, where(tuple(item.chain))[:-1])
        room = max(0, MAX_SET - len(self._apps[key]))
        self._apps[key].extend(apps[:room])
        for app in apps[room:]:
            app.warnings.append(warning("CONTAINER_BUNDLE_TOO_LARGE", f"the split set {key} has more than {MAX_SET} "
                                        "APKs: this one is scanned as an app of its own, not compared with its base"))
        return apps[room:]

    def close(self) -> list[Any]:
        out: list[Any] = []
        for k, apps in list(self._apps.items()):
            out.extend(self._close_one(apps, k))
        self._apps.clear()
        self._scope.clear()
        self._keys.clear()
        return out
