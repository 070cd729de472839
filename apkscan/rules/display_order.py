"""The order a bidi-aware viewer shows a name in: a small part of UAX #9, written here.

Why: text stored in reverse after U+202E RIGHT-TO-LEFT OVERRIDE shows the right way round in
any viewer that implements the Unicode Bidirectional Algorithm (Android's TextView, the package
installer, ``apksigner --print-certs`` in a terminal): ``\\u202ekoTkiT`` reads ``TikTok``, a
subject ``O=\\u202ebaL yksrepsaK`` reads ``Kaspersky Lab`` (review 79 F1). Deleting the control
(:func:`apkscan.rules.normalise.normalise`) keeps the stored order, which no reader sees. Python
has no bidi module in its standard library, and this is too small a need for a dependency.

Implemented (https://www.unicode.org/reports/tr9/, the rule numbers are UAX #9's): P1 (a
paragraph separator ends every embedding), P2-P3 (paragraph level from the first strong
character, isolates skipped), X1-X8 (levels of embeddings, overrides and isolates, with the
override status: a character under RLO takes type R, under LRO type L; depth limit 125 and the
overflow counters), X9 (explicit controls removed), X10 (isolating run sequences, sos/eos),
W1-W7, N1-N2, I1-I2, L1 (separators and trailing white space to the paragraph level), L2
(reversal) and L4 for the ASCII bracket pairs and guillemets. Left out: N0 (bracket pairs take
the direction of their content: only neutrals between RTL and LTR text differ), line wrapping
(a name is one line), L3 (combining marks) and mirroring beyond the pairs above. It need not
render real Arabic or Hebrew well: it gives what the levels give, which is what matters for
Latin text reordered by explicit controls.
"""

from __future__ import annotations

import unicodedata

from apkscan.rules.text_cache import text_cache

MAX_DEPTH = 125
STRONG = frozenset({"L", "R", "AL"})
INITIATORS = frozenset({"LRI", "RLI", "FSI"})
EMBEDDINGS = frozenset({"LRE", "RLE", "LRO", "RLO"})
REMOVED = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "BN"})  # X9
NEUTRAL = frozenset({"B", "S", "WS", "ON", "LRI", "RLI", "FSI", "PDI"})  # NI of N1/N2
HIDDEN = REMOVED | INITIATORS | {"PDI"}  # classes drawn as nothing, left out of the display form
HIDDEN_MARKS = frozenset("\u200e\u200f\u061c")  # LRM, RLM, ALM: strong, yet drawn as nothing
MIRROR = dict(zip("()[]{}<>«»‹›", ")(][}{><»«›‹"))
# classes after which a text can read in another order than it is stored
_REORDERING = frozenset({"R", "AL", "AN", "RLE", "RLO", "LRO", "RLI", "FSI"})


def _cls(ch: str) -> str:
    return unicodedata.bidirectional(ch) or "L"  # unassigned: L (their defaults barely matter here)


@text_cache(maxsize=16384)
def display_order(text: str) -> str:
    """``text`` as a bidi-aware viewer shows it, left to right, its bidi controls (embeddings,
    overrides, isolates, LRM/RLM/ALM) left out. An ASCII text is returned as it is."""
    if text.isascii():
        return text
    out, start = [], 0
    for i, ch in enumerate(text):
        if _cls(ch) == "B":  # P1: each paragraph on its own, the separator kept
            out.append(_paragraph(text[start:i]) + ch)
            start = i + 1
    out.append(_paragraph(text[start:]))
    return "".join(out)


@text_cache(maxsize=16384)
def reordered(text: str) -> str | None:
    """:func:`display_order` when it is another order than the stored one (its bidi controls
    aside), else None: text with no RTL letter and no override reads as stored."""
    if text.isascii() or not any(_cls(ch) in _REORDERING for ch in text):
        return None
    shown = display_order(text)
    plain = "".join(ch for ch in text if ch not in HIDDEN_MARKS and _cls(ch) not in HIDDEN)
    return None if shown == plain else shown


