"""Conformance with apksigner on the shared corpus (apksig's and androguard's test APKs).

For every corpus APK, ``identify`` must reach apksigner's verdict over the APK's own
SDK range and name the same verified signer certificates. Debian's apksigner 31.0.2
is older than current apksig; where current apksig's own tests or the Bouncy Castle
rerun say otherwise we follow them, and each such file is listed in ``FOLLOW_APKSIG``
with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apkscan_signer_blocks

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FOLDERS = ("apksig", "androguard")

# file -> (expected verified over the default range, expected signer's subject or None,
#          reason we differ from Debian's apksigner 31.0.2). The signer is named by subject
# and resolved to its SHA-256 through certificates apksigner printed for other files.
V31 = "31.0.2 ignores v3.1 blocks; current apksig reports the newest v3.1 signer"
FOLLOW_APKSIG: dict[str, tuple[bool, str | None, str]] = {
    "apksig/v1-only-11-signers.apk": (False, None, "current apksig limits JAR signers to 10 (JAR_SIG_MAX_SIGNATURES_EXCEEDED); 31.0.2 predates the limit"),
    "apksig/v31-block-stripped-v3-attr-value-33.apk": (False, None, "31.0.2 ignores v3.1; current apksig reports V31_BLOCK_MISSING for the stripped v3.1 block"),
    "apksig/stamp-malformed-signature.apk": (True, "CN=rsa-2048", "apksigner 31.0.2 crashes (NullPointerException) after printing the signer; current apksig's test expects the APK to verify with a rejected stamp"),
    "apksig/v31-ec-p256-2-tgt-33-1-tgt-28-targetSdk-30.apk": (True, "CN=ec-p256_2", "31.0.2 ignores v3.1, so its v3 signer (API 28-32) leaves 33+ uncovered and it reports the target-SDK rule; current apksig verifies with v3.1 (ApkVerifierTest checks from 33)"),
    "apksig/stamp-2-v31-tgt-signers.apk": (True, "CN=ec-p256_2", V31),
    "apksig/v31-rsa-2048_2-tgt-10000-1-tgt-28.apk": (True, "CN=rsa-2048_2", V31),
    "apksig/v31-rsa-2048_2-tgt-10000-dev-release.apk": (True, "CN=rsa-2048_2", V31),
    "apksig/v31-rsa-2048_2-tgt-33-1-tgt-28.apk": (True, "CN=rsa-2048_2", V31),
    "apksig/v41-digest-mismatched-with-v31.apk": (True, "CN=rsa-4096", V31 + "; without its .idsig the APK verifies (the v4 mismatch is tested in test_v4_stamp.py)"),
}


def _records():
    for folder in FOLDERS:
        gt = SHARED / folder / "ground_truth.jsonl"
        if not gt.is_file():
            continue
        for line in gt.read_text().splitlines():
            rec = json.loads(line)
            rec["_path"] = SHARED / folder / rec["file"]
            rec["_key"] = f"{folder}/{rec['file']}"
            yield rec


RECORDS = list(_records())


def _printed_certificates() -> dict[str, str]:
    """subject DN -> certificate SHA-256, from every signer apksigner printed in the corpus."""
    out: dict[str, str] = {}
    for rec in RECORDS:
        runs = [rec] + [rec.get(k) or {} for k in ("apksigner_min_sdk_24", "apksigner_min_sdk_28")]
        for run in runs:
            for signer in run.get("signers") or []:
                out.setdefault(signer["subject_dn"], signer["cert_sha256"])
    return out


PRINTED = _printed_certificates()
pytestmark = pytest.mark.skipif(not RECORDS, reason="shared corpus (../shared/corpus) not available")


def expected_default(rec) -> tuple[bool, list[str]]:
    """apksigner's verdict and signer SHA-256s over the APK's own range, per current apksig."""
    if rec["_key"] in FOLLOW_APKSIG:
        verified, subject, _reason = FOLLOW_APKSIG[rec["_key"]]
        return verified, [PRINTED[subject]] if verified else []
    bc = rec.get("apksigner_bouncycastle")
    if bc and "NoSuchAlgorithmException" in (rec.get("apksigner_exception") or ""):
        run = bc["default_range"]
        return run["verified"], [s["cert_sha256"] for s in run["signers"]] if run["verified"] else []
    return rec["verified"], [s["cert_sha256"] for s in rec["signers"]] if rec["verified"] else []


def _summary(identity) -> str:
    d = identity.to_dict()
    errs = [e["code"] for e in d["errors"]] + [f"{n}:{e['code']}" for n, s in d["schemes"].items() for e in s["errors"]]
    return f"verified={d['verified']} signers={[s['sha256'][:12] for s in d['signers']]} errors={errs[:6]}"


def test_default_range_agrees_with_apksigner():
    mismatches = []
    for rec in RECORDS:
        want_verified, want_signers = expected_default(rec)
        got = identify(rec["_path"], idsig=False)
        got_signers = [c.sha256 for c in got.verification.signers] if got.verification else []
        if got.verified != want_verified or (want_verified and got_signers != want_signers):
            mismatches.append(f"{rec['_key']}: want verified={want_verified} {[s[:12] for s in want_signers]}; got {_summary(got)}")
    assert not mismatches, f"{len(mismatches)} of {len(RECORDS)} differ:\n" + "\n".join(mismatches)


def test_min_sdk_24_agrees_with_apksigner():
    """The rerun with --min-sdk-version 24 exercises v2/v3 without the JAR fallback. A run that
    ended in an exception verified nothing (a missing AndroidManifest.xml still throws from API 26:
    review 73 F3), except where Debian's JDK lacks the algorithm (RSA-PSS): there the Bouncy Castle
    rerun is apksigner's word."""
    mismatches, checked = [], 0
    for rec in RECORDS:
        run = rec.get("apksigner_min_sdk_24")
        if run and "NoSuchAlgorithmException" in (run.get("exception") or ""):
            run = (rec.get("apksigner_bouncycastle") or {}).get("min_sdk_24")
        if not run:
            continue
        if rec["_key"] in FOLLOW_APKSIG or "11-signers" in rec["file"]:
            continue  # covered by apksig's own expectations below
        checked += 1
        got = identify(rec["_path"], min_sdk=24, idsig=False)
        got_signers = [c.sha256 for c in got.verification.signers] if got.verification else []
        want_signers = [s["cert_sha256"] for s in run["signers"]] if run["verified"] else []
        if got.verified != run["verified"] or got_signers != want_signers:
            mismatches.append(f"{rec['_key']}: want verified={run['verified']}; got {_summary(got)}")
    assert checked > 50
    assert not mismatches, "\n".join(mismatches)


