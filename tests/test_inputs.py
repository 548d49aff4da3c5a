import os
from pathlib import Path

import pytest

from deepanon.media.inputs import UsageError, plan_jobs


def touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


def test_folder_tree_is_mirrored_and_non_media_ignored(tmp_path):
    src = tmp_path / "in"
    touch(src / "a.jpg")
    touch(src / "sub dir" / "b ü.PNG")
    touch(src / "deep" / "er" / "c.mp4")
    touch(src / "notes.txt")
    plan = plan_jobs([src], tmp_path / "out")
    rels = sorted(j.rel for j in plan.jobs)
    assert rels == ["a.jpg", "deep/er/c.mp4", "sub dir/b ü.PNG"]
    assert all(j.dst == tmp_path / "out" / j.rel for j in plan.jobs)
    assert len(plan.ignored) == 1 and plan.errors == []
    assert [j.is_video for j in sorted(plan.jobs, key=lambda j: j.rel)] == [False, True, False]


def test_single_file_may_get_a_file_name(tmp_path):
    f = touch(tmp_path / "x.jpg")
    plan = plan_jobs([f], tmp_path / "y.jpg")
    assert plan.jobs[0].dst == tmp_path / "y.jpg"
    plan = plan_jobs([f], tmp_path / "outdir")
    assert plan.jobs[0].dst == tmp_path / "outdir" / "x.jpg"


def test_refuses_output_inside_input_or_over_input(tmp_path):
    src = tmp_path / "in"
    f = touch(src / "a.jpg")
    with pytest.raises(UsageError, match="inside input folder"):
        plan_jobs([src], src / "anon")
    with pytest.raises(UsageError, match="overwrite"):
        plan_jobs([f], f)
    with pytest.raises(UsageError, match="overwrite"):
        plan_jobs([f, touch(tmp_path / "b.jpg")], src)


def test_missing_input_and_collisions_are_errors_not_crashes(tmp_path):
    a = touch(tmp_path / "one" / "same.jpg")
    b = touch(tmp_path / "two" / "same.jpg")
    plan = plan_jobs([a, b, tmp_path / "nope.jpg"], tmp_path / "out")
    assert len(plan.jobs) == 1
    reasons = [r for _, r in plan.errors]
    assert any("no such file" in r for r in reasons) and any("also the output" in r for r in reasons)


def test_symlink_loop_is_reported_and_not_followed(tmp_path):
    src = tmp_path / "in"
    touch(src / "a.jpg")
    os.symlink(src, src / "loop")
    plan = plan_jobs([src], tmp_path / "out")
    assert [j.rel for j in plan.jobs] == ["a.jpg"]
    assert any("symlink loop" in r for _, r in plan.errors)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_unreadable_folder_is_reported(tmp_path):
    src = tmp_path / "in"
    touch(src / "a.jpg")
    locked = src / "locked"
    touch(locked / "b.jpg")
    locked.chmod(0)
    try:
        plan = plan_jobs([src], tmp_path / "out")
    finally:
        locked.chmod(0o755)
    assert [j.rel for j in plan.jobs] == ["a.jpg"]
    assert plan.errors


def test_hidden_pictures_are_done_and_only_our_temporaries_and_apple_double_passed_over(tmp_path):
    src = tmp_path / "in"
    touch(src / ".hidden.jpg")
    touch(src / ".thumbnails" / "t.png")
    touch(src / ".x.deepanon-tmp-0123456789ab-1-abc.jpg")  # our own temporary: never an input
    (src / "._a.jpg").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 60)  # macOS resource fork, not a picture
    plan = plan_jobs([src], tmp_path / "out")
    assert sorted(j.rel for j in plan.jobs) == [".hidden.jpg", ".thumbnails/t.png"]
    assert len(plan.ignored) == 1 and plan.errors == []


def test_symlink_loops_are_named_and_the_rest_is_planned(tmp_path):
    src = tmp_path / "in"
    touch(src / "a.jpg")
    os.symlink("self.jpg", src / "self.jpg")  # a file link to itself: Path.resolve() raises RuntimeError
    os.symlink("b.jpg", src / "c.jpg")
    os.symlink("c.jpg", src / "b.jpg")
    os.symlink("missing.png", src / "broken.png")
    (src / "sub").mkdir()
    os.symlink("..", src / "sub" / "up")  # a folder loop
    plan = plan_jobs([src], tmp_path / "out")
    assert [j.rel for j in plan.jobs] == ["a.jpg"]
    named = sorted(p.name for p, _ in plan.errors)
    assert named == ["b.jpg", "broken.png", "c.jpg", "self.jpg", "up"]
    plan = plan_jobs([src / "self.jpg", src / "a.jpg"], tmp_path / "out2")  # a loop given as an input
    assert [j.rel for j in plan.jobs] == ["a.jpg"] and plan.errors[0][0].name == "self.jpg"