def _paragraph(text: str) -> str:
    if not text:
        return ""
    types = [_cls(ch) for ch in text]
    match = _matching_pdi(types)
    para = _first_strong(types, 0, len(types), match)
    levels, types = _explicit(types, para, match)
    kept = [i for i, t in enumerate(types) if t not in REMOVED]
    original = [_cls(ch) for ch in text]
    for seq in _sequences(kept, levels, original, match, para):
        _resolve(seq, levels, types)
    _trailing(kept, levels, original, para)
    # L2 over every character the levels were resolved for (isolates and marks included: they
    # separate runs, review 80 F5), then those drawn as nothing left out
    order = [i for i in _reverse(kept, levels) if text[i] not in HIDDEN_MARKS and original[i] not in HIDDEN]
    return "".join(MIRROR.get(text[i], text[i]) if levels[i] % 2 else text[i] for i in order)


def _matching_pdi(types: list[str]) -> dict[int, int]:
    """BD9: isolate initiator -> its matching PDI."""
    stack: list[int] = []
    out: dict[int, int] = {}
    for i, t in enumerate(types):
        if t in INITIATORS:
            stack.append(i)
        elif t == "PDI" and stack:
            out[stack.pop()] = i
    return out


def _first_strong(types: list[str], start: int, end: int, match: dict[int, int]) -> int:
    """P2-P3: 1 if the first strong character (isolates skipped) is R or AL, else 0."""
    i = start
    while i < end:
        t = types[i]
        if t in STRONG:
            return 0 if t == "L" else 1
        i = (match.get(i, end) if t in INITIATORS else i) + 1
    return 0


def _explicit(types: list[str], para: int, match: dict[int, int]) -> tuple[list[int], list[str]]:
    """X1-X8: each character's embedding level and its type under the override status."""
    stack = [(para, None, False)]  # (level, override type, isolate)
    over_iso = over_emb = valid_iso = 0
    levels, out = [para] * len(types), list(types)
    for i, t in enumerate(types):
        level, override, _ = stack[-1]
        if t in EMBEDDINGS or t in INITIATORS:
            if t in INITIATORS:
                levels[i] = level
                out[i] = override or t
                rtl = t == "RLI" or (t == "FSI" and _first_strong(types, i + 1, match.get(i, len(types)), match))
            else:
                rtl = t in ("RLE", "RLO")
            new = (level + 1) | 1 if rtl else (level + 2) & ~1
            if new <= MAX_DEPTH and not over_iso and not over_emb:
                force = {"RLO": "R", "LRO": "L"}.get(t)
                stack.append((new, force, t in INITIATORS))
                valid_iso += t in INITIATORS
            elif t in INITIATORS:
                over_iso += 1
            elif not over_iso:
                over_emb += 1
        elif t == "PDI":
            if over_iso:
                over_iso -= 1
            elif valid_iso:
                over_emb = 0
                while not stack[-1][2]:
                    stack.pop()
                stack.pop()
                valid_iso -= 1
            level, override, _ = stack[-1]
            levels[i], out[i] = level, override or t
        elif t == "PDF":
            if over_iso:
                pass
            elif over_emb:
                over_emb -= 1
            elif not stack[-1][2] and len(stack) > 1:
                stack.pop()
        elif t == "B":
            levels[i] = para
        elif t != "BN":
            levels[i], out[i] = level, override or t
    return levels, out


def _sequences(kept: list[int], levels: list[int], original: list[str], match: dict[int, int],
               para: int) -> list[tuple[list[int], str, str]]:
    """X10: isolating run sequences (level runs joined across a matched isolate), with sos, eos.
    ``original``: the characters' own classes (an initiator under an override is still one)."""
    runs: list[list[int]] = []
    for i in kept:
        if runs and levels[runs[-1][-1]] == levels[i]:
            runs[-1].append(i)
        else:
            runs.append([i])
    matched_pdi = set(match.values())
    starts = {run[0]: run for run in runs}
    pos = {i: k for k, i in enumerate(kept)}
    out = []
    for run in runs:
        if run[0] in matched_pdi:  # a matched PDI starting a run continues its initiator's sequence
            continue
        seq = list(run)
        while seq[-1] in match and match[seq[-1]] in starts:
            seq += starts[match[seq[-1]]]
        level, first, last = levels[seq[0]], pos[seq[0]], pos[seq[-1]]
        prev = levels[kept[first - 1]] if first else para
        unmatched = original[seq[-1]] in INITIATORS and seq[-1] not in match
        nxt = para if unmatched or last + 1 == len(kept) else levels[kept[last + 1]]
        out.append((seq, "R" if max(level, prev) % 2 else "L", "R" if max(level, nxt) % 2 else "L"))
    return out


