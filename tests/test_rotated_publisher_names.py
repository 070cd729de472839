"""Rotating away from a key does not wash its name off (review 73 F5).

An app signed with a key whose ``O=`` is a listed publisher name (Kaspersky lists no key, so the
name stands in for one) was ``prohibited``; the same app rotated with ``apksigner rotate`` to an
unremarkable key, its verified lineage still holding the first key, read ``allowed``: the names
were asked of the current signers only. A verified lineage node is a key the app verifiably
signed with; its names count as a signer's do, and say where they were found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import generate_module


def _signed(tmp_path: Path, keys: list[str], rotate: bool, min_sdk: int) -> Path:
    g = generate_module()
    work = tmp_path / ("rotated" if rotate else "direct") / str(min_sdk)
    work.mkdir(parents=True)
    unsigned = g.build_unsigned(g.App("com.example.notes", "Secure Notes", min_sdk=min_sdk))
    lineage = g.make_lineage(work, *keys) if rotate else None
    data = g.sign(unsigned, work, keys if rotate else keys[:1], v1=min_sdk < 24, v2=True, v3=True,
                  min_sdk=min_sdk, lineage=lineage)
    out = work / "app.apk"
    out.write_bytes(data)
    return out


def _one(doc: dict) -> dict:
    [app] = doc["apps"]
    return app


@pytest.mark.parametrize("min_sdk", [21, 28])
@pytest.mark.parametrize("named", ["kaspersky-like", "kaspersky-variant", "bytedance-like"])
def test_a_rotated_app_is_decided_as_strictly_as_before_its_rotation(scan_path, tmp_path, named, min_sdk):
    direct = _one(scan_path(_signed(tmp_path, [named, "test-rsa-new"], False, min_sdk)))
    rotated = _one(scan_path(_signed(tmp_path, [named, "test-rsa-new"], True, min_sdk)))
    assert rotated["identity"]["verified"] and direct["identity"]["verified"]
    assert direct["verdict"] != "allowed", direct["verdict"]  # the name alone decides something
    assert rotated["verdict"] == direct["verdict"], (direct["findings"], rotated["findings"])
    before = {(f["rule"], f["strength"]) for f in direct["findings"]}
    after = {(f["rule"], f["strength"]) for f in rotated["findings"]}
    assert after == before
    # the evidence says it came from the lineage, not from the current signer
    where = [e for f in rotated["findings"] for e in f["evidence"] if ".subject." in (e.get("field") or "")]
    assert where and all(e["field"].startswith("lineage[0].") for e in where), where
    assert all("lineage" in (e.get("location") or "") for e in where), where


def test_a_rotation_onto_the_named_key_is_still_read_from_the_signer(scan_path, tmp_path):
    """The other direction: the current signer carries the name; the lineage root is plain."""
    app = _one(scan_path(_signed(tmp_path, ["test-rsa-old", "kaspersky-like"], True, 28)))
    assert app["verdict"] == "prohibited"
    fields = {e["field"] for f in app["findings"] for e in f["evidence"] if ".subject." in (e.get("field") or "")}
    assert fields and all(f.startswith("signer.") for f in fields), fields
