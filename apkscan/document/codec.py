"""JSON <-> frozen dataclasses, driven by the records' type hints: one checked reader for the
whole scan document instead of ``.get()`` chains in every report.

Why generic: the document has ~20 record types and ~200 fields; writing a reader per field
would be the dict guessing again in another place. Each :class:`Record` declares its fields
with types (``str``, ``int``, ``bool``, ``Literal``, unions, ``tuple[X, ...]`` for arrays,
``Mapping[str, X]`` for objects keyed by data, nested records, ``Json`` for free-form values);
a field without a default is required. Decoding checks every value against its type and
raises :class:`DocumentError` naming the path (``apps/3/identity/signers/0/sha256``).

Round trip: a record remembers the keys it was read from, in their order, and any key it
does not declare (a later 1.x minor version may add fields; readers must ignore them), so
``encode(decode(d)) == d`` byte for byte once dumped. A record built in code writes its
declared fields in declaration order.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal, Union

Json = Any  # a free-form JSON value, passed through unchecked (options, unknown shapes)


class DocumentError(ValueError):
    """A scan document that cannot be used, with a stable code (``DOCUMENT_*``) and where."""

    def __init__(self, code: str, message: str, path: tuple[str, ...] = ()):
        message = _printable(message)  # it quotes the document's own values (a schema_version, a key): review 68 F6
        super().__init__(message)
        self.code, self.message, self.path = code, message, path

    def at(self, step: str | int) -> DocumentError:
        """The same error one level further out (paths are built while unwinding: free when valid)."""
        return DocumentError(self.code, self.message, (str(step), *self.path))

    def __str__(self) -> str:
        where = "/".join(map(_printable, self.path))
        return f"{self.code}: {where + ': ' if where else ''}{self.message}"

    def issue(self):
        from apkscan.issues import Issue

        return Issue(self.code, str(self).split(": ", 1)[1])


def _printable(step: str) -> str:
    """A path step or message as safe text: keys and values come from the document (a policy name
    or a schema_version may hold escape sequences or bidi controls), and the error goes to a terminal."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in step)


