"""YAML with line numbers, and file/line/reason errors, for rule and policy files.

Users write these files by hand; "invalid rule" is useless without the line. PyYAML's
node tree carries marks, so we build plain Python objects from nodes ourselves and keep a
map from each value's path (``("rules", 3, "match")``) to its 1-based line.

Before any node is built, the parser's events are checked: YAML aliases (``*name``) are
refused, because PyYAML shares the aliased node and a walk that follows every reference
expands ``l1: &l1 [*l0, *l0, ...]`` chains exponentially (360 bytes: 36 s and 3.6 GB; no
shipped or documented rule or policy file uses one), and so are more than :data:`MAX_NODES`
values. Numbers longer than :data:`MAX_NUMBER` characters are refused before
conversion (a 4,301-digit integer raises; ``1:2:3:...`` base-60 integers convert in quadratic time).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apkscan import jsonbound
from apkscan.apk.io.readonly import open_binary
from apkscan.issues import ApkScanError
from apkscan.rules import cache
from apkscan.rules.attrs import attribute_name, unknown_attribute

if TYPE_CHECKING:  # annotations only: yaml itself is imported where a YAML file is parsed
    import yaml

MAX_RULE_FILE = 8 << 20  # a rule or policy file larger than this is refused
MAX_NESTING = 64  # rule files nest ~6 deep; deeper is refused before any recursive stage can overflow
# Values per file: the largest shipped pack has ~2,200; 200k (~110 MB of PyYAML nodes at most)
# leaves room for big indicator lists. Counted from the event stream before composing: 2 MB of
# "[x,x,...]" composed to 550 MB and took 4 s, so the 8 MiB file cap alone allowed ~2 GB.
MAX_NODES = 200_000
MAX_NUMBER = 64  # characters of an int or float scalar; rule and policy files hold small numbers
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
Path_ = tuple[Any, ...]


class RuleError(ApkScanError):
    """A rule, policy or indicator file is unusable: says which file, which line, and why."""

    def __init__(self, file: str, line: int | None, reason: str, code: str = "RULES_INVALID"):
        where = f"{file}:{line}" if line else file
        super().__init__(code, f"{where}: {reason}")
        self.file, self.line, self.reason = file, line, reason


@dataclass(slots=True)
class Document:
    """A parsed file: its data and where each part of it sits."""

    path: str
    data: Any
    lines: dict[Path_, int]

    def line(self, at: Path_) -> int | None:
        """Line of ``at`` or of its nearest enclosing value."""
        at = tuple(at)
        while at:
            if at in self.lines:
                return self.lines[at]
            at = at[:-1]
        return self.lines.get((), 1)

    def error(self, at: Path_, reason: str, code: str = "RULES_INVALID") -> RuleError:
        return RuleError(self.path, self.line(at), reason, code)


def read_document(path: str | Path, text: str | None = None) -> Document:
    """Parse one YAML (or JSON) file; raises :class:`RuleError` with the line on bad syntax.

    A text parsed before (same bytes, same PyYAML) comes from :mod:`apkscan.rules.cache`
    without importing yaml; errors are never cached, so a bad file fails the same way.
    """
    name = str(path)
    if text is None:
        text = read_text(name)
    key = cache.parse_key(text)
    hit = cache.parsed(key)
    if hit is not None:
        return Document(name, *hit)
    data, lines = _parse(name, text)
    cache.remember_parsed(key, data, lines)
    return Document(name, data, lines)


def read_capped(name: str, what: str = "file", too_large: str = "RULES_INVALID") -> bytes:
    """At most :data:`MAX_RULE_FILE` bytes of ``name``, read so (the size ``stat`` gave may grow).

    A regular file or a pipe (``--rules <(...)``), its open never waiting: a named pipe with no
    writer held ``--rules FIFO`` / ``--iocs FIFO`` at the open forever (review 91 C); now it reads
    as empty at once. A device (``/dev/zero``) or socket is ``RULES_NOT_A_FILE``, refused unread."""
    try:
        if Path(name).stat().st_size <= MAX_RULE_FILE:
            # a rule, policy or indicator file: its access time kept (review 66 F6)
            with open_binary(name, regular=True, pipes=True) as fh:
                data = jsonbound.read_at_most(fh, MAX_RULE_FILE)
            if len(data) <= MAX_RULE_FILE:
                return bytes(data)
    except OSError as exc:
        raise RuleError(name, None, f"cannot read: {exc.strerror or exc}", "RULES_UNREADABLE") from exc
    except ApkScanError as exc:  # INPUT_NOT_A_FILE (regular=True), said in the rules' words
        if exc.code != "INPUT_NOT_A_FILE":
            raise RuleError(name, None, f"cannot read: {exc.message}", "RULES_UNREADABLE") from exc
        raise RuleError(name, None, "not a regular file or pipe (a device or socket): give a file",
                        "RULES_NOT_A_FILE") from exc
    raise RuleError(name, None, f"{what} larger than {MAX_RULE_FILE} bytes", too_large)


def read_text(name: str) -> str:
    try:  # newlines as read_text() gave them: the text is also the parse cache's key
        return read_capped(name).decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise RuleError(name, None, f"not UTF-8: {exc}") from exc


def _parse(name: str, text: str) -> tuple[Any, dict[Path_, int]]:
    import yaml  # here, not at import: a cached parse needs no yaml (start-up)

    # libyaml's parser when PyYAML was built with it (start-up: the shipped packs parse ~10x faster)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_events(name, yaml, yaml.parse(text, Loader=loader))
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise RuleError(name, line, f"YAML syntax error: {reason}") from exc
    except RecursionError:  # PyYAML's pure-Python composer (no libyaml) recurses per nesting level
        raise RuleError(name, None, f"YAML nested deeper than {MAX_NESTING} levels") from None
    lines: dict[Path_, int] = {}
    data = _build(node, (), lines, name, yaml.constructor.SafeConstructor()) if node is not None else None
    return data, lines


def _check_events(name: str, yaml, events) -> None:
    """One pass over the parser's events, before any node is built: no alias, at most
    :data:`MAX_NODES` values (streamed: a refusal costs no memory)."""
    nodes = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            raise RuleError(name, event.start_mark.line + 1,
                            "YAML aliases (*name) are not allowed in rule and policy files: write the value out")
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            nodes += 1
            if nodes > MAX_NODES:
                raise RuleError(name, event.start_mark.line + 1, f"more than {MAX_NODES} YAML values")


def _build(node: yaml.Node, at: Path_, lines: dict[Path_, int], name: str, constructor) -> Any:
    import yaml  # already loaded by _parse: a dictionary look-up

    lines[at] = node.start_mark.line + 1
    if len(at) > MAX_NESTING:
        raise RuleError(name, lines[at], f"nested deeper than {MAX_NESTING} levels")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise RuleError(name, key_node.start_mark.line + 1, "mapping keys must be strings")
            if key in out:
                raise RuleError(name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            out[key] = _build(value_node, at + (key,), lines, name, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, at + (i,), lines, name, constructor) for i, v in enumerate(node.value)]
    if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER:
        raise RuleError(name, lines[at], f"bad value: a number of {len(node.value)} characters (at most {MAX_NUMBER})")
    try:
        value = constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. !!timestamp 2024-13-45
        raise RuleError(name, node.start_mark.line + 1, f"bad value: {exc}") from exc
    # Dates and numbers become strings where the schema wants text (e.g. reviewed: 2024-05-01).
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _schema_package(name: str) -> str:
    return "apkscan.rules" if name == "rules" else "apkscan.policy"


def schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped beside this module (``schema.json``) or in apkscan.policy."""
    return json.loads(cache.schema_bytes(_schema_package(name)).decode("utf-8"))


