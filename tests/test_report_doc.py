"""A realistic scan result document for the report tests and ``bench/bench_report.py``.

Identities are built with the real model classes (``ApkIdentity.to_dict()``) around
real vendor certificates parsed from their DER (``/work/shared/reference``), so the
renderers see exactly the shapes ``scan`` produces. When the shared folder is absent
the tests that need it skip; the self-signed hostile certificate is always available.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.apk.model import (
    ApkIdentity,
    Certificate,
    FileFacts,
    LineageNode,
    ManifestInfo,
    SchemeResult,
    SignerResult,
    VerificationResult,
)
from apkscan.issues import error, tamper

SHARED = Path(__file__).resolve().parents[2] / "shared"
VENDORS = SHARED / "reference" / "vendor-identities.json"
HOSTILE_LABEL = '<img src=x onerror=alert(1)><script>alert("x")</script>=cmd|"/c calc"!A1'
HOSTILE_DN = 'CN=<b id="injected">Evil</b>,O=<svg onload=alert(2)>,C=US'


def _vendor_certs() -> dict[str, Certificate]:
    if not VENDORS.is_file():
        pytest.skip("shared reference data absent")
    data = json.loads(VENDORS.read_text(encoding="utf-8"))
    return {k: certificate_from_der(bytes.fromhex(c["der_hex"]))
            for k, c in data["certificates"].items() if c.get("der_hex")}


def _hostile_cert() -> Certificate:
    return Certificate(
        sha256="ab" * 32, sha1="cd" * 20, md5="ef" * 16, subject=HOSTILE_DN, issuer=HOSTILE_DN,
        subject_attrs={"CN": ['<b id="injected">Evil</b>'], "O": ["<svg onload=alert(2)>"],
                       "C": ["US"]},
        serial="1", key_algorithm="RSA", key_size=1024, self_signed=True,
        weaknesses=["rsa-1024"])


def _plain_cert(cn: str, org: str) -> Certificate:
    """A synthetic, clearly fake certificate for an app no rule cares about."""
    dn = f"CN={cn},O={org},C=US"
    digest = hashlib.sha256(dn.encode()).hexdigest()
    return Certificate(sha256=digest, sha1=digest[:40], md5=digest[:32], subject=dn, issuer=dn,
                       subject_attrs={"CN": [cn], "O": [org], "C": ["US"]}, serial="2a",
                       key_algorithm="RSA", key_size=2048, self_signed=True,
                       signature_algorithm="sha256WithRSAEncryption")


def _identity(*args, **kwargs) -> dict:
    return identity_object(*args, **kwargs).to_dict()


def identity_object(path: str, package: str, label: str, cert: Certificate | None, *,
                    verified: bool = True, schemes=("v1", "v2"), lineage: list[Certificate] = (),
                    tampers=(), errors=(), version=("8.0.49", 2420)) -> ApkIdentity:
    """An ``ApkIdentity`` as the apk layer would return it, around a real certificate."""
    scheme_results = {}
    for name in ("v1", "v2", "v3", "v31", "v4", "source_stamp"):
        s = SchemeResult(name)
        if name in schemes and cert is not None:
            s.present = True
            s.verified = verified
            s.signers = [SignerResult("META-INF/CERT.SF" if name == "v1" else "signer #1", cert,
                                      [cert], verified=verified,
                                      signature_algorithms=["RSA_PKCS1_V1_5_WITH_SHA256"])]
            if not verified:
                s.signers[0].errors.append(error("V2_SIG_DID_NOT_VERIFY" if name != "v1"
                                                 else "JAR_SIG_DID_NOT_VERIFY",
                                                 "Signature over signed-data did not verify"))
            if name == "v3" and lineage:
                s.lineage = [LineageNode(c, 0x1f if i else 0x17, "SHA256withRSA", True)
                             for i, c in enumerate([*lineage, cert])]
        scheme_results[name] = s
    v = VerificationResult(
        verified=verified and cert is not None, min_sdk=24, max_sdk=2147483647,
        schemes=scheme_results, signers=[cert] if verified and cert else [],
        certificates_present=[cert] if cert else [],
        lineage=scheme_results["v3"].lineage,
        verified_using=[s for s in schemes] if verified and cert else [])
    ident = ApkIdentity(
        path=path, file=FileFacts(123456, (package.encode().hex() * 8)[:64], "0" * 40, "0" * 32),
        manifest=ManifestInfo(package=package, version_name=version[0], version_code=version[1],
                              min_sdk=21, target_sdk=33, label=label, labels={"": label}),
        verification=v, tamper=list(tampers), errors=list(errors))
    return ident


def _app(ident: dict, verdict: str, findings: list[dict], container: str | None = None,
         policy: dict | None = None) -> dict:
    app = {"source": ident["path"], "package": ident["package"], "label": ident["label"],
           "sha256": ident["sha256"], "verdict": verdict, "findings": findings,
           "identity": ident}
    if container:
        app["container"] = container
    if policy:
        app["policy"] = policy
    return app


def _finding(rule, vendor, app, strength, kind, evidence, policy=None) -> dict:
    basis = {"package": "package", "label": "label", "signer.sha256": "certificate",
             "signer.subject": "subject"}
    f = {"rule": rule, "vendor": vendor, "app": app, "strength": strength, "kind": kind,
         "pack": rule.split(".")[0], "message": f"{kind} of {vendor} {app}",
         "evidence": [{"field": k, "value": v, "basis": basis[k],
                       **({"verified": True, "matched": rule.upper()} if k == "signer.sha256"
                          else {})} for k, v in evidence]}
    if policy:
        f["policy"] = policy
    return f


BAN = {"text": "Ban on Tencent and ByteDance apps on corporate devices (ISP-7.2)",
       "url": "https://intranet.example/policies/isp-7.2"}


def pipeline_document() -> dict:
    """A document made by the real pipeline (``apkscan.scan``: rules, policy, ``to_dict``).

    Identities are built in memory (real vendor certificates), so this works before
    the apk layer can read every fixture; skips when the pipeline is not importable.
    """
    try:
        from apkscan.policy.loader import load_policy
        from apkscan.rules.loader import load_ruleset
        from apkscan.result import InputError, ScanResult
        from apkscan.scan import evaluate
    except ImportError as exc:
        pytest.skip(f"scan pipeline not available: {exc}")
    certs = _vendor_certs()
    rules, policy = load_ruleset(), load_policy()
    idents = [
        ("alice.ab", identity_object("apps/com.tencent.mm/base.apk", "com.tencent.mm", "WeChat",
                                     certs["TENCENT_WECHAT"])),
        ("bob.tar", identity_object("apps/tiktok/base.apk", "com.zhiliaoapp.musically", "TikTok",
                                    certs["BYTEDANCE_MUSICALLY"], schemes=("v2", "v3"),
                                    lineage=[certs["BYTEDANCE_MICROCAO"]])),
        (None, identity_object("sideload/x.apk", "com.tencent.mm", HOSTILE_LABEL, _hostile_cert(),
                               verified=False)),
        (None, identity_object("sideload/qq.apk", "com.tencent.mobileqq", "QQ", None,
                               verified=False)),
        ("bob.tar", identity_object("apps/firefox/base.apk", "org.mozilla.firefox", "Firefox",
                                    _plain_cert("Mozilla", "Mozilla Corporation"))),
    ]
    apps = [evaluate(i, rules, policy, source=i.path, container=c) for c, i in idents]
    errors = [InputError("downloads/broken.apk", None,
                         [error("ZIP_EOCD_NOT_FOUND", "End of Central Directory not found")])]
    result = ScanResult(apps=apps, errors=errors, rules=rules.meta(), policy=policy.meta(),
                        inputs=["alice.ab", "bob.tar", "sideload", "downloads"],
                        started_at="2026-11-28T09:00:00Z", finished_at="2026-11-28T09:00:05Z")
    return result.to_dict()


def sample_document() -> dict:
    """Every verdict, every strength, containers, an error input and hostile text."""
    certs = _vendor_certs()
    wechat, musically, qq = certs["TENCENT_WECHAT"], certs["BYTEDANCE_MUSICALLY"], certs["TENCENT_QQ"]
    hostile = _hostile_cert()
    apps = [
        _app(_identity("apps/com.tencent.mm/base.apk", "com.tencent.mm", "WeChat", wechat),
             "prohibited",
             [_finding("tencent.wechat.cert", "Tencent", "WeChat", "confirmed", "app",
                       [("signer.sha256", wechat.sha256), ("package", "com.tencent.mm")], BAN)],
             container="backups/alice-pixel7.ab", policy=BAN),
        _app(_identity("apps/com.zhiliaoapp.musically/base.apk", "com.zhiliaoapp.musically",
                       "TikTok", musically, schemes=("v2", "v3"), lineage=[qq]),
             "prohibited",
             [_finding("bytedance.tiktok.cert", "ByteDance", "TikTok", "confirmed", "app",
                       [("signer.sha256", musically.sha256)], BAN)],
             container="backups/bob-galaxy.tar", policy=BAN),
        _app(_identity("downloads/qq-lite.apk", "com.tencent.mobileqq", "QQ 轻聊版", None,
                       verified=False, tampers=[tamper("TAMPER_LOCAL_NAME_MISMATCH",
                                                       "local header names a different file")],
                       errors=[error("JAR_SIG_NO_MANIFEST", "Missing META-INF/MANIFEST.MF")]),
             "review",
             [_finding("tencent.package-prefix", "Tencent", "QQ", "weak", "app",
                       [("package", "com.tencent.mobileqq")],
                       {"text": "Unverified vendor apps need a manual review",
                        "url": "https://intranet.example/policies/review"})],
             container="backups/alice-pixel7.ab"),
        _app(_identity("sideload/" + HOSTILE_LABEL + ".apk", "com.evil.fake<wechat>",
                       HOSTILE_LABEL, hostile, verified=False,
                       tampers=[tamper("TAMPER_DUPLICATE_ENTRY", "two entries named classes.dex")]),
             "review",
             [_finding("tencent.wechat.impersonation", "Tencent", "WeChat", "strong",
                       "impersonation", [("label", HOSTILE_LABEL), ("signer.subject", HOSTILE_DN)],
                       {"text": "Impersonation of a vendor app: review <b>now</b>", "url": None})]),
        _app(_identity("apps/org.mozilla.firefox/base.apk", "org.mozilla.firefox", "Firefox",
                       _plain_cert("Mozilla", "Mozilla Corporation"), schemes=("v2",),
                       version=("121.0", 2015995987)),
             "allowed", [], container="backups/bob-galaxy.tar"),
        _app(_identity("apps/=HYPERLINK(\"http://x\")/base.apk", "+com.formula", "@SUM(1+1)",
                       certs["TENCENT_QZONE"], version=("-1", 1)),
             "allowed", []),
    ]
    return {
        "schema_version": "1.0",
        "tool": {"name": "apkscan", "version": "0.1.0"},
        "started_at": "2026-11-28T09:00:00Z",
        "finished_at": "2026-11-28T09:02:13Z",
        "inputs": ["backups/alice-pixel7.ab", "backups/bob-galaxy.tar", "downloads", "sideload",
                   "apps"],
        "rules": {"packs": [{"name": "tencent", "version": "2026.11", "vendor": "Tencent"},
                            {"name": "bytedance", "version": "2026.10", "vendor": "ByteDance"},
                            {"name": "kaspersky", "version": "2026.09", "vendor": "Kaspersky"}]},
        "policy": {"name": "corporate-ban", "version": "3", "url": BAN["url"]},
        "apps": apps,
        "errors": [{"source": "downloads/broken <i>x</i>.apk", "code": "ZIP_EOCD_NOT_FOUND",
                    "message": "End of Central Directory record not found"},
                   {"source": "backups/carol.ab", "code": "INPUT_UNREADABLE",
                    "message": "cannot open: Permission denied"}],
    }


def synthetic_document(n: int, base: dict | None = None) -> dict:
    """``n`` apps varied from the sample's real identities (bench and scale tests)."""
    base = base or sample_document()
    templates = base["apps"]
    apps = []
    for i in range(n):
        a = copy.deepcopy(templates[i % len(templates)])
        a["package"] = f"{a['package']}.n{i}"
        a["label"] = f"{a['label']} #{i}"
        a["source"] = f"dev{i % 50:02d}/{a['source']}"
        a["container"] = f"backups/device-{i % 50:02d}.ab"
        a["identity"]["package"] = a["package"]
        a["sha256"] = f"{i:064x}"
        apps.append(a)
    doc = dict(base, apps=apps)
    doc["finished_at"] = dt.datetime(2026, 11, 28, tzinfo=dt.UTC).isoformat()
    return doc


def test_sample_document_has_every_verdict_and_hostile_text():
    doc = sample_document()
    assert {a["verdict"] for a in doc["apps"]} == {"prohibited", "review", "allowed"}
    assert any(a["label"] == HOSTILE_LABEL for a in doc["apps"])
    assert doc["errors"]
    json.dumps(doc)  # the document is plain JSON
