"""The README's demo command runs end to end and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def session_members(session_id: int) -> list[int]:
    """Pids of live processes in a session (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def test_demo_runs_and_cleans_up():
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "sample" / "demo.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        output, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    text = output.decode("utf-8", "replace")
    assert demo.returncode == 0, text
    assert "overall verdict MALICIOUS" in text
    assert "not submitted: internal" in text
    assert "exit code 0" in text
    leftovers = session_members(demo.pid)
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert leftovers == []
