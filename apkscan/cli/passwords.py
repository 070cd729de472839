"""Where the password of an encrypted backup comes from, asked only when a backup needs one.

Shared by ``scan`` and ``inspect``; a module of its own so ``inspect`` does not import the
scan command (its options, the batch machinery) to read an encrypted backup.
"""

from __future__ import annotations

import os
import sys

import click

from apkscan.apk.io.readonly import open_binary


def password_provider(password: str | None, password_file: str | None):
    """Called once, only when an encrypted backup needs it: option, file, environment, prompt."""

    def get() -> str | None:
        if password is not None:
            return password
        if password_file:
            try:
                with open_binary(password_file) as fh:  # kept beside the evidence: its access time kept too
                    return fh.readline().decode("utf-8").rstrip("\r\n")
            except OSError as exc:
                click.echo(f"error: cannot read --password-file: {exc.strerror or exc}", err=True)
                return None
            except UnicodeDecodeError as exc:  # as the text read gave it before
                click.echo(f"error: cannot read --password-file: {exc}", err=True)
                return None
        if os.environ.get("APKSCAN_BACKUP_PASSWORD"):
            return os.environ["APKSCAN_BACKUP_PASSWORD"]
        if sys.stdin.isatty():
            return click.prompt("Backup password", hide_input=True, default="", show_default=False, err=True) or None
        return None

    return get
