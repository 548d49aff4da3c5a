"""Typed options for one training run of the face GAN (the architecture is gan.config.NetConfig)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from deepanon.gan.config import NetConfig

DEFAULT_STATE_PATH = "weights/train_state.safetensors"


@dataclass
class TrainConfig:
    """One training run. The shipped weights: batch 128 on one H100 (2,300 img/s); on a CPU use a smaller batch."""

    data: str = "datasets/faces"
    out: str = "runs/main"
    net: NetConfig = field(default_factory=NetConfig)
    batch: int = 32
    g_lr: float = 0.002
    d_lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 0.1  # StyleGAN2-ADA's heuristic 0.0002 R^2 / batch gives 0.05 at 128 px, batch 64
    r1_interval: int = 16  # lazy R1: every N steps, scaled by N
    l1_weight: float = 0.0  # optional reconstruction term inside the mask (off: it kills diversity)
    # "classic": networks.Discriminator, learned from scratch; "projected": projected.ProjectedDiscriminator, light
    # heads on a frozen ImageNet MobileNetV2 (needs the `train` extra). projected_input: image size fed to its trunk
    # (0 = the model's resolution, at least 32; a multiple of 32).
    discriminator: str = "classic"
    projected_input: int = 0
    # Warm start of a fresh run: G and G_ema from this exported generator (SHA-256 checked against its card); the
    # run counts on from the images and steps the card records. None: random G.
    init_generator: str | None = None
    # Adaptive discriminator augmentation (augment.py): p rises while E[sign(D(real))] > ada_target; 0 = off (p fixed
    # at augment_p). StyleGAN2-ADA's defaults: target 0.6, p moving by at most 1 per 500 kimg, adjusted every 4 steps.
    ada_target: float = 0.6
    ada_kimg: float = 500.0
    ada_interval: int = 4
    augment_p: float = 0.0  # starting p
    ema_kimg: float = 10.0  # half-life of the G EMA in thousands of images
    ema_rampup: float = 0.05  # EMA half-life <= this fraction of the images seen so far
    flip: bool = True
    balance_sources: bool = True  # draw each source folder equally often (see dataset.FaceCrops)
    source_weights: dict[str, float] | None = None  # or: each source's share of the batches, e.g. {"lfw-single": 3}
    total_kimg: float = 10_000.0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    amp: bool = True  # bf16 autocast on CUDA and on CPUs with native bf16 (device.cpu_has_native_bf16)
    channels_last: bool = True  # CUDA only
    device_cache: bool = True  # CUDA only: every training sample precomputed in GPU memory (dataset.DeviceCrops)
    sample_every: int = 500  # steps between sample grids
    checkpoint_every: int = 500  # steps between full checkpoints in the run folder (also every state_every_s)
    state_every_s: float = 600.0  # seconds between compact states (weights/train_state.safetensors) + checkpoints
    state_path: str | None = DEFAULT_STATE_PATH
    log_every: int = 20  # steps between loss rows
    num_samples: int = 8  # validation crops in the sample grid
    sample_z: int = 4  # z per crop in the sample grid

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if isinstance(kw.get("net"), dict):
            kw["net"] = NetConfig.from_dict(kw["net"])
        if "betas" in kw:
            kw["betas"] = tuple(kw["betas"])
        return cls(**kw)
