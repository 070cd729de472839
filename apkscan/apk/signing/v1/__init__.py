"""v1 (JAR) signing: META-INF manifest/.SF parsing and PKCS#7 signer checks."""
