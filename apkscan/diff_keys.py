"""Which key an app of a saved scan stands on, for ``apkscan diff``: verified, recorded, signature only.

A verified signer set is the identity ``diff`` always compared. Two other kinds of key are
in scan documents and count too (review 64 F3, F4): the certificates a device *recorded*
for an app known only from its record (adb backup ``_manifest``, AndroidQF ``packages.json``;
its verdict is decided on them), and under ``--quick`` the signers whose signature was
checked but whose content was not (``signature_only``). A change between kinds compares the
sets: a record replaced by an APK is the same key when the APK verifies under the recorded one.

Renames (review 64 F8): a removed app and an added app of one source that share a key are
one app under another name, but only when that key identifies one app: a key that signs
several packages of the source in either scan (a platform or vendor key), the Android debug
key (every developer's debug builds) or several candidates never pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apkscan.diff import AppState
    from apkscan.document import App

VERIFIED, RECORDED, CHECKED = "verified", "recorded", "signature only"
RECORDED_REASON, CHECKED_REASON = "recorded signer", "signer (signature only)"


def recorded_keys(copies: Iterable[App]) -> frozenset[str]:
    """SHA-256 of the certificates a device recorded for the app (its record's identity)."""
    return frozenset(c.sha256.lower() for a in copies for c in a.identity.recorded_certificates)


def checked_keys(copies: Iterable[App]) -> frozenset[str]:
    """SHA-256 of the scheme signers whose signature was checked without the content (``--quick``)."""
    return frozenset(s.certificate.sha256.lower() for a in copies for scheme in (a.identity.schemes or {}).values()
                     if scheme.signature_only for s in scheme.signers
                     if s.signature_only and s.certificate is not None)


def debug_keys(copies: Iterable[App]) -> frozenset[str]:
    """The Android debug certificates among the app's keys: never an app's identity."""
    certs = [c for a in copies for c in (*a.identity.signers, *a.identity.recorded_certificates,
                                         *a.identity.certificates_present)]
    return frozenset(c.sha256.lower() for c in certs if c.is_android_debug)


def key(state: AppState) -> tuple[frozenset[str], str | None]:
    """The keys an app stands on and their kind: verified first, then recorded, then signature only."""
    for keys, kind in ((state.signers, VERIFIED), (state.recorded, RECORDED), (state.checked, CHECKED)):
        if keys:
            return keys, kind
    return frozenset(), None


def key_reason(old: AppState, new: AppState) -> str | None:
    """``recorded signer`` / ``signer (signature only)`` when the key changed and a side is not
    verified (two verified sides are the ``signer`` reason's); None when the keys are the same,
    or the change is between verified and nothing (also said by ``signer``)."""
    (before, kind_a), (after, kind_b) = key(old), key(new)
    if before == after or {kind_a, kind_b} <= {VERIFIED, None}:
        return None
    return RECORDED_REASON if RECORDED in (kind_a, kind_b) else CHECKED_REASON


def describe_key(state: AppState) -> str:
    keys, kind = key(state)
    return f"{','.join(k[:12] for k in sorted(keys))} ({kind})" if keys else "none"


def identifying(state: AppState) -> frozenset[str]:
    """Keys that may pair a rename: verified signers, else recorded certificates; never debug keys."""
    keys = state.signers or state.recorded
    return keys - state.debug


def pairs(old_states: dict, new_states: dict, removed: list[str], added: list[str]) -> list[tuple[str, str]]:
    """(removed package, added package) pairs of one source sharing a key that signs only that
    package in the older scan and only that package in the newer; a package with several
    candidates pairs with none."""
    def owners(states: dict) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for package, state in states.items():
            for k in identifying(state):
                out.setdefault(k, set()).add(package)
        return out

    before, after = owners(old_states), owners(new_states)
    gone, new = set(removed), set(added)
    candidates: dict[str, set[str]] = {}
    for k, packages in before.items():
        if len(packages) == 1 and len(after.get(k, ())) == 1:
            (r,), (a,) = packages, after[k]
            if r in gone and a in new:
                candidates.setdefault(r, set()).add(a)
    taken: dict[str, int] = {}
    for options in candidates.values():
        for a in options:
            taken[a] = taken.get(a, 0) + 1
    return sorted((r, a) for r, options in candidates.items() if len(options) == 1
                  for a in options if taken[a] == 1)


def by_source(apps: dict) -> dict[str, dict]:
    """``{(source, package): state}`` as ``{source: {package: state}}`` (grouped once per diff)."""
    out: dict[str, dict] = {}
    for (source, package), state in apps.items():
        out.setdefault(source, {})[package] = state
    return out


def pair_renames(src, old_states: dict, new_states: dict, renamed) -> None:
    """Replace, in one source's changes, each :func:`pairs` pair's removal and addition by
    ``renamed(source, old package, new package, old state, new state)``; ``*_states``: the
    source's ``{package: state}``."""
    removed = [c.package for c in src.changes if c.change == "removed"]
    added = [c.package for c in src.changes if c.change == "added"]
    if not (removed and added):
        return
    found = pairs(old_states, new_states, removed, added)
    if not found:
        return
    gone = {p for pair in found for p in pair}
    src.changes = [c for c in src.changes if not (c.change in ("removed", "added") and c.package in gone)]
    src.changes.extend(renamed(src.source, before, after, old_states[before], new_states[after])
                       for before, after in found)
    src.changes.sort(key=lambda c: c.package)


def split_signers(state: AppState) -> dict[str, frozenset[str]]:
    """Each split name's verified signers (copies merged)."""
    out: dict[str, frozenset[str]] = {}
    for s in state.splits:
        out[s.split] = out.get(s.split, frozenset()) | frozenset(s.signers)
    return out


def split_resigned(old: AppState, new: AppState) -> bool:
    """A split whose verified signer set changed while it had one: as for the base, a re-signed build."""
    before, after = split_signers(old), split_signers(new)
    return any(keys and name in after and after[name] != keys for name, keys in before.items())
