"""AndroidManifest.xml and resources.arsc: binary XML, the manifest facts, the package as Android reads it."""