def _resolve(item: tuple[list[int], str, str], levels: list[int], types: list[str]) -> None:
    """W1-W7, N1-N2, I1-I2 over one isolating run sequence (types and levels changed in place)."""
    seq, sos, eos = item
    t = [types[i] for i in seq]
    prev = sos
    for k, x in enumerate(t):  # W1
        if x == "NSM":
            t[k] = "ON" if prev in INITIATORS or prev == "PDI" else prev
        prev = t[k]
    strong = sos
    for k, x in enumerate(t):  # W2, W3
        if x == "EN" and strong == "AL":
            t[k] = "AN"
        if x in STRONG:
            strong = x
    t = ["R" if x == "AL" else x for x in t]
    for k in range(1, len(t) - 1):  # W4
        if t[k] == "ES" and t[k - 1] == t[k + 1] == "EN":
            t[k] = "EN"
        elif t[k] == "CS" and t[k - 1] == t[k + 1] and t[k - 1] in ("EN", "AN"):
            t[k] = t[k - 1]
    _w5(t)
    t = ["ON" if x in ("ES", "ET", "CS") else x for x in t]  # W6
    strong = sos
    for k, x in enumerate(t):  # W7
        if x in ("L", "R"):
            strong = x
        elif x == "EN" and strong == "L":
            t[k] = "L"
    _neutrals(t, sos, eos, levels[seq[0]])
    for i, x in zip(seq, t):  # I1, I2
        if levels[i] % 2 == 0:
            levels[i] += 1 if x == "R" else 2 if x in ("AN", "EN") else 0
        elif x in ("L", "EN", "AN"):
            levels[i] += 1
        types[i] = x


def _w5(t: list[str]) -> None:
    """W5: a run of ETs next to an EN becomes EN."""
    k = 0
    while k < len(t):
        if t[k] != "ET":
            k += 1
            continue
        end = k
        while end < len(t) and t[end] == "ET":
            end += 1
        if (k > 0 and t[k - 1] == "EN") or (end < len(t) and t[end] == "EN"):
            t[k:end] = ["EN"] * (end - k)
        k = end


def _neutrals(t: list[str], sos: str, eos: str, level: int) -> None:
    """N1-N2: a run of neutrals between two of one direction (EN/AN count as R) takes it, any
    other the embedding direction."""
    def side(x: str) -> str:
        return "R" if x in ("R", "EN", "AN") else x
    k = 0
    while k < len(t):
        if t[k] not in NEUTRAL:
            k += 1
            continue
        end = k
        while end < len(t) and t[end] in NEUTRAL:
            end += 1
        before = side(t[k - 1]) if k else sos
        after = side(t[end]) if end < len(t) else eos
        fill = before if before == after else ("R" if level % 2 else "L")
        t[k:end] = [fill] * (end - k)
        k = end


def _trailing(kept: list[int], levels: list[int], original: list[str], para: int) -> None:
    """L1: segment separators, and white space or isolate controls before one or at the end, at
    the paragraph level."""
    tail = True
    for i in reversed(kept):
        x = original[i]
        if x in ("S", "B"):
            levels[i], tail = para, True
        elif tail and (x == "WS" or x in INITIATORS or x == "PDI"):
            levels[i] = para
        else:
            tail = False


def _reverse(order: list[int], levels: list[int]) -> list[int]:
    """L2: from the highest level down to the lowest odd one, reverse every run at that level or
    higher."""
    if not order:
        return order
    top = max(levels[i] for i in order)
    low = min((levels[i] for i in order if levels[i] % 2), default=top + 1)
    out = list(order)
    for level in range(top, low - 1, -1):
        k = 0
        while k < len(out):
            if levels[out[k]] < level:
                k += 1
                continue
            end = k
            while end < len(out) and levels[out[end]] >= level:
                end += 1
            out[k:end] = out[k:end][::-1]
            k = end
    return out
