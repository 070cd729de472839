"""apkscan: static scanner for Android APKs.

Pipeline: sources (find APKs) -> apk (ZIP, manifest, signatures, certificates)
-> rules and policy (match, decide) -> report (HTML, JSON, SARIF, CSV) -> cli.
"""

__version__ = "0.1.0"

from apkscan import dataclass_code as _dataclass_code  # noqa: E402,F401  (before any class: see its docstring)