def validate(doc: Document, schema_name: str) -> list[RuleError]:
    """Schema errors with their lines, the same however apkscan was installed.

    :mod:`apkscan.rules.shape` always checks the document against the schema (no optional
    import decides whether a typo'd key is refused: review 37 F1); jsonschema, a dependency,
    then cross-checks a document the built-in check passed. A document that already validated
    cleanly (same data, schema and versions) is not validated again (:mod:`apkscan.rules.cache`).
    """
    from apkscan.rules import shape

    marker = cache.validation_key(_schema_package(schema_name), doc.data)
    if cache.known_valid(marker):
        return []
    errors = [doc.error(at, f"{'/'.join(map(str, at)) or '(top level)'}: {reason}")
              for at, reason in shape.problems(doc.data, schema(schema_name))]
    if not errors:
        errors = _jsonschema_errors(doc, schema_name)
    if not errors:
        cache.remember_valid(marker)
    return errors


def _jsonschema_errors(doc: Document, schema_name: str) -> list[RuleError]:
    """jsonschema's verdict on a document the built-in check passed (a disagreement is shown,
    never hidden). Without jsonschema (a broken install: it is a dependency) nothing is lost:
    the built-in check implements every keyword the schemas use and refuses any other."""
    try:
        import jsonschema
    except ImportError:
        return []
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = []
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        at = tuple(err.absolute_path)
        where = "/".join(map(str, at)) or "(top level)"
        errors.append(doc.error(at, f"{where}: {_short(err)}"))
    return errors


