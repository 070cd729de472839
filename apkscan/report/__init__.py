"""Reports rendered from the scan result document (JSON, terminal, HTML, SARIF, CSV)."""
