"""`kill -9` at random moments during every writer: 20 trials each, the target always reads back
as the old or the new version, and no temporary is left after the next start (kill_writer.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kill_writer import WRITERS

TRIALS = 20


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_kill_during_write(writer: str, tmp_path: Path) -> None:
    script = Path(__file__).with_name("kill_writer.py")
    done = subprocess.run([sys.executable, str(script), writer, str(tmp_path), str(TRIALS), "7"],
                          capture_output=True, text=True, timeout=600, encoding="utf-8",
                          errors="replace")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["trials"] == TRIALS
    assert result["unreadable"] == [], result
    assert result["temporaries_after_restart"] == 0, result
