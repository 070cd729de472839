"""Labels as Android's system UI shows them: the "safe label" and the first line.

Why: the permission dialogs, app info and other system_server/PermissionController screens
show ``PackageItemInfo.loadSafeLabel``, which runs the label through
``TextUtils.makeSafeForPresentation``: ``Html.fromHtml`` (entities decoded, tags dropped,
``<br>`` and block tags such as ``<p>``/``<div>`` made line breaks, white space and source
newlines collapsed to one space), then only the first line kept (a line feed, U+2028 or
U+2029 ends it), control characters removed, the ends trimmed, and an ellipsis past a width.
So ``T&#105;kTok``, ``Tik<b></b>Tok`` and ``TikTok<br>Notes`` read ``TikTok`` there (review 79
F2). A view of one line (``maxLines="1"``, a launcher's icon title) shows the raw label's first
line: ``TikTok\\nFree Notes`` reads ``TikTok``; :func:`first_line` is that reading.

Written from AOSP frameworks/base (``TextUtils.makeSafeForPresentation``,
``Html.fromHtml``/``HtmlToSpannedConverter``); a subset: TagSoup's error recovery is not
copied (a ``<`` not followed by a letter, ``/``, ``!`` or ``?`` is text, a tag runs to the next
``>``), entities are HTML5's (:func:`html.unescape`), ``<img>`` becomes U+FFFC as Android
makes it, and the width ellipsis is left out (it only cuts the end). At most
:data:`MAX_CONSIDERED` characters are read, as Android does.
"""

from __future__ import annotations

import re
import unicodedata

from apkscan.rules import regex_book
from apkscan.rules.text_cache import text_cache

MAX_CONSIDERED = 1000  # PackageItemInfo.MAX_SAFE_LABEL_LENGTH: characters makeSafeForPresentation reads
# tags Html.fromHtml turns into a line break before and after (handleStartTag/handleEndTag)
BLOCKS = frozenset({"p", "div", "ul", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"})
_TAG = regex_book.later(r"<!--.*?(?:-->|$)|<[!?][^>]*>?|<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*>?", int(re.S))
_LINE_ENDS = regex_book.later("[\n\u2028\u2029]")
_BREAKS = regex_book.later("[\n\r\u0085\u2028\u2029]")
_HTMLISH = regex_book.later(r"[<&\n\r\u2028\u2029\u0085]")


@text_cache(maxsize=16384)
def safe_label(label: str) -> str:
    """``label`` as ``loadSafeLabel`` shows it (first line, trimmed); the label itself when it
    holds nothing HTML or line breaking."""
    if not _HTMLISH().search(label):
        return label
    text = _from_html(label[:MAX_CONSIDERED])
    text = _LINE_ENDS().split(text, maxsplit=1)[0]
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    return text.strip()


@text_cache(maxsize=16384)
def first_line(label: str) -> str:
    """The raw label up to its first line break (line feed, carriage return, NEL, U+2028,
    U+2029), trimmed: what a one-line view shows; the label itself when it has no break."""
    parts = _BREAKS().split(label, maxsplit=1)
    return label if len(parts) == 1 else parts[0].strip()


def _from_html(source: str) -> str:
    """``Html.fromHtml(source).toString()``, the part that decides the characters shown."""
    import html  # ~1.4 ms with its entity table: only for a label that holds markup or a line break
    out: list[str] = []
    pos = 0
    for m in _TAG().finditer(source):
        _characters(out, html.unescape(source[pos:m.start()]))
        pos = m.end()
        name = (m.group(2) or "").lower()
        if name == "br":
            out.append("\n")
        elif name == "img":
            out.append("\ufffc")
        elif name in BLOCKS and out:
            out.append("\n")
    _characters(out, html.unescape(source[pos:]))
    return "".join(out)


def _characters(out: list[str], text: str) -> None:
    """HtmlToSpannedConverter.characters: a space or line feed of the source becomes one space,
    none after a space or line break already written (nor at the very start)."""
    for ch in text:
        if ch in " \n":
            if out and out[-1][-1:] not in (" ", "\n"):
                out.append(" ")
        else:
            out.append(ch)
