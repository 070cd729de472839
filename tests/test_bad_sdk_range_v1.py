"""An SDK range apksigner refuses (``--max-sdk-version`` below the APK's minSdkVersion) still
reads v1's signature blocks (review 60 F4).

v1 used to return before reading them, so a v1 signer's certificate vanished from
``certificates_present``: a Kaspersky-named v1 certificate's ``review`` became ``allowed``, and
``completeness`` still said the signatures were read. Nothing verifies over such a range; the
certificates are present (unverified), and completeness says signatures were not checked, and why.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from cli_helpers import generate_module, invoke
from zip64_build import _signing_block

from apkscan.apk.identify import identify

KASPERSKY_SUBJECT = "CN=Kaspersky Lab,O=Kaspersky Lab ZAO,L=Moscow,C=RU"  # fixtures key kaspersky-like


@pytest.fixture(scope="module")
def v1_kaspersky_min24(tmp_path_factory) -> Path:
    """minSdkVersion 24: v1 (JAR) signed by kaspersky-like, then a v2+v3 block by test-rsa over the
    same entries (apksigner accepts it with the test-rsa signer only: v1 is not checked at 24+)."""
    generate = generate_module()
    work = tmp_path_factory.mktemp("v1kasp")
    unsigned = generate.build_unsigned(generate.App("com.example.notes", "Notes", min_sdk=24, target_sdk=29))
    v1 = generate.sign(unsigned, work, ["kaspersky-like"], v1=True, v2=False, v3=False, min_sdk=24)
    end = v1.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", v1, end + 12)
    content, cd, eocd = v1[:cd_offset], v1[cd_offset:cd_offset + cd_size], v1[end:]
    block = _signing_block(content, cd, eocd, "test-rsa")
    out = work / "v1kasp-min24.apk"
    out.write_bytes(content + block + cd + eocd[:16] + struct.pack("<I", len(content) + len(block)) + eocd[20:])
    return out


def _subjects(identity) -> set[str]:
    return {c.subject for c in identity.verification.certificates_present}


def test_the_default_range_sees_the_v1_certificate_as_present(v1_kaspersky_min24):
    identity = identify(v1_kaspersky_min24)
    assert identity.verified and KASPERSKY_SUBJECT in _subjects(identity)  # present, never the verified signer
    assert KASPERSKY_SUBJECT not in {c.subject for c in identity.verification.signers}
    assert identity.completeness.complete


def test_a_refused_range_still_reads_the_v1_certificates_as_present(v1_kaspersky_min24):
    identity = identify(v1_kaspersky_min24, max_sdk=23)
    v = identity.verification
    assert not identity.verified and "INPUT_BAD_SDK_RANGE" in {i.code for i in v.errors}
    assert v.schemes["v1"].present and not v.schemes["v1"].verified
    assert KASPERSKY_SUBJECT in _subjects(identity)
    assert not any(s.verified for s in v.schemes["v1"].signers)
    c = identity.completeness.to_dict()
    assert (c["complete"], c["signatures"], c["why"].get("signatures")) == (False, "not checked", "INPUT_BAD_SDK_RANGE")
    assert c["content_digests"] != "not checked"  # not --quick: that part is about the digests, not the range


@pytest.mark.parametrize("policy", ["vendor-watch", "us-dhs-bod-17-01"])
def test_a_refused_range_keeps_the_kaspersky_named_claim(v1_kaspersky_min24, tmp_path, policy):
    done = invoke("scan", str(v1_kaspersky_min24), "--no-store", "--policy", policy, "--max-sdk-version", "23",
                  "--fail-on", "never", "--json", str(tmp_path / "out.json"))
    assert done.exit_code == 0, done.output
    [app] = json.loads((tmp_path / "out.json").read_text())["apps"]
    assert app["verdict"] == "review", app["findings"]
    assert KASPERSKY_SUBJECT in {c["subject"] for c in app["identity"]["certificates_present"]}
    assert app["identity"]["completeness"]["why"] == {"signatures": "INPUT_BAD_SDK_RANGE"}
