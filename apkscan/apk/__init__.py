"""The apk layer: read an APK the way Android does and extract a verified identity.

Folders follow the flow of the bytes (and apksig's packages):
``io`` (bounded reads of a file or window, the ZIP reader) -> ``manifest`` (binary XML,
AndroidManifest.xml, the package as Android reads it) and ``crypto`` (signature
algorithms, X.509, PKCS#7) -> ``signing`` (APK Signing Block, the one-pass digests, one
sub-package per scheme: ``v1`` JAR signing, ``v2v3`` incl. key rotation lineage, ``v4``
.idsig, ``stamp`` source stamp; ``signing.verifier`` decides apksigner's verdict) ->
``identify`` (the whole ``ApkIdentity`` for one input); ``model`` holds the typed
dataclasses passed between stages.
"""