def test_apksig_test_expectations_with_their_sdk_ranges():
    """What ApkVerifierTest.java asserts, including its explicit SDK ranges and issue names."""
    mismatches, checked = [], 0
    for rec in RECORDS:
        for exp in rec.get("expected_by_apksig_tests") or []:
            if exp["outcome"] not in ("verified", "rejected"):
                continue
            if exp["min_sdk"] is None and exp["max_sdk"] is None and rec["_key"] in FOLLOW_APKSIG:
                pass  # checked here too: this is where current apksig's word is
            beside = str(rec["_path"]) + ".idsig"  # ApkVerifierTest passes the .idsig where one exists, by name
            kwargs = {"idsig": beside if os.path.isfile(beside) else False}
            if exp["min_sdk"] is not None:
                kwargs["min_sdk"] = exp["min_sdk"]
            if exp["max_sdk"] is not None:
                kwargs["max_sdk"] = exp["max_sdk"]
            checked += 1
            got = identify(rec["_path"], **kwargs)
            want = exp["outcome"] == "verified"
            if got.verified != want:
                mismatches.append(f"{rec['_key']} [{exp['min_sdk']}..{exp['max_sdk']}] ({exp['test']}): want {exp['outcome']} {exp.get('issue') or ''}; got {_summary(got)}")
                continue
            if not want and exp.get("issue"):
                d = got.to_dict()
                codes = {e["code"] for e in d["errors"]} | {e["code"] for s in d["schemes"].values() for e in s["errors"]}
                wanted = exp["issue"] if isinstance(exp["issue"], list) else [exp["issue"]]
                if not set(wanted) & codes:
                    mismatches.append(f"{rec['_key']} [{exp['min_sdk']}..{exp['max_sdk']}]: rejected, but without {exp['issue']}; got {sorted(codes)}")
    assert checked > 150
    assert not mismatches, f"{len(mismatches)} of {checked} differ:\n" + "\n".join(mismatches)


def test_package_and_version_agree_with_aapt():
    mismatches = []
    for rec in RECORDS:
        if rec.get("package") is None:
            continue
        got = identify(rec["_path"], idsig=False).to_dict()
        # aapt prints '' for an absent versionCode/versionName; apkscan reports null
        want = (rec["package"], rec["version_code"] or None, rec["version_name"] or None)
        have = (got["package"], None if got["version_code"] is None else str(got["version_code"]), got["version_name"])
        if have != want:
            mismatches.append(f"{rec['_key']}: aapt {want}, apkscan {have}")
    assert not mismatches, "\n".join(mismatches)


def test_file_digests_match_ground_truth():
    for rec in RECORDS:
        got = identify(rec["_path"], idsig=False)
        assert got.file is not None and got.file.sha256 == rec["sha256"] and got.file.size == rec["size"], rec["_key"]


def _current_runs():
    path = SHARED / "apksigner_current.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        rec = json.loads(line)
        for run, min_sdk in (("default_range", None), ("min_sdk_24", 24)):
            if not rec[run]["exception"]:  # RSA-PSS: the JDK's missing algorithm, no verdict
                yield rec["file"], run, min_sdk, rec[run]


CURRENT = list(_current_runs())


@pytest.mark.skipif(not CURRENT, reason="apksigner_current.jsonl not available")
def test_printed_signers_agree_with_current_apksigner():
    """Current apksigner's verdict and every signer block it printed, label and certificate: for a
    v3.1 APK each v3.1 and v3 signer with the SDK range (and dev-release flag) it declares, which
    Debian's 31.0.2 never prints. apkscan's blocks are what ApkSignerTool would print for its
    verdict (apksigner_helper.apkscan_signer_blocks)."""
    mismatches, sdk_targeted = [], 0
    for file, run, min_sdk, want in CURRENT:
        got = identify(SHARED / file, min_sdk=min_sdk, idsig=False)
        ours = [(b["label"], b["cert_sha256"]) for b in apkscan_signer_blocks(got.verification)]
        theirs = [(s["label"], s["sha256"]) for s in want["signers"]] if want["verified"] else []
        sdk_targeted += any(b[0].startswith("Signer (") for b in theirs)
        if got.verified != want["verified"] or ours != theirs:
            mismatches.append(f"{file} [{run}]: apksigner {want['verified']} {theirs} {want['errors'][:2]}; apkscan {ours} {_summary(got)}")
    assert sdk_targeted >= 10, "the v3.1 files' SDK-targeted signers were not compared"
    assert not mismatches, f"{len(mismatches)} of {len(CURRENT)} runs differ:\n" + "\n".join(mismatches)
