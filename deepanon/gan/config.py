"""Architecture of the face GAN, saved beside every set of weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass
class NetConfig:
    """Architecture of G and D; saved next to every set of weights so they can be rebuilt exactly."""

    resolution: int = 128
    z_dim: int = 128
    w_dim: int = 128
    map_layers: int = 2
    # Channels at resolution r = min(cbase // r, cmax): 32 at 128 px ... 192 at 16 px and below. Sized so that
    # G, D and G_ema in fp16 (the compact train state in the repository) stay under 30 MB; trained on one H100.
    g_cbase: int = 4096
    g_cmax: int = 192
    d_cbase: int = 4096
    d_cmax: int = 160
    mbstd_group: int = 4
    landmarks: int = 5

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
