"""APK Signature Scheme v4: the .idsig file and its check against v2/v3 and the fs-verity root."""
