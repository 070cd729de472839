"""The scan document, typed: ``ScanDocument.from_dict`` / ``to_dict`` (see :mod:`.scan_document`).

Its own package, not part of ``report/``: the scan produces it, and reports, ``apkscan report``
and ``apkscan diff`` consume it; ``codec`` is the checked JSON reader the records share.
"""

from apkscan.document.codec import DocumentError
from apkscan.document.identity import Certificate, Identity, Issue
from apkscan.document.scan_document import App, Decision, Finding, InputError, ScanDocument, Source

__all__ = ["App", "Certificate", "Decision", "DocumentError", "Finding", "Identity", "InputError",
           "Issue", "ScanDocument", "Source"]
