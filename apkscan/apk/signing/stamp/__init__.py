"""Source stamp (v1/v2 stamp blocks and the stamp-cert-sha256 entry)."""
