"""Rows of the scan store read back: pickles that can build only apkscan's own records
(:class:`_Unpickler`), so a planted row never runs code and is computed again instead."""

from __future__ import annotations

import dataclasses
import enum
import io
import pickle
from typing import Any


class _Unpickler(pickle.Unpickler):
    """Builds only apkscan's own record types (dataclasses, enums) and plain value types.

    A store is a file anyone with write access can plant rows in. ``find_class`` resolves
    dotted names (``apkscan.x`` + ``os.system`` would reach any attribute), so a name must
    be one identifier naming a dataclass or an enum *defined* in that apkscan module:
    calling one builds a record, never runs code of the planter's choosing.
    """

    _ALLOWED = {("builtins", n) for n in ("set", "frozenset", "bytearray", "complex")} | {
        ("datetime", n) for n in ("datetime", "date", "timedelta", "timezone")}

    _PASSED: dict[tuple[str, str], Any] = {}  # names already checked (an identity names ~10 classes)

    def find_class(self, module: str, name: str) -> Any:
        hit = self._PASSED.get((module, name))
        if hit is not None:
            return hit
        if (module, name) in self._ALLOWED:
            obj = super().find_class(module, name)
        elif module.startswith("apkscan.") and name.isidentifier() and not name.startswith("_"):
            obj = super().find_class(module, name)
            if not (isinstance(obj, type) and obj.__module__ == module
                    and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum))):
                raise pickle.UnpicklingError(f"not allowed in a scan store: {module}.{name}")
        else:
            raise pickle.UnpicklingError(f"not allowed in a scan store: {module}.{name}")
        self._PASSED[(module, name)] = obj
        return obj


def loads(blob: bytes) -> Any:
    return _Unpickler(io.BytesIO(blob)).load()


def loads_or_none(blob: bytes) -> Any:
    try:
        return loads(blob)
    except Exception:  # a damaged or planted row: compute it again
        return None
