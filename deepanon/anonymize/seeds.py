"""Where each face's latent seed comes from: random by default, reproducible with --seed.

Seeds are derived from (--seed, the file's relative output path, the face or track index) with a
stable hash, so the same command gives the same faces whatever the order or number of workers.
"""

from __future__ import annotations

import hashlib
import secrets


def derive_seed(base: int | None, *parts: object) -> int:
    """A 63-bit seed from base and parts; fresh randomness when base is None."""
    if base is None:
        return secrets.randbits(63)
    # surrogateescape: a file name that is not UTF-8 (its bytes kept as surrogates by os.fsdecode) still hashes
    key = "\x1f".join([str(base), *map(str, parts)]).encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1
