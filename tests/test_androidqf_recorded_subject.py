"""A certificate recorded in AndroidQF's ``packages.json`` reads as the same certificate recorded in
an adb backup's ``_manifest`` (review 69 F6).

AndroidQF writes each certificate as apkverifier's ``CertInfo``: ``Subject``/``Issuer`` as
``C=.., ST=.., L=.., O=.., OU=.., CN=..`` with nothing escaped. apkscan kept that text but read no
attributes from it, so no subject rule could match: a Kaspersky-subject record was ``allowed``
under every Kaspersky policy while the same certificate from a ``_manifest`` (its DER) was
``review``. The records here are written by the fixture generator's own writer of that form
(``fixtures/backups/generate.py``), the certificates are the fixture keys'.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backup_helpers import APKS, backup_generator, build_ab, manifest, pem_der
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.apk.crypto.interop import ANDROIDQF_TAGS, MAX_NAME_TEXT, androidqf_name, read_androidqf_name
from apkscan.policy.loader import load_policy
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

G = backup_generator()
KASPERSKY_POLICIES = ("canada-tbs-2023", "us-dhs-bod-17-01", "us-commerce-kaspersky-2024")


@pytest.mark.parametrize("key", ["kaspersky-like", "tencent-like", "bytedance-like", "test-rsa", "android-debug"])
def test_androidqf_text_reads_back_as_the_certificates_attributes(key):
    der = pem_der(key)
    cert = certificate_from_der(der)
    text = G.qf_name(x509.load_der_x509_certificate(der).subject)  # the fixture's own writer of the form
    assert text == androidqf_name(cert.subject_attrs)  # what apkscan writes as subject_androidqf
    reading = read_androidqf_name(text)
    expected = {k: (v[-1:] if k == "CN" else v) for k, v in cert.subject_attrs.items() if k in ANDROIDQF_TAGS}
    assert reading is not None and reading.readings == 1 and reading.attrs == expected


VALUE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=",;"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(ANDROIDQF_TAGS), VALUE, min_size=1))
def test_a_name_without_separators_in_its_values_reads_back_exactly(attrs):
    reading = read_androidqf_name(androidqf_name({k: [v] for k, v in attrs.items()}))
    assert reading is not None and reading.readings == 1
    assert reading.attrs == {k: [v] for k, v in attrs.items()}


@pytest.mark.parametrize("text, expected", [
    # O holds ", CN=b" or CN holds ", OU=c": two splits of three parts each, both kept
    ("O=a, CN=b, OU=c", {"O": ["a", "a, CN=b"], "CN": ["b, OU=c"], "OU": ["c"]}),
    # ";" joins two values of O, or sits inside one
    ("O=Kaspersky Lab ZAO;Other, CN=x", {"O": ["Kaspersky Lab ZAO;Other", "Kaspersky Lab ZAO", "Other"], "CN": ["x"]}),
])
def test_an_ambiguous_name_keeps_every_reading(text, expected):
    reading = read_androidqf_name(text)
    assert reading is not None and reading.readings == 2
    assert {k: sorted(v) for k, v in reading.attrs.items()} == {k: sorted(v) for k, v in expected.items()}


@pytest.mark.parametrize("text", [
    "Kaspersky Lab ZAO",  # no tag first
    "OU=x" + ", O=y" * 40,  # more ", TAG=" places than any subject has
    "O=" + "k" * MAX_NAME_TEXT,  # too long to read
    "C=" + ", ST=, L=, O=, OU=, CN=" * 4,  # splits too many ways
])
def test_text_not_in_the_form_is_refused(text):
    assert read_androidqf_name(text) is None


def _acquisition(root: Path, records: list[tuple[str, str, str | None]]) -> Path:
    """An AndroidQF acquisition holding only ``packages.json`` records of (package, key, Subject)."""
    acq = root / "qf" / "acq"
    acq.mkdir(parents=True)
    (acq / "acquisition.json").write_text(json.dumps({"uuid": "acq", "androidqf_version": "1.7.0",
                                                      "started": "2026-11-01T10:00:00Z"}))
    packages, data = [], (APKS / "kaspersky-subject-notes.apk").read_bytes()
    for package, key, subject in records:
        f = G.qf_file(f"/data/app/~~a==/{package}-b==/base.apk", data, key)
        if subject is not None:
            f["certificate"]["Subject"] = subject
        packages.append({"name": package, "installer": "x", "uid": 1, "disabled": False, "system": False,
                         "third_party": True, "files": [f]})
    (acq / "packages.json").write_text(json.dumps(packages))
    return root / "qf"


def _backup(root: Path, records: list[tuple[str, str, str | None]]) -> Path:
    path = root / "rec.ab"
    path.write_bytes(build_ab([(f"apps/{p}/_manifest", manifest(p, 1, [pem_der(k)], False)) for p, k, _ in records],
                              compress=True))
    return path


def _scan(rules, tmp_path: Path, path: Path, policies: tuple[str, ...]) -> dict:
    first, *more = [load_policy(p) for p in policies]
    source = FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))
    return scan([source], rules, first, more_policies=more).to_dict()


def _decided(doc: dict) -> dict[str, tuple]:
    """package -> (origin, {policy: verdict}, {(kind, strength)})."""
    return {a["package"]: (a["identity"]["origin"], {p: v["verdict"] for p, v in a["verdicts"].items()},
                           sorted((f["kind"], f["strength"]) for f in a["findings"])) for a in doc["apps"]}


@pytest.mark.parametrize("records, policies", [
    ([("com.example.notes", "kaspersky-like", None)], KASPERSKY_POLICIES),
    ([("com.example.chat", "tencent-like", None), ("com.example.video", "bytedance-like", None)],
     ("vendor-watch", "canada-tbs-2023")),
], ids=["kaspersky", "tencent-bytedance"])
def test_a_packages_json_record_reads_as_the_same_manifest_record(rules, tmp_path, records, policies):
    qf = _decided(_scan(rules, tmp_path, _acquisition(tmp_path, records), policies))
    ab = _decided(_scan(rules, tmp_path, _backup(tmp_path, records), policies))
    assert qf == ab
    assert all(origin == "recorded" and set(verdicts.values()) == {"review"} and findings
               for origin, verdicts, findings in qf.values())  # a recorded name is a claim: never more


def test_an_ambiguous_subject_still_matches_and_says_so(rules, tmp_path):
    subject = "C=RU, O=Kaspersky Lab ZAO, CN=x, OU=y"  # OU after CN: O=Kaspersky Lab ZAO in every reading
    doc = _scan(rules, tmp_path, _acquisition(tmp_path, [("com.example.notes", "kaspersky-like", subject)]),
                KASPERSKY_POLICIES)
    (app,) = doc["apps"]
    assert {v["verdict"] for v in app["verdicts"].values()} == {"review"}
    assert [w["code"] for w in app["identity"]["warnings"]] == ["ANDROIDQF_NAME_AMBIGUOUS"]


def test_an_unreadable_subject_is_said(rules, tmp_path):
    doc = _scan(rules, tmp_path, _acquisition(tmp_path, [("com.example.notes", "kaspersky-like", "Kaspersky Lab ZAO")]),
                KASPERSKY_POLICIES)
    (app,) = doc["apps"]
    assert [w["code"] for w in app["identity"]["warnings"]] == ["ANDROIDQF_NAME_UNREADABLE"]
    assert app["identity"]["recorded_certificates"][0]["subject"] == "Kaspersky Lab ZAO"  # kept as written
