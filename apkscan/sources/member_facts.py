"""A member's container facts (``Member.flags``: a name listed twice, an odd name, an encryption
flag) are never dropped (review 70 F4).

They travel with the APK the member is (``ScanInput.flags``, then the app's tamper indicators).
A member that is no APK ends as a skip, a text listing or a container of other members, and
none of those carries them: the facts are then said for the member itself, as an input problem
at its chain (merged into the one its read yields there, if any), so every report lists them.
A layout reader that reads a member itself (a metadata file) says them the same way
(:func:`to_say`). Not said for a skip: a Windows-made name read with ``\\`` as ``/`` (the way
unzip reads it, no fact about the member's data; shown on the app it names, if any), nor a member
read only from the local headers (``TAMPER_CONTAINER_LOCAL_ONLY_ENTRY``: its container says them all
at once, :meth:`apkscan.sources.zip_archive.ZipReader.local_items`; 100,000 tiny ones are one line).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from apkscan.issues import Issue
from apkscan.sources.interface import InputProblem, Item, ScanInput
from apkscan.sources.zip_local import LOCAL_ONLY
from apkscan.sources.zip_tree import READ_AS_SLASH


def to_say(flags: Iterable[Issue]) -> list[Issue]:
    """The facts of a member that no app will carry, less a name's mere reading (see above)."""
    return [f for f in flags if not (f.code == "TAMPER_MEMBER_NAME" and f.message.endswith(READ_AS_SLASH))
            and f.code != LOCAL_ONLY]


def kept(flags: list[Issue], chain: tuple[str, ...], items: Iterable[Item]) -> Iterator[Item]:
    """``items`` (what the walk of the member at ``chain`` yields) and, when no APK read from it
    carries ``flags`` and no problem of its own said them, one problem saying them. ``flags`` may
    grow while the member is read (a deflated member's size, known at its stream's end:
    :mod:`apkscan.sources.zip_member_sizes`), so what is left to say is settled at the end."""
    said = False
    for item in items:
        if not said and isinstance(item, ScanInput) and all(f in item.flags for f in flags):
            said = True
        elif not said and isinstance(item, InputProblem) and tuple(item.chain) == chain and to_say(flags):
            item.issues.extend(f for f in to_say(flags) if f not in item.issues)
            said = True
        yield item
    facts = to_say(flags)
    if facts and not said:
        yield InputProblem(chain, facts)
