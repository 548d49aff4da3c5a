"""Evaluation metrics on synthetic cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from deepanon.evaluate.ap import average_precision
from deepanon.evaluate.coverage import background_mask, background_score, changed_mask, changed_share, covered
from deepanon.evaluate.identity import (
    embedding_distances,
    identity_score,
    inter_ocular,
    landmark_shift,
    pose_shift,
)
from deepanon.evaluate.timing import StageTimer
from deepanon.evaluate.video_metrics import count_holes, identity_stability, link_tracks, track_sequences
from tests.faces import scene

BOX = np.array([[40.0, 60.0, 140.0, 180.0]])


@pytest.fixture
def image() -> np.ndarray:
    return scene(240, 320, [(40, 60, 0.5)])


def test_unchanged_image_has_no_coverage_and_full_background(image: np.ndarray) -> None:
    share = changed_share(changed_mask(image, image.copy()), BOX)
    assert share.tolist() == [0.0]
    assert not covered(share).any()
    bg = background_score(image, image.copy(), BOX)
    assert bg.mad == 0.0 and bg.kept == 1.0 and bg.pixels > 0


def test_blacked_out_face_is_covered_and_background_kept(image: np.ndarray) -> None:
    out = image.copy()
    out[60:180, 40:140] = 0
    share = changed_share(changed_mask(image, out), BOX)
    assert share[0] > 0.9  # the few pixels that were black already did not change
    assert covered(share).all()
    assert covered(changed_share(changed_mask(image, out), BOX)).mean() == 1.0
    assert background_score(image, out, BOX).mad == 0.0


def test_codec_noise_below_tolerance_is_not_a_change(image: np.ndarray) -> None:
    noisy = np.clip(image.astype(int) + 3, 0, 255).astype(np.uint8)
    assert changed_share(changed_mask(image, noisy, tol=4), BOX)[0] == 0.0


def test_background_excludes_grown_boxes() -> None:
    mask = background_mask((100, 100), np.array([[40, 40, 60, 60]]), grow=2.0)
    assert not mask[30:70, 30:70].any() and mask[:30].all() and mask[70:].all()
    assert mask.sum() == 100 * 100 - 40 * 40


def test_background_change_is_measured(image: np.ndarray) -> None:
    out = image.copy()
    out[:, 300:] = np.clip(out[:, 300:].astype(int) + 50, 0, 255)
    bg = background_score(image, out, BOX)
    assert 0 < bg.mad < 50 and bg.kept < 1.0


def test_ap_of_perfect_detections_is_one() -> None:
    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32), np.array([[5, 5, 25, 25]], np.float32)]
    dets = [np.hstack([g, np.full((len(g), 1), 0.9, np.float32)]) for g in gt]
    assert average_precision(gt, dets) == pytest.approx(1.0)


def test_ap_counts_misses_and_false_alarms() -> None:
    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)]
    # the best-scored detection is a false alarm, then one hit: precision 1/2 at recall 1/2
    dets = [np.array([[50, 50, 60, 60, 0.9], [0, 0, 10, 10, 0.8]], np.float32)]
    assert average_precision(gt, dets) == pytest.approx(0.25)
    assert average_precision(gt, [np.zeros((0, 5), np.float32)]) == 0.0
    assert np.isnan(average_precision([np.zeros((0, 4))], [np.zeros((0, 5))]))


def test_ap_ignores_faces_of_other_sizes() -> None:
    gt = [np.array([[0, 0, 10, 10], [20, 20, 120, 120]], np.float32)]  # a 10-px face and a 100-px face
    # the best-scored detection finds the ignored big face: neither a hit nor a false alarm; then the small one
    dets = [np.array([[20, 20, 120, 120, 0.9], [0, 0, 10, 10, 0.8], [50, 0, 60, 10, 0.7]], np.float32)]
    small_only = [np.array([False, True])]
    assert average_precision(gt, dets, ignore=small_only) == pytest.approx(1.0)
    assert average_precision(gt, dets) == pytest.approx(1.0)  # both found first, the false alarm comes last
    assert average_precision(gt, dets, ignore=[np.array([True, False])]) == pytest.approx(1.0)
    missed_small = [dets[0][[0, 2]]]  # the small face is not found: its AP is 0, the big one's 1
    assert average_precision(gt, missed_small, ignore=small_only) == 0.0
    assert average_precision(gt, missed_small, ignore=[np.array([True, False])]) == pytest.approx(1.0)
    assert np.isnan(average_precision(gt, dets, ignore=[np.array([True, True])]))


def test_ap_ratio_by_height_tells_sizes_apart() -> None:
    from deepanon.evaluate.still import ap_ratio_by_height

    gt = [np.array([[0, 0, 10, 10], [20, 20, 120, 120]], np.float32)]
    orig = [np.array([[20, 20, 120, 120, 0.9], [0, 0, 10, 10, 0.8]], np.float32)]
    anon = [orig[0][:1]]  # the big face is still found, the small one no longer
    r = ap_ratio_by_height(gt, orig, anon, min_faces=1)
    assert r[">=64"] == pytest.approx(1.0) and r["<16"] == 0.0 and np.isnan(r["16-31"])
    assert all(np.isnan(v) for v in ap_ratio_by_height(gt, orig, anon).values())  # one face per class: too few


def test_identical_embeddings_have_distance_zero() -> None:
    e = np.random.default_rng(0).normal(size=(5, 128))
    d = embedding_distances(e, e.copy())
    assert np.allclose(d, 0)
    s = identity_score(d)
    assert s.faces == 5 and s.still_same == 1.0 and s.mean_distance == 0.0
    assert identity_score(np.array([0.7, 0.9])).still_same == 0.0


def test_frechet_of_identical_sets_is_zero_and_grows_with_shift() -> None:
    pytest.importorskip("scipy")
    from deepanon.evaluate.identity import frechet_distance

    e = np.random.default_rng(1).normal(size=(200, 8))
    assert frechet_distance(e, e.copy()) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(e, e + 1.0) == pytest.approx(8.0, rel=1e-3)  # ||mu||^2 with equal covariances


def test_landmark_shift_is_in_eye_distances() -> None:
    pts = np.zeros((68, 2))
    pts[36:42] = (0, 0)
    pts[42:48] = (40, 0)
    assert inter_ocular(pts) == 40
    assert landmark_shift(pts, pts + (4, 0)) == pytest.approx(0.1)


def test_pose_shift_reads_the_five_kept_points_not_the_jaw() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (68, 2))
    pts[36:42], pts[42:48] = (30, 40), (70, 40)  # eye distance 40
    jaw = pts.copy()
    jaw[0:17] += (8, 0)  # a new face with another chin: the pose is the same
    assert pose_shift(pts, jaw) == 0.0 and landmark_shift(pts, jaw) > 0.04
    nose = pts.copy()
    nose[30] += (0, 10)  # the nose tip moved by a quarter eye distance: 1 of the 5 points
    assert pose_shift(pts, nose) == pytest.approx(0.25 / 5)
    assert pose_shift(pts, pts + (4, 0)) == pytest.approx(0.1)  # all moved: as landmark_shift


def test_holes_on_a_synthetic_coverage_sequence() -> None:
    T, F = True, False
    assert count_holes([T, F, T, T, F, T]) == 2
    assert count_holes([T, F, F, T]) == 0  # two misses in a row: a gap, not a one-frame hole
    assert count_holes([None, F, T, F, None]) == 0  # absent neighbours do not count
    assert count_holes([F, T, F]) == 0


def test_tracks_link_boxes_across_frames_and_holes_follow_them() -> None:
    a, b = [0, 0, 20, 20], [100, 100, 130, 130]
    boxes = [np.array([a, b]), np.array([b, [1, 1, 21, 21]]), np.array([[2, 2, 22, 22]]), np.array([a, b])]
    ids = link_tracks(boxes)
    assert ids[0].tolist() == [0, 1] and ids[1].tolist() == [1, 0] and ids[2].tolist() == [0]
    assert ids[3].tolist() == [0, 1]  # b comes back after a one-frame gap
    cov = [np.array([T, T]) for T in (True,)] + [np.array([True, False]), np.array([True]), np.array([True, True])]
    seqs = track_sequences(ids, cov)
    assert seqs[0] == [True, False, True, True] and seqs[1] == [True, True, None, True]
    assert sum(count_holes(s) for s in seqs.values()) == 1


def test_identity_stability_separates_tracks() -> None:
    e = np.array([[0.0, 0], [0.1, 0], [5, 0], [5.1, 0]])
    s = identity_stability(e, np.array([0, 0, 1, 1]))
    assert s.within == pytest.approx(0.1) and s.between > 4.8 and s.pairs_within == 2 and s.pairs_between == 4


def test_stage_timer_adds_up() -> None:
    t = StageTimer()
    t.add("detect", 1.0)
    with t.stage("encode"):
        pass
    t.add("detect", 1.0)
    assert t.seconds["detect"] == 2.0 and t.per_item_ms(4)["detect"] == 500.0 and t.total >= 2.0


def test_box_change_counts_only_inside_the_boxes() -> None:
    from deepanon.evaluate.video_metrics import box_change

    prev = np.zeros((20, 30, 3), np.uint8)
    cur = prev.copy()
    cur[:, 20:] = 50  # change outside the box
    cur[2:4, 2:7] = 10  # change inside
    total, count = box_change(prev, cur, np.array([[0, 0, 10, 10], [-5, -5, -1, -1]], np.float32))
    assert count == 10 * 10 * 3  # the off-frame box adds nothing
    assert total == 2 * 5 * 3 * 10


def test_evaluation_runs_deepanon_with_the_settings_it_is_given() -> None:
    from deepanon.config import AnonymizerConfig, PaintConfig
    from deepanon.evaluate.peers import build_peers

    config = AnonymizerConfig(method="gan", paint=PaintConfig(rest_cells=8.0))
    peer = build_peers(["blur"], "cpu", 3, 1.6, config).peers[0]
    c = peer.anon.config
    assert c.paint.rest_cells == 8.0  # from the tree
    assert (c.method, c.seed, c.painter.mask_scale) == ("blur", 3, 1.6)  # the options' own fields win


def test_a_peer_refuses_frames_left_unsearched_where_every_frame_must_be() -> None:
    from deepanon.evaluate.peers import _all_searched
    from deepanon.types import Face

    face = Face((0.0, 0.0, 10.0, 10.0), 0.9)
    assert _all_searched([[face], []]) == [[face], []]
    with pytest.raises(ValueError, match="without its faces"):
        _all_searched([[face], None])
