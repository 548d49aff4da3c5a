"""Write-then-rename, so an output path holds either the old file or the complete new one, never half of one.

Temporary names: `.<stem, at most 32 chars>.deepanon-tmp-<hash of the output name>-<pid>-<random><ext>`, a hidden
file in the output's folder. The hash ties a temporary to its output whatever the output's length (the name stays
far under the file system's 255-byte limit), and the pid tells a live writer from one killed with SIGKILL: the next
write of (or skip over) that output removes the temporaries of dead writers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_MARKER = ".deepanon-tmp-"
_STEM_CHARS = 32  # 4 bytes a char at most: 128 bytes, plus ~50 fixed, under any NAME_MAX (255)
_SUFFIX_CHARS = 10  # a longer "extension" is not one an encoder would look at


def _file_mode() -> int:
    """0666 minus the umask. mkstemp creates 0600 files; outputs should get the usual permissions.

    Linux reports the umask in /proc without changing it; elsewhere it is read (and restored at once) at the first
    write, never at import."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _tag(dst: Path) -> str:
    return hashlib.sha1(os.fsencode(dst.name)).hexdigest()[:12]


def temp_prefix(dst: Path) -> str:
    """The name prefix of this process's temporaries for `dst` (the random part and extension follow)."""
    return f".{dst.stem[:_STEM_CHARS]}{TMP_MARKER}{_tag(dst)}-{os.getpid()}-"


def is_temp_name(name: str) -> bool:
    return TMP_MARKER in name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a pid we cannot test): leave its file alone
    return True


def remove_stale(dst: Path) -> list[Path]:
    """Remove the temporaries of `dst` left by writers that are gone (killed mid-write); returns what it removed."""
    dst = Path(dst)
    marker = f"{TMP_MARKER}{_tag(dst)}-"
    removed: list[Path] = []
    try:
        entries = os.listdir(dst.parent)
    except OSError:
        return removed
    for name in entries:
        at = name.find(marker)
        if not name.startswith(".") or at < 0:
            continue
        pid_text = name[at + len(marker) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            (dst.parent / name).unlink()
            removed.append(dst.parent / name)
    return removed


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to `dst`; on success it replaces `dst`, on any exception it is deleted.

    The temp name keeps dst's extension so encoders that pick the format from the name still work, and it lives in
    the same folder so os.replace is an atomic rename (same file system).
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dst)
    suffix = dst.suffix if len(dst.suffix) <= _SUFFIX_CHARS else ""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(dst), suffix=suffix, dir=dst.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, dst)
    except BaseException:  # KeyboardInterrupt too: never leave a stray temp file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
