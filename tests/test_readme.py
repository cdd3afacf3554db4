"""The README's promises: its test command is CI's, and its result tables come from precomputed/."""

import re
from pathlib import Path

import pytest

from mambarec.artifacts import PrecomputedError
from mambarec.readme import README, current_block, replace_block, results_block

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = README.read_text()
    commands = re.findall(r"```bash\n(pip install -r requirements.txt && [^\n]+)\n```", readme)
    assert len(commands) == 2, "the README must give exactly the two set-up commands"
    test_command = commands[1].split(" && ", 1)[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "streamlit run streamlit_app.py" in commands[0]


def test_results_block_is_read_from_precomputed():
    try:
        block = results_block(ROOT / "precomputed")
    except PrecomputedError as exc:
        pytest.fail(f"precomputed/ is missing or modified: {exc}")
    # A snapshot: it also fails when the code that words the results changed (mutation audit r62 found five wording
    # bugs only this caught). Read the difference before regenerating, or the bug is written into the README.
    assert current_block(README.read_text()) == block, (
        "the README's results block differs from what today's code writes from precomputed/: if the new wording is "
        "meant (read the diff: `python -m mambarec readme` then `git diff README.md`), keep it; else fix the code")


def test_replace_block_keeps_the_rest():
    text = "a\n<!-- results:start -->\nold\n<!-- results:end -->\nb\n"
    assert replace_block(text, "new") == "a\n<!-- results:start -->\nnew\n<!-- results:end -->\nb\n"
    with pytest.raises(ValueError):
        replace_block("no markers", "x")


def test_every_table_row_is_one_line():
    """A Markdown table row broken over two lines ends the table there and the rows after it render as text (the
    README's classroom table did): every line that opens a row also closes it."""
    broken = []
    for path in (README, *sorted((ROOT / "docs").glob("*.md"))):
        lines = path.read_text().splitlines()
        broken += [f"{path.name}:{i + 1}" for i, line in enumerate(lines)
                   if line.startswith("|") and not line.rstrip().endswith("|")]
    assert not broken, broken
