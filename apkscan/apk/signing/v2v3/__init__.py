"""APK Signature Scheme v2, v3 and v3.1: signer blocks, verification, key rotation lineage."""