MALFORMED = "DOCUMENT_MALFORMED"
_NO_EXTRA: Mapping[str, Json] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Base of every document record: the keys it was read from and the ones it does not know."""

    _keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    _extra: Mapping[str, Json] = field(default_factory=lambda: _NO_EXTRA, repr=False, compare=False)

    @classmethod
    def from_json(cls, value: Json):
        return decoder(cls)(value)

    def to_json(self) -> dict[str, Json]:
        return encode(self)


def _kind(value: Json) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _bad(expected: str, value: Json) -> DocumentError:
    return DocumentError(MALFORMED, f"expected {expected}, found {_kind(value)}")


def _json(value: Json) -> Json:
    return value


_NAMES = {str: "string", int: "integer", bool: "boolean", float: "number", type(None): "null"}


def _plain(tp: Any) -> frozenset[type] | None:
    """The Python types of a scalar type or a union of scalars (``str | None``), else None."""
    if tp in _NAMES:
        return frozenset((tp,))
    if typing.get_origin(tp) in (Union, types.UnionType):
        parts = [_plain(a) for a in typing.get_args(tp)]
        return frozenset().union(*parts) if all(parts) else None
    return None


def _plain_check(allowed: frozenset[type]) -> Callable[[Json], Json]:
    expected = " or ".join(sorted(_NAMES[t] for t in allowed))

    def check(value: Json) -> Json:
        if type(value) in allowed:  # exact types: a JSON true is not an integer here
            return value
        raise _bad(expected, value)
    check.plain = allowed  # type: ignore[attr-defined]  # lets arrays check their items in one pass
    return check


@cache
def decoder(tp: Any) -> Callable[[Json], Any]:
    """A function that checks and converts one JSON value of type ``tp``."""
    if tp is Any:
        return _json
    plain = _plain(tp)
    if plain:
        return _plain_check(plain)
    if isinstance(tp, type) and issubclass(tp, Record):
        return _record_decoder(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return _literal(args)
    if origin in (Union, types.UnionType):
        return _union(args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _array(decoder(args[0]))
    if origin in (Mapping, dict, typing.Mapping):
        return _object(decoder(args[1]))
    raise TypeError(f"no document decoder for {tp!r}")


def _literal(allowed: tuple) -> Callable[[Json], Json]:
    choices = frozenset(allowed)

    def check(value: Json) -> Json:
        if not isinstance(value, str) or value not in choices:
            raise DocumentError(MALFORMED, f"expected one of {', '.join(sorted(choices))}, found {value!r:.40}")
        return value
    return check


def _expected(tp: Any) -> str:
    """The JSON kind a declared type takes, for messages."""
    origin = typing.get_origin(tp)
    if _plain(tp):
        return " or ".join(sorted(_NAMES[t] for t in _plain(tp)))
    if origin is tuple:
        return "array"
    if origin is Literal:
        return "string"
    return "object"


def _union(options: tuple) -> Callable[[Json], Json]:
    nullable = type(None) in options
    rest = [(decoder(o), _expected(o).split(" or ")) for o in options if o is not type(None)]
    expected = " or ".join(dict.fromkeys(_expected(o) for o in options))

    def check(value: Json) -> Json:
        if value is None and nullable:
            return None
        fitting: DocumentError | None = None  # from the alternative of the value's own kind
        for dec, kinds in rest:
            try:
                return dec(value)
            except DocumentError as exc:
                fitting = fitting or (exc if _kind(value) in kinds else None)
        raise fitting or _bad(expected, value)
    return check


def _array(item: Callable[[Json], Any]) -> Callable[[Json], tuple]:
    plain = getattr(item, "plain", None)

    def check(value: Json) -> tuple:
        if type(value) is not list:
            raise _bad("array", value)
        if plain is not None and all(type(v) in plain for v in value):
            return tuple(value)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except DocumentError as exc:
                raise exc.at(i) from None
        return tuple(out)
    return check


def _object(item: Callable[[Json], Any]) -> Callable[[Json], Mapping]:
    def check(value: Json) -> Mapping:
        if type(value) is not dict:
            raise _bad("object", value)
        out = {}
        for k, v in value.items():
            try:
                out[k] = item(v)
            except DocumentError as exc:
                raise exc.at(k) from None
        return MappingProxyType(out)  # read-only, and marks a typed object for encode()
    return check


def _record_decoder(cls: type[Record]) -> Callable[[Json], Record]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: (decoder(hints[f.name]), f.default is dataclasses.MISSING
                       and f.default_factory is dataclasses.MISSING)
              for f in dataclasses.fields(cls) if not f.name.startswith("_")}
    required = [name for name, (_, req) in fields.items() if req]
    key_orders: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct key order

    def check(value: Json) -> Record:
        if type(value) is not dict:
            raise _bad("object", value)
        kwargs, extra = {}, {}
        for key, v in value.items():
            known = fields.get(key)
            if known is None:
                extra[key] = v  # a later minor version's field: kept, not read
                continue
            try:
                kwargs[key] = known[0](v)
            except DocumentError as exc:
                raise exc.at(key) from None
        for name in required:
            if name not in kwargs:
                raise DocumentError(MALFORMED, f"required field {name!r} is missing")
        keys = tuple(value)
        keys = key_orders.setdefault(keys, keys) if len(key_orders) < 256 else keys
        return cls(**kwargs, _keys=keys, _extra=MappingProxyType(extra) if extra else _NO_EXTRA)
    return check


def encode(value: Any) -> Json:
    """The JSON value of a record (or of a typed array/object of them): keys as they were read.

    Free-form values (``Json`` fields, unknown keys: plain ``dict``/``list``) are passed through
    as they are, not walked, so a deeply nested option cannot exhaust the stack here.
    """
    if isinstance(value, Record):
        return _record_encoder(type(value))(value)
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    if isinstance(value, MappingProxyType):
        return {k: encode(v) for k, v in value.items()}
    return value


@cache
def _encoder(tp: Any) -> Callable[[Any], Json] | None:
    """How to write a value of the declared type ``tp``; None: as it is (scalars, ``Json``)."""
    if tp is Any or _plain(tp) or typing.get_origin(tp) is Literal:
        return None
    if isinstance(tp, type) and issubclass(tp, Record):
        return _record_encoder(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        item = _encoder(args[0])
        return list if item is None else (lambda v: [item(x) for x in v])
    if origin in (Mapping, dict, typing.Mapping):
        item = _encoder(args[1])
        return dict if item is None else (lambda v: {k: item(x) for k, x in v.items()})
    return encode  # a union of records, arrays and text: by the value's own type


@cache
def _record_encoder(cls: type[Record]) -> Callable[[Record], dict[str, Json]]:
    hints = typing.get_type_hints(cls)
    names = tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))
    fields = {name: _encoder(hints[name]) for name in names}

    def write(record: Record) -> dict[str, Json]:
        out = {}
        extra = record._extra
        for key in record._keys if record._keys is not None else names:
            if key in extra:
                out[key] = extra[key]
                continue
            enc, value = fields[key], getattr(record, key)
            out[key] = value if enc is None else enc(value)
        return out
    return write
