"""GanPainter: faces replaced in one batch, everything outside the face regions bit-identical."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepanon.anonymize.gan import MIN_GAN_FACE, GanPainter, composite
from deepanon.gan.config import NetConfig
from deepanon.gan.networks import Generator
from deepanon.geometry.align import TEMPLATE
from deepanon.geometry.masks import DEFAULT_MASK_SCALE, face_region
from deepanon.types import Face

TINY = NetConfig(resolution=16, z_dim=8, w_dim=8, map_layers=1, g_cbase=64, g_cmax=16, d_cbase=64, d_cmax=16)


def face_at(cx: float, cy: float, size: float, landmarks: bool = True) -> Face:
    lm = ((TEMPLATE - 0.5) * size * 2.2 + np.array([cx, cy])).astype(np.float32)
    box = (cx - size / 2, cy - size * 0.45, cx + size / 2, cy + size * 0.6)
    return Face(box, 0.99, lm if landmarks else None)


@pytest.fixture(scope="module")
def painter() -> GanPainter:
    import torch

    torch.manual_seed(0)
    return GanPainter(generator=Generator(TINY), device="cpu")


@pytest.fixture
def frame() -> np.ndarray:
    rng = np.random.default_rng(1)
    return cv2.GaussianBlur(rng.integers(0, 255, (160, 240, 3), dtype=np.uint8), (0, 0), 2)


def changed_outside(before: np.ndarray, after: np.ndarray, faces: list[Face]) -> int:
    allowed = np.zeros(before.shape[:2], bool)
    for f in faces:
        r = face_region(f, before.shape)
        allowed[r.slices] |= r.alpha > 0
    return int((before != after).any(axis=2)[~allowed].sum())


def test_outside_pixels_bit_identical_and_faces_changed(painter: GanPainter, frame: np.ndarray) -> None:
    faces = [face_at(60, 70, 50), face_at(170, 80, 40), face_at(220, 150, 8)]  # the last one is too small
    assert max(faces[2].width, faces[2].height) < MIN_GAN_FACE
    spent = painter.generate_seconds
    out = painter.paint([frame], [faces], [[1, 2, 3]])[0]
    assert painter.generate_seconds > spent  # the network's time is counted (evaluate's stage timing)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert changed_outside(frame, out, faces) == 0
    for f in faces:
        r = face_region(f, frame.shape)
        inside = r.alpha >= 1
        assert (out[r.slices][inside] != frame[r.slices][inside]).any(axis=1).mean() > 0.5
    assert out is not frame


def test_seed_defines_identity(painter: GanPainter, frame: np.ndarray) -> None:
    f = [face_at(100, 80, 60)]
    a = painter.paint_one(frame, f, [7])
    b = painter.paint_one(frame, f, [7])
    c = painter.paint_one(frame, f, [8])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_truncation_pulls_identities_to_the_average(frame: np.ndarray) -> None:
    G = Generator(TINY)
    f = [face_at(100, 80, 60)]
    average = GanPainter(generator=G, device="cpu", truncation=0.0)  # psi 0: every seed gets the average face
    assert np.array_equal(average.paint_one(frame, f, [7]), average.paint_one(frame, f, [8]))
    full = GanPainter(generator=G, device="cpu", truncation=1.0)
    assert full.w_avg is None and not np.array_equal(full.paint_one(frame, f, [7]), full.paint_one(frame, f, [8]))


def test_batch_of_frames_matches_one_by_one(painter: GanPainter, frame: np.ndarray) -> None:
    frames = [frame, frame[::-1].copy()]
    faces = [[face_at(60, 70, 50)], [face_at(150, 90, 45), face_at(60, 60, 30)]]
    seeds = [[1], [2, 3]]
    # sharpening (enlarged faces) multiplies bf16's batch-size rounding (1 grey level) by up to ~5: compare without
    sharpen, painter.sharpen = painter.sharpen, 0.0
    try:
        together = painter.paint(frames, faces, seeds)
        for fr, fs, sd, t in zip(frames, faces, seeds, together, strict=True):
            np.testing.assert_allclose(painter.paint_one(fr, fs, sd).astype(int), t.astype(int), atol=1)
    finally:
        painter.sharpen = sharpen


def test_faces_without_landmarks_are_pixelated(painter: GanPainter, frame: np.ndarray) -> None:
    f = face_at(100, 80, 60, landmarks=False)
    before = frame.copy()
    out = painter.paint_one(frame, [f])
    assert np.array_equal(frame, before), "the input is never modified"
    assert changed_outside(frame, out, [f]) == 0
    assert not np.array_equal(out, frame)


def test_face_at_the_frame_edge(painter: GanPainter, frame: np.ndarray) -> None:
    faces = [face_at(10, 150, 50), face_at(235, 5, 40)]  # partly outside the frame
    out = painter.paint_one(frame, faces, [1, 2])
    assert changed_outside(frame, out, faces) == 0
    r = face_region(faces[0], frame.shape)
    assert (out[r.slices][r.alpha >= 1] != frame[r.slices][r.alpha >= 1]).any(axis=1).mean() > 0.5


def test_generation_matches_the_plain_generator() -> None:
    """The painter's memory layout (channels-last) is an implementation detail: same numbers as a plain forward."""
    import copy

    import torch

    torch.manual_seed(3)
    G = Generator(TINY).eval()
    plain = copy.deepcopy(G)
    p = GanPainter(generator=G, device="cpu", truncation=1.0, colour_match=False, bf16=False)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    masks = np.zeros((3, 16, 16), np.float32)
    masks[:, 4:12, 4:12] = 1
    lms = rng.random((3, 5, 16, 16), dtype=np.float32)
    z = torch.randn(3, TINY.z_dim)
    got = p.generate(crops, masks, lms, z)
    with torch.no_grad():
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1
        ref = plain(x, torch.from_numpy(masks)[:, None], torch.from_numpy(lms), z, raw=True)
    ref = ((ref.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-2)
    bf16 = GanPainter(generator=G, device="cpu", truncation=1.0, colour_match=False, bf16=True)
    fast = bf16.generate(crops, masks, lms, z)  # bf16 autocast (CPUs with native bf16): close, not equal
    assert 0 < np.abs(fast - ref).mean() < 3.0


def test_bf16_is_used_where_the_cpu_computes_it(monkeypatch) -> None:
    from deepanon.anonymize import gan

    for native in (False, True):
        monkeypatch.setattr(gan, "cpu_has_native_bf16", lambda native=native: native)
        assert GanPainter(generator=Generator(TINY), device="cpu").bf16 is native
    assert GanPainter(generator=Generator(TINY), device="cpu", bf16=False).bf16 is False


def test_paint_history_blends_consecutive_frames_of_a_track() -> None:
    from deepanon.anonymize.temporal import PaintHistory

    h = PaintHistory(new_weight=0.5)
    a, b = np.zeros((2, 2, 3), np.float32), np.full((2, 2, 3), 100.0, np.float32)
    assert h.smooth(0, 7, a) is a  # first sight of track 7
    np.testing.assert_array_equal(h.smooth(1, 7, b), 50.0)  # the frame after: averaged
    assert h.smooth(1, None, b) is b  # no track (a still image): untouched
    assert h.smooth(3, 7, b) is b  # a gap of a frame: starts afresh
    h.end_frames(4)  # frames 0-3 done; track 7 was painted in frame 3, track 9 never
    np.testing.assert_array_equal(h.smooth(4, 7, a), 50.0)
    h.end_frames(2)  # frame 5 had no track 7: forgotten
    assert h.smooth(6, 7, b) is b
    for bad in (0.0, 1.5):  # 0 would freeze the first face forever; > 1 extrapolates
        with pytest.raises(ValueError, match="new_weight"):
            PaintHistory(new_weight=bad)


def test_history_steadies_a_track_across_calls(painter: GanPainter, frame: np.ndarray) -> None:
    """Two consecutive frames of one track with different z: with a history the second lies between the two."""
    from dataclasses import replace

    from deepanon.anonymize.temporal import PaintHistory

    f = replace(face_at(100, 80, 60), track_id=0)
    first, second = painter.paint_one(frame, [f], [1]), painter.paint_one(frame, [f], [2])
    h = PaintHistory(new_weight=0.5)
    assert np.array_equal(painter.paint([frame], [[f]], [[1]], h)[0], first)  # nothing to blend with yet
    steadied = painter.paint([frame], [[f]], [[2]], h)[0].astype(float)
    apart = np.abs(first.astype(float) - second).mean()
    assert apart > 1
    assert np.abs(steadied - first).mean() < 0.75 * apart and np.abs(steadied - second).mean() < 0.75 * apart
    # Both frames in one call give the same as one call each (without sharpening: see the batch test).
    sharpen, painter.sharpen = painter.sharpen, 0.0
    try:
        h = PaintHistory(new_weight=0.5)
        painter.paint([frame], [[f]], [[1]], h)
        steadied = painter.paint([frame], [[f]], [[2]], h)[0]
        together = painter.paint([frame, frame], [[f], [f]], [[1], [2]], PaintHistory(new_weight=0.5))
        np.testing.assert_allclose(together[1].astype(int), steadied.astype(int), atol=1)
    finally:
        painter.sharpen = sharpen


def test_smooth_chroma_keeps_brightness_and_calms_colour_noise() -> None:
    from deepanon.anonymize.gan import smooth_chroma

    rng = np.random.default_rng(0)
    rgb = rng.uniform(40, 215, (64, 64, 3)).astype(np.float32)
    assert smooth_chroma(rgb, 0.0) is rgb
    out = smooth_chroma(rgb, 3.0)
    luma = lambda a: cv2.cvtColor(a.astype(np.float32), cv2.COLOR_RGB2YCrCb)  # noqa: E731
    np.testing.assert_allclose(luma(out)[..., 0], luma(rgb)[..., 0], atol=0.02)
    assert luma(out)[..., 1:].std() < 0.3 * luma(rgb)[..., 1:].std()


def test_generator_mask_and_zoom_use_the_painters_feather(frame, monkeypatch):
    """The mask the generator sees and the crop's zoom follow the feather the painter blends with."""
    import torch

    from deepanon.geometry.align import alignment_matrix, face_crop_mask

    torch.manual_seed(0)
    face = face_at(120, 80, 60)
    seen = {}

    def fake_generate(crops, masks, lms, z, w_offset=None):
        seen[len(seen)] = masks
        return crops.astype(np.float32)

    for feather in (0.15, 0.4):
        p = GanPainter(generator=Generator(TINY), device="cpu", feather=feather)
        monkeypatch.setattr(p, "generate", fake_generate)
        p.paint([frame], [[face]], [[1]])
        M = alignment_matrix(face, TINY.resolution, p.mask_scale, feather)
        want = face_crop_mask(face, M, TINY.resolution, p.mask_scale, frame.shape[:2], feather)
        np.testing.assert_allclose(seen[len(seen) - 1][0], want, atol=1e-6)
    assert not np.allclose(seen[0], seen[1])  # the wider rim reaches further out


def test_painter_warns_when_it_leaves_the_trained_geometry_and_refuses_another_alignment(caplog):
    import logging

    from deepanon.gan.weights import WeightsError, load_card
    from deepanon.geometry.align import repaint_geometry

    card = {"repaint": repaint_geometry(DEFAULT_MASK_SCALE, 0.15)}
    with caplog.at_level(logging.WARNING):
        GanPainter(generator=Generator(TINY), card=card, device="cpu")
    assert not caplog.records  # the trained settings: nothing to say
    other_scale = DEFAULT_MASK_SCALE + 0.5
    with caplog.at_level(logging.WARNING):
        GanPainter(generator=Generator(TINY), card=card, device="cpu", mask_scale=other_scale)
    message = f"mask_scale {other_scale:g} (trained: {DEFAULT_MASK_SCALE:g})"
    assert len(caplog.records) == 1 and message in caplog.records[0].getMessage()
    other = {"repaint": {**card["repaint"], "template_shrink": 0.6}}
    with pytest.raises(WeightsError, match="template_shrink"):
        GanPainter(generator=Generator(TINY), card=other, device="cpu")
    assert load_card()["repaint"] == repaint_geometry()  # the shipped weights: the defaults' geometry


def test_rim_offset_closes_the_seam_and_stays_smooth() -> None:
    from deepanon.anonymize.gan import rim_offset

    R = 64
    yy, xx = np.mgrid[0:R, 0:R]
    r = np.hypot(xx - R / 2, yy - R / 2) / (R / 3)
    mask = np.clip((1.15 - r) / 0.15, 0, 1).astype(np.float32)  # 1 inside, a rim, 0 outside
    original = np.dstack([40 + 100 * xx / R] * 3).astype(np.float32)  # light from the right
    painted = np.full((R, R, 3), 90.0, np.float32)  # the right mean, the wrong gradient: a halo on both sides
    fixed = painted + rim_offset(painted, original, mask, sigma=8.0)
    rim = (mask > 0) & (mask < 1)
    assert np.abs(fixed - original)[rim].mean() < 0.5 * np.abs(painted - original)[rim].mean()
    # colour and light only: no detail comes in (the field is as smooth as its Gaussian)
    inside = (mask[:, 1:] == 1) & (mask[:, :-1] == 1)
    step = np.abs(np.diff(original[:, :, 0], axis=1)).max()  # the light's own change per px
    assert np.abs(np.diff(fixed[:, :, 0], axis=1))[inside].max() < 3 * step


def test_sharpen_luma_keeps_colour_and_flat_areas() -> None:
    from deepanon.anonymize.gan import sharpen_luma

    flat = np.full((20, 20, 3), (120, 80, 60), np.uint8)
    assert np.abs(sharpen_luma(flat, 1.0).astype(int) - flat).max() <= 1
    edge = flat.copy()
    edge[:, 10:] = (200, 160, 140)
    out = sharpen_luma(edge, 1.0)
    assert np.ptp(out[10, :, 1].astype(int)) > np.ptp(edge[10, :, 1].astype(int))  # the step is steeper


def test_a_black_and_white_photo_gets_a_grey_face(painter: GanPainter, frame: np.ndarray) -> None:
    grey = np.repeat(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    out = painter.paint_one(grey, [face_at(100, 80, 60)], [1]).astype(int)
    assert (out != grey).any()
    assert np.abs(out - out.mean(axis=2, keepdims=True)).max() <= 1  # no colour painted in
    colour = painter.paint_one(frame, [face_at(100, 80, 60)], [1]).astype(int)
    assert np.abs(colour - colour.mean(axis=2, keepdims=True)).max() > 10


# --- large faces: the candidate of the same apparent sex and age ----------------------------------------------------


class FakeAttributes:
    """Attributes by call order: per face the original first, then one per candidate (as GanPainter._choose asks,
    every choosing face in one call)."""

    def __init__(self, answers: list[tuple[float, float]]) -> None:
        self.answers, self.calls = answers, 0

    def estimate_aligned(self, crops):
        from deepanon.detect.attributes import Attributes

        self.calls += 1
        assert len(crops) == len(self.answers)
        return [Attributes(m, a) for m, a in self.answers]


def test_candidate_seeds() -> None:
    from deepanon.anonymize.gan import candidate_seed

    assert candidate_seed(12345, 0) == 12345  # one candidate paints as without the choice
    seeds = {candidate_seed(12345, k) for k in range(8)}
    assert len(seeds) == 8 and all(0 <= s < 2**63 for s in seeds)
    assert candidate_seed(12345, 3) == candidate_seed(12345, 3) != candidate_seed(12346, 3)


def test_a_large_face_gets_the_candidate_nearest_the_originals_sex_and_age(frame: np.ndarray) -> None:
    from deepanon.anonymize.gan import candidate_seed

    G = Generator(TINY)
    chooser = GanPainter(generator=G, device="cpu", candidates=4, candidates_min_face=40, bf16=False)
    # original: a woman of 30; candidates: a man of 30, a woman of 60, a woman of 32, a man of 31
    chooser.attributes = FakeAttributes([(0.05, 30), (0.9, 30), (0.1, 60), (0.1, 32), (0.8, 31)])
    big, small = face_at(100, 80, 60), face_at(200, 60, 30)
    out = chooser.paint([frame], [[big, small]], [[5, 6]])[0]
    assert chooser.attributes.calls == 1  # only the large face had a choice
    plain = GanPainter(generator=G, device="cpu", candidates=1, bf16=False)
    expected = plain.paint([frame], [[big, small]], [[candidate_seed(5, 2), 6]])[0]
    np.testing.assert_allclose(out.astype(int), expected.astype(int), atol=1)


def test_large_faces_are_chosen_in_one_pass_each_by_its_own_original(frame: np.ndarray) -> None:
    from deepanon.anonymize.gan import candidate_seed

    G = Generator(TINY)
    chooser = GanPainter(generator=G, device="cpu", candidates=2, candidates_min_face=40, bf16=False)
    # first face: a woman of 30 (a man, a woman); second: a man of 50 (a man of 52, a woman of 50)
    chooser.attributes = FakeAttributes([(0.1, 30), (0.9, 30), (0.1, 31), (0.9, 50), (0.9, 52), (0.1, 50)])
    a, b = face_at(70, 80, 60), face_at(190, 80, 60)
    out = chooser.paint([frame], [[a, b]], [[5, 6]])[0]
    assert chooser.attributes.calls == 1
    plain = GanPainter(generator=G, device="cpu", candidates=1, bf16=False)
    expected = plain.paint([frame], [[a, b]], [[candidate_seed(5, 1), candidate_seed(6, 0)]])[0]
    np.testing.assert_allclose(out.astype(int), expected.astype(int), atol=1)


def test_a_track_keeps_its_candidate_for_the_whole_video(frame: np.ndarray) -> None:
    import dataclasses

    from deepanon.anonymize.gan import candidate_seed
    from deepanon.anonymize.temporal import PaintHistory

    G = Generator(TINY)
    chooser = GanPainter(generator=G, device="cpu", candidates=4, candidates_min_face=40, chroma_sigma=0, bf16=False)
    chooser.attributes = FakeAttributes([(0.9, 50), (0.1, 20), (0.1, 20), (0.2, 20), (0.9, 48)])
    face = dataclasses.replace(face_at(100, 80, 60), track_id=3)
    history = PaintHistory(new_weight=1.0)
    chooser.paint([frame], [[face]], [[9]], history)
    assert history.candidates == {3: (3, None)} and chooser.attributes.calls == 1
    # later frames: the chosen candidate's seed alone, no new choice (one identity per track)
    later = chooser.paint([frame], [[face]], [[9]], history)[0]
    assert chooser.attributes.calls == 1
    plain = GanPainter(generator=G, device="cpu", candidates=1, chroma_sigma=0, bf16=False)
    np.testing.assert_allclose(
        later.astype(int), plain.paint_one(frame, [face], [candidate_seed(9, 3)]).astype(int), atol=1
    )


def test_with_directions_each_draw_is_moved_to_the_originals_sex_and_age(frame: np.ndarray) -> None:
    """Directions in w (gan/directions.py): 4 candidates become 2 draws, each painted again moved by what it missed
    of the original's apparent sex and age; the nearer moved one is kept, and a track keeps its move."""
    import dataclasses

    from deepanon.anonymize.temporal import PaintHistory
    from deepanon.gan.directions import AttributeSteer

    G = Generator(TINY)
    steer = AttributeSteer(sex=np.eye(TINY.w_dim)[0] * 2, age=np.eye(TINY.w_dim)[1] * 0.1)
    chooser = GanPainter(
        generator=G,
        device="cpu",
        candidates=4,
        candidates_min_face=40,
        steer=steer,
        attribute_move=1.0,
        bf16=False,
        chroma_sigma=0,
    )
    assert GanPainter(generator=G, device="cpu", candidates=4, steer=steer).steer is None  # default: plain draws

    class TwoRounds(FakeAttributes):
        def estimate_aligned(self, crops):
            from deepanon.detect.attributes import Attributes

            self.calls += 1
            assert len(crops) == 3  # the original and 2 draws, then the original and the 2 moved draws
            rounds = [[(0.1, 30), (0.9, 50), (0.5, 28)], [(0.1, 30), (0.3, 40), (0.12, 31)]]
            return [Attributes(m, a) for m, a in rounds[self.calls - 1]]

    chooser.attributes = TwoRounds([])
    face = dataclasses.replace(face_at(100, 80, 60), track_id=4)
    history = PaintHistory(new_weight=1.0)
    out = chooser.paint([frame], [[face]], [[9]], history)[0]
    assert chooser.attributes.calls == 2
    k, offset = history.candidates[4]
    assert k == 1  # the second draw, once moved, is the nearer (0.12, 31 against 0.3, 40)
    np.testing.assert_allclose(offset, steer.offset((0.5, 28), (0.1, 30)), rtol=1e-5)
    assert offset[0] < 0 < offset[1]  # towards a woman (less male), two years older
    unmoved = GanPainter(generator=G, device="cpu", candidates=1, bf16=False, chroma_sigma=0)
    assert not np.array_equal(out, unmoved.paint_one(frame, [face], [candidate_seed_of(9, 1)]))
    # a later frame of the track: the same seed and move, no new choice
    again = chooser.paint([frame], [[face]], [[9]], history)[0]
    assert chooser.attributes.calls == 2
    np.testing.assert_allclose(again.astype(int), out.astype(int), atol=1)


def candidate_seed_of(seed: int, k: int) -> int:
    from deepanon.anonymize.gan import candidate_seed

    return candidate_seed(seed, k)


def test_directions_belong_to_one_generator_and_truncation(tmp_path) -> None:
    from deepanon.gan.directions import AttributeSteer

    steer = AttributeSteer(sex=np.ones(4, np.float32), age=np.arange(4, dtype=np.float32))
    path = tmp_path / "d.json"
    path.write_text(steer.to_json("abc", 0.7, {"faces": 3}))
    loaded = AttributeSteer.for_generator({"sha256": "abc"}, 0.7, path)
    assert loaded is not None and np.allclose(loaded.age, steer.age)
    assert AttributeSteer.for_generator({"sha256": "other"}, 0.7, path) is None
    assert AttributeSteer.for_generator({"sha256": "abc"}, 1.0, path) is None
    assert AttributeSteer.for_generator(None, 0.7, path) is None
    # the move reaches the target where the directions act linearly
    move = steer.offset((0.5, 30.0), (0.9, 25.0))
    from deepanon.gan.directions import logit

    np.testing.assert_allclose([move @ steer.sex, move @ steer.age], [logit(0.9) - logit(0.5), -5.0], rtol=1e-5)


def test_composite_is_the_raw_crop_inside_the_mask_and_the_original_outside() -> None:
    original = np.full((4, 4, 3), 10, np.uint8)
    raw = np.full((4, 4, 3), 300.0, np.float32)  # out of range: clipped
    mask = np.zeros((4, 4), np.float32)
    mask[:2] = 1.0
    mask[2, 0] = 0.5
    out = composite(raw, original, mask)
    assert out.dtype == np.uint8
    assert (out[:2] == 255).all() and (out[3] == 10).all() and (out[2, 1:] == 10).all()
    assert (out[2, 0] == 155).all()
