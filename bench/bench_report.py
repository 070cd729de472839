"""Benchmark: render N synthetic apps (default 10,000) in every report format.

The apps are varied copies of the report tests' sample document, whose identities
are real (``ApkIdentity.to_dict()`` around real vendor certificates), so each app
carries full scheme, certificate and lineage detail like a real scan. For each
format it renders the typed document (``ScanDocument``, what ``apkscan report`` loads)
to a file in a temporary folder twice: once timed, once under ``tracemalloc`` for the
peak of Python allocations made while rendering (the document itself, already in
memory, is not counted). The first row is the load itself: ``ScanDocument.from_dict``
of the JSON dict (its peak is the typed copy). Prints a Markdown table.

The sample's vendor certificates come from ``../shared/reference/vendor-identities.json``
beside the checkout; without it (a fresh clone) the fixtures' test certificates
(``fixtures/keys/*.pem``, real DER of the same kind) stand in for them, and the first line says so.

    python bench/bench_report.py [--apps 10000]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_report_doc
from test_report_doc import synthetic_document

from apkscan.document import ScanDocument
from apkscan.report import formats, terminal


def _render(doc, name: str, path: Path) -> None:
    if name == "load":
        doc.loaded = ScanDocument.from_dict(doc.raw)
    elif name == "terminal":
        terminal.render(doc.loaded, io.StringIO(), color=False, columns=120)
    else:
        formats.write(doc.loaded, name, str(path))


class Docs:
    """The JSON dict and, once the ``load`` row ran, its typed document."""

    def __init__(self, raw: dict):
        self.raw, self.loaded = raw, None


def measure(doc: Docs, name: str, folder: Path) -> tuple[float, float, int]:
    path = folder / f"report.{name}"
    gc.collect()
    start = time.perf_counter()
    _render(doc, name, path)
    seconds = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    _render(doc, name, path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = path.stat().st_size if path.exists() else 0
    return seconds, peak / 2**20, size


_VENDOR_NAMES = ("TENCENT_WECHAT", "TENCENT_QQ", "TENCENT_QZONE", "BYTEDANCE_MUSICALLY", "BYTEDANCE_MICROCAO")


def _certificates() -> str:
    """Where the sample's vendor certificates come from; the fixtures' stand in when ../shared is absent
    (the report tests skip then; this benchmark only needs certificates of a real shape)."""
    if test_report_doc.VENDORS.is_file():
        return f"vendor certificates from {test_report_doc.VENDORS}"
    import ssl

    from apkscan.apk.crypto.certificates import certificate_from_der

    pems = sorted((ROOT / "fixtures" / "keys").glob("*.pem"))
    if len(pems) < len(_VENDOR_NAMES):
        sys.exit(f"bench_report: needs {test_report_doc.VENDORS} or the fixtures' test certificates "
                 f"(fixtures/keys/*.pem); neither is there")
    stand_ins = {name: certificate_from_der(ssl.PEM_cert_to_DER_cert(pem.read_text()))
                 for name, pem in zip(_VENDOR_NAMES, pems)}
    test_report_doc._vendor_certs = lambda: stand_ins
    return f"{test_report_doc.VENDORS} absent: the fixtures' test certificates stand in for the vendors'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10_000)
    args = parser.parse_args()
    print(_certificates())
    doc = json.loads(json.dumps(synthetic_document(args.apps)))  # no shared sub-objects, as loaded from a file
    doc_mib = len(json.dumps(doc, ensure_ascii=False).encode()) / 2**20
    flagged = sum(1 for a in doc["apps"] if a["verdict"] != "allowed")
    print(f"{args.apps} apps ({flagged} flagged, {sum(len(a['findings']) for a in doc['apps'])} "
          f"findings), JSON document {doc_mib:.1f} MiB, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs\n")
    print("| format | render time (s) | peak extra memory (MiB) | per 1,000 apps (MiB) | output (MiB) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="apkscan-bench-") as tmp:
        docs = Docs(doc)
        for name in ("load", "html", "json", "sarif", "csv", "terminal"):
            seconds, peak, size = measure(docs, name, Path(tmp))
            print(f"| {name} | {seconds:.2f} | {peak:.1f} | {peak * 1000 / args.apps:.2f} | "
                  f"{size / 2**20:.1f} |")


if __name__ == "__main__":
    main()
