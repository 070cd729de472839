"""``file://`` and ``local://`` inputs are the local paths they name, not remote URLs.

fsspec reads such a URL from this machine's file system, so it names evidence on this machine
exactly as the path does. Sent to workers as a URL, it skipped every check a path gets: reports,
``--jsonl``, the store and ``--tmp-dir`` were written inside it, ``--force`` replaced a file in
it, nothing had a custody record and every read moved an access time (review 66 F3). The CLI
turns each into its path before any check, so it is checked, walked, hashed and read (O_NOATIME)
as that path is; a worker reached by one anyway reads it through the same no-atime open.

The path is taken as fsspec takes it: what follows ``file://`` as written, with no ``%``
decoding (fsspec does none). So a URL that could mean two files is refused rather than guessed:
one with ``%`` escapes, one whose path is not absolute (``file://host/x`` is a host to RFC 8089
and the relative ``host/x`` to fsspec), and a chained URL over a local file (``zip://a.apk::file:///ev/x.zip``),
whose file the checks could not see. Remote URLs (``s3://``, ``gs://``) are left as they are.
"""

from __future__ import annotations

LOCAL_SCHEMES = ("file://", "local://")  # fsspec's LocalFileSystem protocols


class LocalUrlError(ValueError):
    """A local URL apkscan will not guess the meaning of: the message says what to give instead."""


def local_path(url: str) -> str | None:
    """The local path a ``file://``/``local://`` URL names; None for anything else (a plain path, a
    remote URL). :class:`LocalUrlError` for a form whose file is ambiguous (see the module)."""
    if "::" in url and "://" in url:
        if any(part.startswith(LOCAL_SCHEMES) for part in url.split("::")):
            raise LocalUrlError(f"{url}: a URL chained over a local file: give the local file's path instead")
        return None
    scheme = next((s for s in LOCAL_SCHEMES if url.startswith(s)), None)
    if scheme is None:
        return None
    path = url[len(scheme):]
    if not path.startswith("/"):
        raise LocalUrlError(f"{url}: a {scheme} URL must name an absolute path ({scheme}/path): give the path itself")
    if "%" in path:
        raise LocalUrlError(f"{url}: %-escapes in a {scheme} URL are ambiguous (fsspec reads them as written): "
                            "give the path itself")
    return path
