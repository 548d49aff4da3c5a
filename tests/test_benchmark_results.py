import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from results import markdown_table, publish  # noqa: E402


def test_publish_replaces_only_its_own_section(tmp_path, capsys):
    path = tmp_path / "RESULTS.md"
    publish("a", "## A\n\n" + markdown_table(["x"], [[1]]), path=path)
    publish("b", "## B", path=path)
    publish("a", "## A again", shown="short", path=path)
    text = path.read_text()
    assert text.count("section:a -->") == 2 and "## A again" in text and "| 1 |" not in text
    assert "## B" in text and text.index("## A again") < text.index("## B")  # replaced in place, order kept
    assert capsys.readouterr().out.splitlines()[-1] == "short"


def test_publish_print_only_writes_nothing(tmp_path, capsys):
    path = tmp_path / "RESULTS.md"
    publish("a", "## A", write=False, path=path)
    assert not path.exists() and "## A" in capsys.readouterr().out
