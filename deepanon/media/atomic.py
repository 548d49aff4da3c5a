"""Write-then-rename, so an output path holds either the old file or the complete new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_MARKER = ".deepanon-tmp-"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; outputs should get the usual permissions. Read once: os.umask is process-global.
_FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to `dst`; on success it replaces `dst`, on any exception it is deleted.

    The temp name keeps dst's extension so encoders that pick the format from the name still work, and it lives in
    the same folder so os.replace is an atomic rename (same file system).
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}{TMP_MARKER}", suffix=dst.suffix, dir=dst.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dst)
    except BaseException:  # KeyboardInterrupt too: never leave a stray temp file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
