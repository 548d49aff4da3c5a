"""Phantom faces: the rule that tells an invented face from one the original explains."""

from __future__ import annotations

import numpy as np

from deepanon.evaluate.phantoms import PHANTOM_SCORE, unexplained
from deepanon.evaluate.still import largest_faces


def test_a_face_only_on_the_output_is_a_phantom() -> None:
    out = np.array(
        [
            [10, 10, 60, 60, 1.2],  # on a ground-truth face: explained
            [200, 10, 250, 60, 0.9],  # nothing there on the original: a phantom
            [300, 10, 350, 60, PHANTOM_SCORE - 0.1],  # too weak to count
            [400, 10, 450, 60, 0.8],  # a weak detection on the original overlaps it (IoU 0.43)
        ],
        np.float32,
    )
    known = np.array([[12, 12, 58, 62], [420, 10, 470, 60]], np.float32)
    got = unexplained(out, known)
    assert got[:, :4].tolist() == [[200, 10, 250, 60]]
    assert len(unexplained(out, np.zeros((0, 4)))) == 3  # nothing known: every confident one
    assert len(unexplained(np.zeros((0, 5)), known)) == 0


def test_largest_faces_are_the_largest_boxes_of_the_set() -> None:
    gt = [np.array([[0, 0, 10, 10], [0, 0, 50, 40]], np.float32), np.array([[5, 5, 105, 105]], np.float32)]
    assert largest_faces(gt, 2) == [(1, 0), (0, 1)]
    assert largest_faces([np.zeros((0, 4), np.float32)], 3) == []


def test_largest_faces_report_sex_kept_and_age_difference() -> None:
    from deepanon.detect.attributes import Attributes
    from deepanon.evaluate.still import Reference, five_points, largest_numbers

    lm68 = np.zeros((68, 2), np.float32)
    lm68[36:42], lm68[42:48], lm68[30], lm68[48], lm68[54] = (30, 40), (70, 40), (50, 60), (35, 80), (65, 80)
    np.testing.assert_allclose(five_points(lm68), [[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]])
    gt = np.array([[0, 0, 100, 100], [200, 0, 260, 60]], np.float32)
    dets = np.array([[0, 0, 100, 100, 0.9], [200, 0, 260, 60, 0.8]], np.float32)
    ref = Reference([gt], [dets], [[]], [gt], [], [lm68, lm68])
    ref.largest = [(0, 0), (0, 1)]
    attributes = {
        0: (Attributes(0.1, 30.0), Attributes(0.2, 40.0)),  # still a woman, ten years older
        1: (Attributes(0.9, 50.0), Attributes(0.3, 50.0)),  # a man who became a woman
    }
    out = largest_numbers(ref, [dets], np.array([0.7, 0.8]), [(0, 0), (0, 1)], [lm68, lm68], attributes)
    assert out["faces"] == 2 and out["sex_kept"] == 0.5 and out["age_difference"] == 5.0
    assert "sex_kept" not in largest_numbers(ref, [dets], np.array([0.7, 0.8]), [(0, 0), (0, 1)], [lm68, lm68])
