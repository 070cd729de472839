"""apkscan's own check of a rule or policy document against its ``schema.json``.

Review 37 F1: the schema check was jsonschema's alone, skipped when it was not installed
(``pip install .`` did not bring it), and the model builders ignored keys they did not read:
``when: {kind: [sdk]}`` (for ``kinds``) became a condition on nothing, a catch-all that
allowed every banned app. Structure is now checked here, always, from the same schema file:
unknown keys, wrong types, values outside an enum or a pattern, missing keys. This is the
subset of JSON Schema (draft 2020-12) the two shipped schemas use; a schema keyword it does
not implement is refused (:class:`UnknownKeyword`), never ignored, so the schema cannot grow
past this checker unnoticed. jsonschema, a dependency, still runs after it as a cross-check.
"""

from __future__ import annotations

import re
from typing import Any

ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description"})
CHECKED = frozenset({"$ref", "type", "const", "enum", "pattern", "minLength", "minItems",
                     "minProperties", "properties", "additionalProperties", "required", "items",
                     "oneOf", "anyOf"})
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
Problem = tuple[tuple[Any, ...], str]  # (path of the offending value, reason)


class UnknownKeyword(Exception):
    """The schema uses a keyword this checker does not implement (a bug in apkscan, not the file)."""


def problems(data: Any, schema: dict[str, Any]) -> list[Problem]:
    """Every problem of ``data`` under ``schema``, sorted by path; [] when it conforms."""
    out = _check(data, schema, schema, ())
    return sorted(out, key=lambda p: [str(x) for x in p[0]])


def _check(value: Any, node: dict[str, Any], root: dict[str, Any], at: tuple) -> list[Problem]:
    unknown = set(node) - CHECKED - ANNOTATIONS
    if unknown:
        raise UnknownKeyword(f"schema keyword(s) not implemented: {', '.join(sorted(unknown))}")
    if "$ref" in node:
        out = _check(value, _resolve(root, node["$ref"]), root, at)
        if out:
            return out
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_TYPES[t](value) for t in types):
            hint = " (quote it: YAML read a number)" if types == ["string"] and _TYPES["number"](value) else ""
            return [(at, f"{_shown(value)} is not of type {' or '.join(types)}{hint}")]
    if "const" in node and not _same(value, node["const"]):
        return [(at, f"{_shown(value)} must be {node['const']!r}")]
    if "enum" in node and not any(_same(value, e) for e in node["enum"]):
        return [(at, f"{_shown(value)} is not one of {', '.join(map(str, node['enum']))}")]
    out = _alternatives(value, node, root, at) if "oneOf" in node or "anyOf" in node else []
    if isinstance(value, str):
        out += _string(value, node, at)
    elif isinstance(value, list):
        out += _array(value, node, root, at)
    elif isinstance(value, dict):
        out += _object(value, node, root, at)
    return out


def _string(value: str, node: dict[str, Any], at: tuple) -> list[Problem]:
    if len(value) < node.get("minLength", 0):
        return [(at, "must not be empty" if node["minLength"] == 1 else f"shorter than {node['minLength']}")]
    if "pattern" in node and not re.search(node["pattern"], value):
        want = f"must be {node['description']}" if "description" in node else f"does not match {node['pattern']!r}"
        return [(at, f"{_shown(value)} {want}")]
    return []


def _array(value: list, node: dict[str, Any], root: dict[str, Any], at: tuple) -> list[Problem]:
    if len(value) < node.get("minItems", 0):
        return [(at, "must not be an empty list" if node["minItems"] == 1
                 else f"needs at least {node['minItems']} items")]
    out: list[Problem] = []
    if "items" in node:
        for i, item in enumerate(value):
            out += _check(item, node["items"], root, at + (i,))
    return out


def _object(value: dict, node: dict[str, Any], root: dict[str, Any], at: tuple) -> list[Problem]:
    out: list[Problem] = []
    if len(value) < node.get("minProperties", 0):
        out.append((at, "must not be empty"))
    missing = [k for k in node.get("required", []) if k not in value]
    if missing:
        out.append((at, f"missing required key(s): {', '.join(missing)}"))
    props = node.get("properties", {})
    extra = node.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            out += _check(item, props[key], root, at + (key,))
        elif extra is False:
            known = ", ".join(sorted(props)) or "none"
            out.append((at + (key,), f"unknown key {key!r} (allowed here: {known})"))
        elif isinstance(extra, dict):
            out += _check(item, extra, root, at + (key,))
    return out


def _alternatives(value: Any, node: dict[str, Any], root: dict[str, Any], at: tuple) -> list[Problem]:
    """``oneOf`` (exactly one branch) and ``anyOf`` (at least one); on failure, the problems of the
    branch of the value's type that got furthest into it (the one the author most likely meant)."""
    out: list[Problem] = []
    for word in ("oneOf", "anyOf"):
        if word not in node:
            continue
        branches = node[word]
        results = [_check(value, branch, root, at) for branch in branches]
        passing = sum(not r for r in results)
        if word == "oneOf" and passing > 1:
            out.append((at, "matches more than one of the allowed forms"))
        elif passing == 0 and len(node[word]) > 1 and all(set(b) == {"required"} for b in node[word]):
            out.append((at, "needs one of: " + ", ".join("+".join(b["required"]) for b in node[word])))
        elif passing == 0:
            best = max(range(len(branches)), key=lambda i: (_fits(value, branches[i], root),
                                                              max(len(p[0]) for p in results[i])))
            consts = [b["const"] for b in branches if "const" in b and b is not branches[best]]
            shallow = all(p[0] == at for p in results[best])  # not a problem inside the value
            hint = f" (or {' or '.join(map(repr, consts))})" if consts and shallow else ""
            out += results[best][:-1] + [(results[best][-1][0], results[best][-1][1] + hint)]
    return out


def _fits(value: Any, node: dict[str, Any], root: dict[str, Any]) -> bool:
    """Whether a branch is of the value's type at all."""
    if "$ref" in node:
        return _fits(value, _resolve(root, node["$ref"]), root)
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        return any(_TYPES[t](value) for t in types)
    if "const" in node:
        return type(value) is type(node["const"])
    return True


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise UnknownKeyword(f"only local $ref is implemented, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
