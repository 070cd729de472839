"""Cryptographic building blocks: signature algorithm tables, signature checks, X.509, PKCS#7."""
