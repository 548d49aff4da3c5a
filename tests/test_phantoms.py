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
