"""metrics.json is written atomically: absent or complete, never half-written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from instrumental.train.metrics import write_json_atomic


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"seed": 1})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"seed": 2, "bad": float("nan")})
    assert json.loads(path.read_text()) == {"seed": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_writer_killed_mid_write_never_leaves_a_partial_file(tmp_path):
    path = tmp_path / "metrics.json"
    writer = (
        "import sys\n"
        "from instrumental.train.metrics import write_json_atomic\n"
        "big = {'values': list(range(300000))}\n"
        "while True:\n"
        "    write_json_atomic(sys.argv[1], big)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(path)])
    deadline = time.time() + 60
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(json.loads(path.read_text())["values"]) == 300000
