"""The apk layer: read an APK the way Android does and extract a verified identity.

One module per job, in the order the bytes flow:
``bytesource`` (random access to a file) -> ``zipreader`` (EOCD, central directory,
entries) -> ``manifest`` (AXML/ARSC) and ``signing_block`` -> one verifier per scheme
(``v1``, ``v2v3``, ``v4``, ``source_stamp``) -> ``verifier`` (apksigner's overall
verdict) -> ``identify`` (the whole ``ApkIdentity`` for one file).
"""
