"""Pure geometry for detecting on large images: the full-resolution tiles beside a bounded-size overview."""

from __future__ import annotations


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles (y0, x0, y1, x1) of at most tile x tile covering the image, neighbours sharing `overlap` px."""
    step = max(tile - overlap, 1)

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        s = list(range(0, n - tile, step))
        s.append(n - tile)  # the last tile ends flush with the border
        return s

    return [(y, x, min(y + tile, height), min(x + tile, width)) for y in starts(height) for x in starts(width)]
