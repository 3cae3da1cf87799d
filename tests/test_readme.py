"""The README's Python example runs as it is and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_entity_example_runs(tmp_path: Path) -> None:
    (example,) = _python_blocks()
    script = tmp_path / "example.py"
    script.write_text(example)

    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"created /boards/\S+ /boards/\S+/notes/\S+ hello", lines[0])
    assert lines[1].startswith("updated ") and lines[1].endswith(" hello, world")
    assert lines[2] == "1 note(s) by alice"