def _short(err: Any) -> str:
    if err.validator in ("oneOf", "anyOf") and err.context:
        best = min(err.context, key=lambda e: len(list(e.absolute_path)))
        return best.message
    return err.message


HASH_LEN = {"sha256": 64, "sha1": 40, "md5": 32}
EXAMPLE_CERT_LISTS = ("signers", "present", "lineage", "recorded")


def check_example_certs(doc: Document, at: Path_, example: Any) -> None:
    """An example's certificates name real digests: a shortened ``0fe4ff85...`` matched no key,
    so "the genuine app" was tested as an impersonation and passed (review 37 F2)."""
    if not isinstance(example, dict):
        raise doc.error(at, "an example is a mapping of facts")
    lists = [(k, example.get(k)) for k in EXAMPLE_CERT_LISTS]
    for j, split in enumerate(example.get("splits") or []):
        lists.append((("splits", j, "signers"), split.get("signers") if isinstance(split, dict) else None))
    for key, certs in lists:
        for k, cert in enumerate(certs or []):
            where = at + (key if isinstance(key, tuple) else (key,)) + (k,)
            for algo, length in HASH_LEN.items():
                value = cert.get(algo) if isinstance(cert, dict) else None
                if value is not None and (not isinstance(value, str) or len(normalise_hash(value)) != length
                                          or any(c not in "0123456789abcdef" for c in normalise_hash(value))):
                    raise doc.error(where + (algo,), f"{algo} must be {length} hex digits, got {value!r}")
            _check_subject_keys(doc, where, cert)


def _check_subject_keys(doc: Document, where: Path_, cert: Any) -> None:
    """An example's subject is read as a certificate's (:func:`apkscan.rules.attrs.attribute_name`):
    a key naming no attribute would let a misspelt pattern PASS against a misspelt example."""
    subject = cert.get("subject") if isinstance(cert, dict) else None
    for key in subject if isinstance(subject, dict) else ():
        if attribute_name(str(key)) is None:
            raise doc.error(where + ("subject", key), unknown_attribute(key))


def normalise_hash(value: Any) -> str:
    """Lower-case hex without colons or spaces (apksigner and keytool print both forms)."""
    return str(value).replace(":", "").replace(" ", "").lower()


def text_digest(text: str) -> str:
    """SHA-256 of a file's text as read (:func:`read_text`): what is kept of the bytes parsed, so a
    later check compares those, not the file opened again (a pipe is drained; a file may change)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped_name_taken(name: str, path: str, digest: str, folder: Path, what: str) -> str | None:
    """Why the file at ``path`` may not take the shipped ``name`` (None: no shipped file of that
    name, or the file *is* that shipped file or its text). A copy with one decision changed kept the
    shipped name, version, title and citation: every report showed the shipped measure (review 64
    F6). ``digest`` is :func:`text_digest` of the text parsed at load, never of the file read again:
    a pipe (``--rules <(...)``) read twice was empty and refused, and a file edited between the two
    reads could pass other rules under the shipped name (review 91 F2)."""
    shipped = folder / f"{name}.yaml"
    if not _PLAIN_NAME.fullmatch(name) or not shipped.is_file() or Path(path) == shipped:
        return None
    try:
        if digest and text_digest(read_text(str(shipped))) == digest:
            return None
    except RuleError:
        pass
    return (f"{what} name {name!r} is a shipped {what}'s ({shipped.name}) and this file's content differs "
            f"from it: reports would show the shipped {what}; give your {what} its own name")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a file name in the folder, never a path
