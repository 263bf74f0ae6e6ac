"""The README's Python code blocks run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, capsys):
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})  # noqa: S102 - our own README
    assert capsys.readouterr().out.strip()


def test_readme_first_screen_has_the_two_commands():
    head = README.read_text().splitlines()[:20]
    text = "\n".join(head)
    assert 'pip install -e ".[all]" && descentlab demo' in text
    assert 'pip install -e ".[test]" && python -m pytest' in text
