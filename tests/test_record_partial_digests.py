"""A device record that gives only some of a certificate's digests (review 63 M1).

AndroidQF's ``packages.json`` may carry only ``Sha256``, only ``Sha1`` or only ``Md5`` for a
certificate. The scan writes a digest the record did not give as ``""``; its own JSON must still
pass the published schema, so ``apkscan report`` re-renders it instead of refusing it with
``DOCUMENT_MALFORMED``.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from pathlib import Path

import jsonschema
import pytest
from cli_helpers import invoke

KEYS = Path(__file__).resolve().parents[1] / "fixtures" / "keys"
SCHEMA = Path(__file__).resolve().parents[1] / "apkscan" / "report" / "schema" / "scan-result.schema.json"
DER = ssl.PEM_cert_to_DER_cert((KEYS / "impostor.pem").read_text())
DIGESTS = {name: hashlib.new(name.lower(), DER).hexdigest() for name in ("Sha256", "Sha1", "Md5")}


def _acquisition(root: Path, given: dict[str, str]) -> Path:
    root.mkdir()
    (root / "acquisition.json").write_text(json.dumps({"uuid": "m1", "androidqf_version": "1.7.0"}))
    (root / "packages.json").write_text(json.dumps([
        {"name": "com.example.recorded", "files": [{"path": "/data/app/x/base.apk", "certificate": given}]}]))
    return root


@pytest.mark.parametrize("given", [["Sha256"], ["Sha1"], ["Md5"], ["Sha1", "Md5"]], ids="+".join)
def test_the_scans_own_document_re_renders(tmp_path, given):
    acq = _acquisition(tmp_path / "acq", {name: DIGESTS[name].upper() for name in given})
    scanned = invoke("scan", acq, "-q", "--no-store", "--json", tmp_path / "scan.json")
    assert scanned.exit_code == 0, scanned.output
    doc = json.loads((tmp_path / "scan.json").read_text("utf-8"))
    (app,) = doc["apps"]
    (cert,) = app["identity"]["recorded_certificates"]
    assert {k: cert[k.lower()] for k in DIGESTS} == {k: DIGESTS[k] if k in given else "" for k in DIGESTS}
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text("utf-8"))).validate(doc)
    rendered = invoke("report", tmp_path / "scan.json", "-q", "--html", tmp_path / "r.html",
                      "--csv", tmp_path / "r.csv", "--sarif", tmp_path / "r.sarif")
    assert rendered.exit_code == 0, rendered.output
    assert "com.example.recorded" in (tmp_path / "r.html").read_text("utf-8")


def test_an_empty_digest_is_still_refused_for_a_certificate_read_from_bytes():
    """The relaxed form is for recorded certificates only: a signer's certificate keeps its hex."""
    defs = json.loads(SCHEMA.read_text("utf-8"))["$defs"]
    cert = {"sha256": DIGESTS["Sha256"], "sha1": "", "md5": "", "subject": "", "issuer": ""}

    def errors(name: str) -> list:
        return list(jsonschema.Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"}).iter_errors(cert))

    assert errors("certificate")
    assert not errors("recorded_certificate")
