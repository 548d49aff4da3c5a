"""A painted face only where there is a face: the per-detection decision, the track's treatment, the counts."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from skimage import data

from deepanon.anonymize.decide import (
    LANDMARKS,
    LOW_SCORE,
    NO_LANDMARKS,
    PAINTED,
    SECOND_OPINION,
    SMALL,
    Votes,
    decide,
    landmarks_plausible,
)
from deepanon.anonymize.files import count_treatments
from deepanon.anonymize.filters import apply_filter
from deepanon.config import ConfigError, PaintConfig
from deepanon.types import Face
from tests.imports import imported_while_anonymizing

# the 5 points of an upright face, as shares of its box (eyes, nose, mouth corners)
UPRIGHT = np.array([[0.3, 0.38], [0.7, 0.38], [0.5, 0.58], [0.35, 0.78], [0.65, 0.78]], np.float32)


def face_at(x0: float, y0: float, side: float, score: float = 0.9, points: np.ndarray = UPRIGHT) -> Face:
    return Face((x0, y0, x0 + side, y0 + side), score, (points * side + np.array([x0, y0])).astype(np.float32))


def test_landmarks_must_fit_the_box() -> None:
    assert landmarks_plausible(face_at(10, 10, 100))
    upside_down = UPRIGHT.copy()
    upside_down[:, 1] = 1.0 - upside_down[:, 1]
    assert not landmarks_plausible(face_at(10, 10, 100, points=upside_down))
    assert not landmarks_plausible(face_at(10, 10, 100, points=UPRIGHT + np.array([0.0, 0.9], np.float32)))
    one_eye = UPRIGHT.copy()
    one_eye[1] = one_eye[0]
    assert not landmarks_plausible(face_at(10, 10, 100, points=one_eye))
    assert not landmarks_plausible(Face((0, 0, 50, 50), 0.9))


def test_decide_gives_a_reason_for_every_filtered_detection() -> None:
    cfg = PaintConfig(paint_threshold=0.9, check_landmarks=True)
    assert decide(face_at(0, 0, 100), 0.95, cfg) == PAINTED
    assert decide(face_at(0, 0, 100), 0.5, cfg) == SECOND_OPINION
    assert decide(face_at(0, 0, 8), 1.0, cfg) == SMALL
    assert decide(Face((0, 0, 100, 100), 0.99), 1.0, cfg) == NO_LANDMARKS
    flipped = UPRIGHT[[3, 4, 2, 0, 1]]
    assert decide(face_at(0, 0, 100, points=flipped), 1.0, cfg) == LANDMARKS
    # O-Net sure, the detector not: a knee or a hand (PaintConfig says where 0.4 comes from)
    assert decide(face_at(0, 0, 100, score=0.3), 1.0, cfg) == LOW_SCORE
    assert decide(face_at(0, 0, 100, score=0.4), 1.0, cfg) == PAINTED
    everything = PaintConfig(paint_threshold=0.0, min_paint_score=0.0)
    assert decide(face_at(0, 0, 100, score=0.05), 0.0, everything) == PAINTED  # both 0: paint everything
    with pytest.raises(ConfigError):
        PaintConfig(min_paint_score=1.5)


def test_a_track_is_painted_when_most_of_its_frames_say_so() -> None:
    one_in_three = Votes((SECOND_OPINION, PAINTED, SECOND_OPINION))
    assert one_in_three.verdict(0.5) == SECOND_OPINION  # one confident frame of three does not paint a wall
    assert one_in_three.verdict(0.0) == PAINTED  # 0: any one frame (the old way)
    assert one_in_three.plus(Votes((PAINTED, PAINTED))).verdict(0.5) == PAINTED  # 3 of 5
    assert Votes((PAINTED, SECOND_OPINION)).verdict(0.5) == SECOND_OPINION  # a tie is not a majority
    assert Votes((SMALL, SMALL, SECOND_OPINION)).verdict(0.5) == SMALL  # the reason most frames gave
    assert Votes().verdict(0.0) == SECOND_OPINION  # nothing spoke for a face
    with pytest.raises(ConfigError):
        PaintConfig(track_paint_share=1.0)  # no track could ever be painted
    for bad in ({"rest_cells": 0.0}, {"rest_grow": 0.9}):  # no filter at all / a region smaller than the painter's
        with pytest.raises(ConfigError):
            PaintConfig(**bad)


def test_treatments_are_counted() -> None:
    faces = [Face((0, 0, 1, 1), 1, treatment=t) for t in (PAINTED, PAINTED, SMALL, SECOND_OPINION)]
    assert count_treatments(faces) == {PAINTED: 2, SMALL: 1, SECOND_OPINION: 1}
    assert count_treatments(faces[:1], {PAINTED: 3, SMALL: 1}) == {PAINTED: 4, SMALL: 1}
    assert count_treatments([Face((0, 0, 1, 1), 1)]) == {}


def test_summary_line_counts_painted_and_filtered() -> None:
    from deepanon.batch import Summary
    from deepanon.cli import _summary_line

    s = Summary(done=2, face_count=5, treatments={PAINTED: 3, SECOND_OPINION: 1, SMALL: 1})
    line = _summary_line(s, 0, "gan", "cpu")
    assert "3 painted, 2 filtered: second-opinion 1, small 1" in line
    assert "painted" not in _summary_line(Summary(done=1, face_count=1), 0, "blur", "cpu")


def test_track_choice_is_fixed_once_read() -> None:
    from deepanon.track import TrackChoices

    choices: TrackChoices[Votes] = TrackChoices(Votes.plus)
    choices.observe(1, Votes((SECOND_OPINION,)))
    choices.observe(1, Votes((PAINTED,)))
    choices.observe(2, Votes((SECOND_OPINION,)))
    assert choices.choice(1) == Votes((SECOND_OPINION, PAINTED))
    assert choices.choice(2) == Votes((SECOND_OPINION,))
    assert not choices.open(2)
    choices.observe(2, Votes((PAINTED,)))  # too late: the track has been shown with its filter
    assert choices.choice(2) == Votes((SECOND_OPINION,))
    assert choices.choice(3) is None
    assert choices.fixed() == {1: Votes((SECOND_OPINION, PAINTED)), 2: Votes((SECOND_OPINION,))}


# --- the real pipeline: a face among face-like clutter -------------------------------------------------------------


def clutter_scene() -> tuple[np.ndarray, Face, list[Face]]:
    """A brick wall with a cat's head on it and the astronaut's head beside (scikit-image's public-domain images),
    the astronaut's face box (MTCNN-like, with landmarks) and two false alarms as a low-threshold detector reports
    them: on the cat's face and on the bricks, each with landmarks that fit its box and a score high enough to
    leave the verdict to the second opinion."""
    brick = cv2.cvtColor(data.brick(), cv2.COLOR_GRAY2RGB)
    img = np.tile(brick, (2, 2, 1))[:540, :960].copy()
    img[100:300, 40:270] = data.chelsea()[30:230, 100:330]
    img[150:390, 650:860] = data.astronaut()[20:260, 120:330]
    cat = face_at(95, 140, 110, score=0.45)
    wall = face_at(400, 300, 90, score=0.42)
    return img, cat, [cat, wall]


@pytest.fixture(scope="module")
def anon():
    from deepanon.anonymize.pipeline import Anonymizer

    return Anonymizer(method="gan", device="cpu", seed=0, detector="mtcnn")


@pytest.fixture(scope="module")
def scene_faces(anon) -> tuple[np.ndarray, Face, list[Face]]:
    img, _, clutter = clutter_scene()
    found = anon.detect([img])[0]
    assert len(found) == 1, "the scene has one real face"
    return img, found[0], clutter


def test_only_the_face_is_painted_and_the_clutter_is_still_changed(anon, scene_faces) -> None:
    img, face, clutter = scene_faces
    treated = anon.treat([img], [[face, *clutter]])[0]
    assert [f.treatment for f in treated] == [PAINTED, SECOND_OPINION, SECOND_OPINION]
    seeds = anon.face_seeds("scene", treated)
    out = anon.replace_faces([img], [treated], [seeds])[0]
    x0, y0, x1, y1 = (int(v) for v in face.box)
    # the face got a new face: not the filter's output there
    blurred = apply_filter(img, [face], "blur", anon.config.painter.mask_scale, anon.config.painter.feather)
    assert np.abs(out[y0:y1, x0:x1].astype(int) - blurred[y0:y1, x0:x1]).mean() > 8
    for c in clutter:
        cx0, cy0, cx1, cy1 = (int(v) for v in c.box)
        region = (slice(cy0, cy1), slice(cx0, cx1))
        # still anonymized (privacy first) ...
        assert np.abs(out[region].astype(int) - img[region]).max(axis=-1).mean() > 4
        # ... by the filter alone: exactly what blurring the detection gives, nothing invented
        rest, painter = anon.config.paint, anon.config.painter
        alone = apply_filter(img, [c], rest.rest, painter.mask_scale * rest.rest_grow, painter.feather, rest.rest_cells)
        assert np.array_equal(out[region], alone[region])


def test_paint_threshold_zero_paints_everything(scene_faces) -> None:
    from deepanon.anonymize.pipeline import Anonymizer

    img, face, clutter = scene_faces
    everything = Anonymizer(
        method="gan", device="cpu", seed=0, detector="mtcnn", paint_threshold=0.0, paint_min_score=0.0
    )
    low = [dataclasses.replace(c, score=0.1) for c in clutter]
    assert {f.treatment for f in everything.treat([img], [[face, *low]])[0]} == {PAINTED}


def test_a_face_its_detector_scored_low_is_filtered_not_painted(anon, scene_faces) -> None:
    """The astronaut's real face, as if the detector had scored it 0.3: O-Net is sure, yet it gets the filter
    (the rule that keeps faces off knees and hands), and the region is still changed."""
    img, face, _ = scene_faces
    weak = dataclasses.replace(face, score=0.3)
    treated = anon.treat([img], [[weak]])[0]
    assert [f.treatment for f in treated] == [LOW_SCORE]
    out = anon.replace_faces([img], [treated], [anon.face_seeds("scene", treated)])[0]
    rest, painter = anon.config.paint, anon.config.painter
    alone = apply_filter(img, [weak], rest.rest, painter.mask_scale * rest.rest_grow, painter.feather, rest.rest_cells)
    assert np.array_equal(out, alone)
    assert not np.array_equal(out, img)


def test_a_track_keeps_its_treatment_through_holds(anon, scene_faces) -> None:
    """The face is detected in frames 0-2 and 6-11 only (held in 3-5, where the picture shows no face any more:
    a second opinion there would say no); the cat in every frame. Every frame paints the face's track and filters
    the cat's, and the counts say so."""
    from deepanon.anonymize.pipeline import VideoState

    img, face, clutter = scene_faces
    hidden = img.copy()
    x0, y0, x1, y1 = (int(v) for v in face.box)
    hidden[y0 - 40 : y1 + 40, x0 - 40 : x1 + 40] = img[y0 - 40 : y1 + 40, 400 : 400 + (x1 - x0) + 80]
    frames = [hidden if 3 <= t <= 5 else img for t in range(12)]
    found = [([] if 3 <= t <= 5 else [face]) + [clutter[0]] for t in range(12)]
    video = VideoState()
    outs, tracked = [], []
    for fr, fs in zip(frames, found):
        o, t = anon.replace_video([fr], [fs], "clip", video)
        outs += o
        tracked += t
    o, t = anon.replace_video([], [], "clip", video)
    outs += o
    tracked += t
    assert len(tracked) == 12
    by_track: dict[int, set[str]] = {}
    for fs in tracked:
        for f in fs:
            by_track.setdefault(f.track_id, set()).add(f.treatment)
    assert sorted(map(sorted, by_track.values())) == [[PAINTED], [SECOND_OPINION]]
    assert all(len(fs) == 2 for fs in tracked)  # the face held through 3-5
    assert count_treatments(f for fs in tracked for f in fs) == {PAINTED: 12, SECOND_OPINION: 12}


# --- the second opinion's own O-Net -------------------------------------------------------------------------------


def test_second_opinion_onet_matches_facenet_pytorch() -> None:
    """deepanon's O-Net (defined locally for start-up time) gives facenet-pytorch's outputs on the same weights."""
    import torch
    from facenet_pytorch.models.mtcnn import ONet as FacenetONet

    from deepanon.detect.second_opinion import SecondOpinion, onet_weights

    theirs = FacenetONet(pretrained=False).eval()
    theirs.load_state_dict(torch.load(onet_weights(), map_location="cpu", weights_only=True))
    ours = SecondOpinion("cpu").net
    x = torch.randn(6, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for a, b in zip(ours(x), theirs(x), strict=True):
            assert torch.allclose(a, b, atol=1e-6)
    img, cat, _ = clutter_scene()
    face = [p[1] for p in SecondOpinion("cpu").both(img, [cat])]
    assert 0.0 <= face[0] <= 1.0


def test_painting_starts_without_torchvision() -> None:
    """The gan method's Anonymizer imports neither facenet-pytorch nor torchvision (1.5 s of start-up)."""
    loaded, treatments = imported_while_anonymizing("gan", ("torchvision", "facenet_pytorch"))
    assert loaded == [] and treatments == ["painted"]
