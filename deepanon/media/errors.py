"""The one error type the media stage raises for bad input: a short reason, never a path or traceback."""

from __future__ import annotations

import errno


class MediaError(Exception):
    """A file that cannot be read or written; str(err) is a short human reason (the caller adds the path)."""


def os_reason(exc: OSError) -> str:
    """A path-free reason for an OSError (str(exc) would include the file name)."""
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return "file not found"
    if isinstance(exc, IsADirectoryError) or exc.errno == errno.EISDIR:
        return "is a directory"
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return (exc.strerror or type(exc).__name__).lower()
