"""``<application>``'s label, and the launcher activities' labels, as Android's package manager reads them.

Why: look-alike rules catch a repackaged TikTok or Kaspersky build (fresh key, fresh package) by
its label alone, so the label must be the one the device shows. apksig's walk
(:mod:`apkscan.apk.manifest.axml`, kept for ``minSdkVersion``) is strict where Android is
lenient; review 58 hid a banned label from it with the tricks review 20 used on the package. So
this reads with :mod:`apkscan.apk.manifest.framework_xml`'s tree, pool and rules:

- events from the first start tag (which must be ``manifest``) to its end tag, depth counted as
  ``XmlBlock.Parser`` counts it; a depth-2 start tag whose *local* name is ``application`` (the
  namespace is not looked at: ``parser.getName()``) is an application, the first one Android's
  (Android 16 can skip a tag by a feature flag, and aapt prints every one: the others are kept);
  one whose UTF-16 name is ``application`` only up to a NUL is aapt's alone (aapt compares names
  and values as C strings, Java the whole of them and skips the tag): kept apart, its activities
  walked; the launcher's tags and MAIN/LAUNCHER are matched both ways too (aapt's
  ``launchable-activity`` is kept beside Android's);
- attributes found by resource id through the last resource map before the first node
  (``getAttributeNameResID``), records read at the stride ``attributeSize`` declares;
- the value as ``TypedArray`` sees it: the typed value (a string of the manifest's pool as
  ``StringBlock`` returns it: UTF-16 offsets halved, UTF-8 up to its first NUL, decoded as ART
  does; a reference with package byte 0x00 marked ``zero_package``: ``DynamicRefTable`` gives it
  the id of the package that loads the table, so the table reader tries the ids it holds, while
  androguard's reading gets 0x7f); the raw string, aapt's reading, kept beside it;
- the launcher's label: a depth-3 ``<activity>``/``<activity-alias>`` holding an
  ``<intent-filter>`` with action MAIN and category LAUNCHER (the home screen shows its label;
  aapt's ``launchable-activity``).

Never raises; bounded: one walk of the nodes, MAX_LABELS labels of each kind, MAX_RECORDS
attribute records looked at in all (past it the walk stops and ``cut`` says so).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from apkscan.apk.manifest.arsc_android import APP_PACKAGE, TYPE_DYNAMIC_REFERENCE  # one definition of each
from apkscan.apk.manifest.axml import TYPE_REFERENCE, TYPE_STRING
from apkscan.apk.manifest.framework_xml import END_TAG, START_TAG, Refused, _Pool, _StartTag, _Tree, coerce_to_string

ATTR_NAME, ATTR_LABEL = 0x01010003, 0x01010001
MAIN, LAUNCHER = "android.intent.action.MAIN", "android.intent.category.LAUNCHER"
MAX_LABELS = 16
MAX_RECORDS = 1 << 20
_ERRORS = (Refused, struct.error, IndexError, ValueError)


@dataclass(slots=True, frozen=True)
class LabelAttr:
    """One ``android:label``: its text, or the resource id to resolve (``ref``); ``raw``: the raw
    string (what aapt prints) when the attribute has one."""

    text: str | None = None
    ref: int | None = None
    raw: str | None = None
    zero_package: bool = False  # a reference whose package byte was 0x00 (``ref`` holds it as 0x7f)


@dataclass(slots=True)
class FrameworkApp:
    """The label of each depth-2 ``<application>`` in order (None: it has none), the labels of
    launcher activities; ``refused``: why Android would not read the manifest at all."""

    applications: list[LabelAttr | None] = field(default_factory=list)
    launchers: list[LabelAttr] = field(default_factory=list)
    aapt_only: list[LabelAttr | None] = field(default_factory=list)  # <application\0...>: aapt reads it, Android skips it
    refused: str | None = None
    cut: bool = False  # MAX_RECORDS reached: tags past it were not read


def read_application(xml: bytes) -> FrameworkApp:
    out = FrameworkApp()
    try:
        tree = _Tree(memoryview(xml))
        first = tree.first_start_tag()
        if not first.name_is("manifest"):
            raise Refused("the first start tag is not <manifest>")
    except _ERRORS as exc:
        return FrameworkApp(refused=str(exc) or type(exc).__name__)
    try:
        _Walk(tree, out).run(first.node)
    except _ERRORS:
        pass  # Android stops at the same bad node (BAD_DOCUMENT): what came before stands
    return out


class _Walk:
    """The events below the root; state per depth: in an application, an activity, an intent filter."""

    def __init__(self, tree: _Tree, out: FrameworkApp):
        self.tree, self.out, self.records = tree, out, 0
        offset, count = tree.res_ids
        ids = struct.unpack_from(f"<{count}I", tree.buf, offset) if count else ()
        self.names = {want: frozenset(i for i, v in enumerate(ids) if v == want) for want in (ATTR_NAME, ATTR_LABEL)}
        self.cut: dict[tuple[int, str], bool] = {}  # (string index, text) -> aapt's C-string test (one decode each)

    def run(self, root: int) -> None:
        tree, depth = self.tree, 1
        node = tree._next_node(root)
        in_app = activity = in_filter = False
        found: tuple[int, int, int] | None = None
        seen: set[str] = set()
        while node is not None and depth > 0:
            kind = struct.unpack_from("<H", tree.buf, node)[0]
            if kind == END_TAG:
                depth -= 1
            elif kind == START_TAG:
                depth += 1
                if depth == 2:
                    in_app = self.application(_StartTag(tree, node))
                elif depth == 3:  # the label's record only: decoded once the activity is a launcher
                    tag = _StartTag(tree, node) if in_app else None
                    activity = tag is not None and (self.named(tag, "activity") or self.named(tag, "activity-alias"))
                    found, in_filter = (self.find(tag, ATTR_LABEL) if activity else None), False
                elif depth == 4 and found is not None:
                    in_filter, seen = self.named(_StartTag(tree, node), "intent-filter"), set()
                elif depth == 5 and in_filter:
                    seen.add(self.filter_item(_StartTag(tree, node)))
                    if {"main", "launcher"} <= seen:
                        label = self.value(*found)
                        if label not in self.out.launchers and len(self.out.launchers) < MAX_LABELS:
                            self.out.launchers.append(label)
                        in_filter, found = False, None
            if self.records > MAX_RECORDS:
                self.out.cut = True
                return
            node = tree._next_node(node)

    def application(self, tag: _StartTag) -> bool:
        """Whether ``tag`` is an ``<application>`` to Android or to aapt; its label kept in the list of its reader."""
        if tag.name_is("application"):
            found = self.out.applications
        elif self.aapt_is(tag.name_index(), "application"):
            found = self.out.aapt_only
        else:
            return False
        if len(found) < MAX_LABELS:
            found.append(self.label(tag))
        return True

    def named(self, tag: _StartTag, text: str) -> bool:
        """The tag is ``text`` to Java or to aapt (a launcher aapt prints is kept beside Android's)."""
        return tag.name_is(text) or self.aapt_is(tag.name_index(), text)

    def aapt_is(self, index: int, text: str) -> bool:
        """aapt's test, ``String8(s) == text`` (C strings): a UTF-16 string up to its first NUL is
        ``text`` (a UTF-8 one Java reads up to it too, so Java's test already said yes)."""
        key = (index, text)
        if key not in self.cut:
            value = _java(self.tree.pool, index, len(text) + 1) or ""
            answer = "\x00" in value and value.split("\x00", 1)[0] == text
            if len(self.cut) >= 4096:
                return answer
            self.cut[key] = answer
        return self.cut[key]

    def filter_item(self, tag: _StartTag) -> str:
        """"main" for ``<action android:name=MAIN>``, "launcher" for the LAUNCHER category, else ""
        (the typed string or the raw one: either counts)."""
        pool = self.tree.pool
        for kind, want in (("action", MAIN), ("category", LAUNCHER)):
            if self.named(tag, kind):
                found = self.find(tag, ATTR_NAME)
                if found is None:
                    return ""
                raw, vtype, data = found
                if any(_is(pool, i, want) or self.aapt_is(i, want) for i in [*([data] if vtype == TYPE_STRING else []),
                                                                             *([raw] if raw < 0x80000000 else [])]):
                    return "main" if kind == "action" else "launcher"
        return ""

    def find(self, tag: _StartTag, res_id: int) -> tuple[int, int, int] | None:
        """(raw index, type, data) of the first attribute whose name maps to ``res_id``."""
        names, buf = self.names[res_id], self.tree.buf
        count = min(tag.count, 1) if tag.size == 0 else tag.count  # records of size 0 are all one record
        self.records += count
        for i in range(count if names else 0):
            at = tag.ext + tag.start + tag.size * i
            if struct.unpack_from("<I", buf, at + 4)[0] in names:
                raw, = struct.unpack_from("<I", buf, at + 8)
                vtype, data = struct.unpack_from("<BI", buf, at + 15)
                return raw, vtype, data
        return None

    def label(self, tag: _StartTag) -> LabelAttr | None:
        found = self.find(tag, ATTR_LABEL)
        return None if found is None else self.value(*found)

    def value(self, raw: int, vtype: int, data: int) -> LabelAttr:
        """The label of a (raw index, type, data) record, as ``TypedArray`` and aapt read it."""
        pool = self.tree.pool
        raw_text = _raw(pool, raw)
        if vtype in (TYPE_REFERENCE, TYPE_DYNAMIC_REFERENCE) and data:
            zero = data >> 24 == 0
            return LabelAttr(ref=data | (APP_PACKAGE << 24) if zero else data, raw=raw_text, zero_package=zero)
        return LabelAttr(text=_typed_text(pool, raw, vtype, data), raw=raw_text)


def _typed_text(pool: _Pool, raw: int, vtype: int, data: int) -> str | None:
    """``TypedValue.coerceToString`` of the typed value; a string is the pool's as Java gets it."""
    if vtype == TYPE_STRING:
        return _java(pool, data)
    return coerce_to_string(vtype, data)


def _raw(pool: _Pool, index: int) -> str | None:
    """The raw string (``getAttributeValue`` by name reads it first): none for an index >= 2^31."""
    return _java(pool, index) if index < 0x80000000 else None


def _is(pool: _Pool, index: int, text: str) -> bool:
    try:
        return pool.java_is(index, text)
    except _ERRORS:
        return False


def _java(pool: _Pool, index: int, limit: int | None = None) -> str | None:
    try:
        return pool.java(index, limit)
    except _ERRORS:
        return None  # no string at that index: no value
