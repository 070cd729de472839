"""APK signature schemes: the signing block, the one-pass digests, one package per scheme, the overall verdict."""
