"""Video with the GAN: one stable new identity per person, different people stay different, --seed reproduces."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from deepanon import Anonymizer
from deepanon.anonymize.pipeline import VideoState
from deepanon.cli import app
from tests.test_cli_video import face_boxes, frame
from tests.videos import make_test_video

N = 10


@pytest.fixture(scope="module")
def anon():
    return Anonymizer(method="gan", seed=7)


def run(anon: Anonymizer) -> tuple[list[np.ndarray], list]:
    video = VideoState()
    frames = [frame(t) for t in range(N)]
    out, faces = [], []
    for start in [*range(0, N, 4), N]:  # batches, as the video path feeds them, and [] at the end
        o, f = anon.anonymize_video_frames(frames[start : start + 4], "clip.mp4", video)
        out += o
        faces += f
    assert len(out) == N
    return out, faces


def crops(out: list[np.ndarray], t: int) -> list[np.ndarray]:
    return [out[t][y0:y1, x0:x1].astype(np.float32) for x0, y0, x1, y1 in face_boxes(t)]


def test_one_identity_per_track_and_different_people_differ(anon):
    out, faces = run(anon)
    ids = [sorted(f.track_id for f in fs) for fs in faces]
    assert all(i == [0, 1] for i in ids), ids  # two stable tracks, no holes
    within, between = [], []
    for t in range(N - 1):
        a_t, b_t = crops(out, t)
        a_n, b_n = crops(out, t + 1)
        within += [np.abs(a_t - a_n).mean(), np.abs(b_t - b_n).mean()]
        between.append(np.abs(a_t - b_t).mean())
    # the two originals are the same face: any difference between tracks is the new identities' doing
    assert np.mean(within) < 0.5 * np.mean(between), (np.mean(within), np.mean(between))


def test_same_seed_same_frames(anon):
    first, _ = run(anon)
    again, _ = run(Anonymizer(method="gan", seed=7))
    other, _ = run(Anonymizer(method="gan", seed=8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_same_seed_same_video_up_to_codec_noise(tmp_path: Path):
    """Through the CLI, the same seed gives the same video up to codec noise, another seed visibly other faces.

    Not byte-identical: libx264 through PyAV 18 encodes identical frames into different bytes within one process,
    depending on what ran before (seen even with one encoder thread; cause not found). The frames handed to the
    encoder are identical (test_same_seed_same_frames).
    """
    (tmp_path / "in").mkdir()
    clip = make_test_video(tmp_path / "in" / "clip.mp4", frame, n_frames=12, fps=Fraction(25), audio=1)

    def encode(out: str, seed: str) -> np.ndarray:
        res = CliRunner().invoke(app, ["anonymize", str(clip), "-o", str(tmp_path / out), "--seed", seed, "-q"])
        assert res.exit_code == 0, res.output
        with av.open(str(tmp_path / out / "clip.mp4")) as c:  # same relative name: seeds key on it
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.int16)

    first = encode("a", "7")
    same = np.abs(encode("b", "7") - first)
    other = np.abs(encode("c", "8") - first)
    assert same.mean() < 1.0 and np.percentile(same, 99.9) <= 25  # measured: 0.56 and 13
    assert other.mean() > 2 * same.mean() and np.percentile(other, 99.9) > 35  # measured: 1.8 and 53
