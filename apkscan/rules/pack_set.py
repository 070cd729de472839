"""Checks over the packs of one run, after each file was read alone: names and ids unique, a
shipped pack's name not taken by another file, certificates a user pack adds to a vendor said.

Why apart from the loader: ``rules lint`` asks the same checks of the files it is given, and
each is about the set, not one file's text.
"""

from __future__ import annotations

from pathlib import Path

from apkscan.rules.model import RulePack
from apkscan.rules.yamlsrc import RuleError, shipped_name_taken


def _shipped() -> Path:
    """The shipped packs' folder (:func:`apkscan.rules.loader.builtin_dir`; the loader imports this module)."""
    from apkscan.rules.loader import builtin_dir

    return builtin_dir()


def vendor_keys_added(packs: list[RulePack], shipped: set[str]) -> list[RuleError]:
    """A pack not shipped that lists certificates no other pack of its vendor lists, under the
    vendor name of another pack: they count as that vendor's keys for every pack of the vendor
    (review 64 F2), so the run says so (a shared rule file must not change how other packs
    decide without a word)."""
    out = []
    for pack in packs:
        others = [p for p in packs if p is not pack and p.vendor == pack.vendor]
        if pack.path in shipped or not others or pack.name.startswith("ioc."):
            continue
        known = {(a, d) for p in others for kc in p.certificates.values() for a in ("sha256", "sha1", "md5")
                 if (d := getattr(kc, a))}
        added = [kc for kc in pack.certificates.values()
                 if not any((a, getattr(kc, a)) in known for a in ("sha256", "sha1", "md5"))]
        if not added:
            continue
        reason = (f"pack {pack.name!r} adds {len(added)} certificate(s) to vendor {pack.vendor!r} "
                  f"({', '.join(kc.id for kc in added[:3])}), also the vendor of {', '.join(p.name for p in others)}: "
                  f"they count as {pack.vendor}'s keys there too (its listed packages signed by one are no "
                  "impersonation; a vendor name on one is no claim in a pack that lists keys, nor in another "
                  "user pack); a shipped pack whose vendor no shipped pack lists keys for still identifies the "
                  "vendor by name")
        out.append(RuleError(pack.path, None, reason, "RULES_VENDOR_KEYS_ADDED"))
    return out


def shipped_names_taken(packs: list[RulePack]) -> list[RuleError]:
    """Without the shipped packs (``--no-builtin-rules``), a pack may still not take a shipped pack's
    name unless it is that file: the summary line and reports would show the shipped pack and
    version for other rules (review 64 F6). Beside the shipped packs :func:`duplicates` refuses it."""
    out = []
    for pack in packs:
        if pack.name.startswith("ioc.") or not (_shipped() / f"{pack.name}.yaml").is_file():
            continue
        # the text parsed, not the file again: a pipe is drained, a file may have changed (review 91 F2)
        reason = shipped_name_taken(pack.name, pack.path, pack.text_sha256, _shipped(), "pack")
        if reason:
            out.append(RuleError(pack.path, None, reason, "RULES_ID_RESERVED"))
    return out


def duplicates(packs: list[RulePack]) -> list[RuleError]:
    """Rule ids and pack names are unique over the run: both key findings, tags and reports
    (also what ``rules lint`` checks across the files it is given and the shipped packs)."""
    seen: dict[str, str] = {}
    pack_paths: dict[str, str] = {}
    errors = []
    for pack in packs:
        if pack.name in pack_paths:  # e.g. a user "pack: bytedance" beside the shipped one
            shipped = (_shipped() / f"{pack.name}.yaml").is_file()  # kept for that file, --no-builtin-rules too
            errors.append(RuleError(pack.path, None, f"pack name {pack.name!r} is already used by "
                                    f"{pack_paths[pack.name]}: rename the pack"
                                    + (" (a shipped pack's name stays the shipped file's, with --no-builtin-rules too)"
                                       if shipped else ""), "RULES_ID_RESERVED"))
        pack_paths.setdefault(pack.name, pack.path)
        for rule in pack.rules:
            if rule.id in seen:
                errors.append(RuleError(pack.path, rule.line,
                                        f"rule id {rule.id!r} already defined in {seen[rule.id]}"))
            seen[rule.id] = pack.path
    return errors
