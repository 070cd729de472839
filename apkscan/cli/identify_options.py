"""Options that choose how much of each APK ``identify`` reads: ``--quick`` and ``--hashes``.

Shared by ``inspect`` and ``scan``; kept apart from the output options so the two
commands' other options stay untouched.
"""

from __future__ import annotations

import click

from apkscan.cli.usage import Conflict

QUICK_HELP = ("Triage: check the signatures over the signed data and the certificates, but not the "
              "content digests; the file is not hashed. Every output says 'content_digests: not "
              "checked' and no APK counts as verified.")
HASHES_HELP = ("Whole-file digests to report, comma-separated: sha256 (always), sha1, md5. "
               "SHA-1/MD5 cost a second and third hash of every byte.")
FILE_HASHES = ("sha256", "sha1", "md5")


def parse_hashes(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """``sha1,md5`` -> ("sha256", "sha1", "md5"); SHA-256 is always computed."""
    names = {n.strip().lower().replace("-", "") for n in (value or "").split(",") if n.strip()}
    unknown = sorted(names - set(FILE_HASHES))
    if unknown:
        raise click.BadParameter(f"unknown hash {', '.join(unknown)}; choose from {', '.join(FILE_HASHES)}")
    return tuple(n for n in FILE_HASHES if n == "sha256" or n in names)


SDK_LEVEL = click.IntRange(0, 2**31 - 1)  # an API level: apksigner refuses a negative one (apksig's IllegalArgumentException)


def check_sdk_range(min_sdk: int | None, max_sdk: int | None) -> None:
    """``--min-sdk-version`` above ``--max-sdk-version`` verifies for no release: a usage error,
    as apksigner refuses it (an APK's own minSdkVersion above ``--max-sdk-version`` is that
    APK's INPUT_BAD_SDK_RANGE)."""
    if min_sdk is not None and max_sdk is not None and min_sdk > max_sdk:
        raise Conflict(f"--min-sdk-version {min_sdk} is above --max-sdk-version {max_sdk}")
