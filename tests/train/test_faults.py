"""Faults a sweep meets on real machines: each ends in one clear line and loses nothing.

The sweeps here run through the CLI, as a user's would: command.txt under each launcher,
a launcher that loses a job, Ctrl-C / SIGTERM / kill -9 on a joblib sweep, a full disk,
and a resume whose config changed.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from instrumental.train import sweeper
from instrumental.train.callbacks import ReportFailedRuns
from instrumental.train.metrics import atomic_file, write_json_atomic
from instrumental.train.run import save_model, write_curve
from tests.train.cli import TINY, train_cli

#: A job that runs long enough to be interrupted (minutes), beside a TINY one.
LONG = "total_timesteps=64,2000000"


def start_sweep(sweep: Path, *args: str) -> subprocess.Popen:
    """A joblib sweep in its own process group (a terminal's Ctrl-C reaches the group)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "instrumental.train",
            "-m",
            *args,
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=sweep.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}: {proc.stderr.read()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def descendants(proc: subprocess.Popen) -> set[int]:
    try:
        return {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def still_alive(pids: set[int], grace: float = 20) -> list[int]:
    """The processes of ``pids`` still running after ``grace`` seconds (zombies aside)."""
    deadline = time.time() + grace
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.5)


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def job_dir(sweep: Path, fragment: str) -> Path:
    (found,) = [p for p in sweep.iterdir() if p.is_dir() and fragment in p.name]
    return found


# --- command.txt ------------------------------------------------------------------


@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_command_txt_holds_the_typed_sweep_and_the_job_s_own_command(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    typed = ["-m", "seed=0,1", "env.shutdown_prob=0.3", *TINY]
    hydra_args = [f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep}"]
    result = train_cli(*typed, *hydra_args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for seed in (0, 1):
        lines = (job_dir(sweep, f"seed={seed},") / "command.txt").read_text().splitlines()
        assert lines[0] == " ".join(["instrumental-train", *typed, *hydra_args])
        job = lines[1].removeprefix("# this job alone: ")
        assert job.startswith(
            f"instrumental-train seed={seed} env.shutdown_prob=0.3 {' '.join(TINY)} "
        )
        # Never the worker's own arguments (submitit's pickles, Ray's node flags).
        assert ".submitit" not in lines[0] + lines[1] and "--" not in lines[0] + lines[1]


def test_the_job_line_of_command_txt_reruns_that_job_in_its_folder(tmp_path):
    sweep = tmp_path / "sweep"
    first = train_cli(
        "-m", "seed=0", *TINY, "hydra/launcher=basic", f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    run = job_dir(sweep, "seed=0,")
    job = (run / "command.txt").read_text().splitlines()[1].removeprefix("# this job alone: ")
    bin_dir = Path(sys.executable).parent
    again = subprocess.run(
        ["bash", "-c", job],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert f"{run} already has metrics.json; skipping" in again.stdout + again.stderr


# --- failures known by the sweep's id, not by file times ---------------------------


def test_the_failure_list_names_this_sweep_s_failures_whatever_the_file_times(tmp_path, capsys):
    ours, stale = tmp_path / "ours", tmp_path / "stale"
    for folder in (ours, stale):
        folder.mkdir()
    (ours / "error.txt").write_text(sweeper.error_text("it broke", "sweep-a"))
    (stale / "error.txt").write_text(sweeper.error_text("an old failure", "sweep-b"))
    past, future = time.time() - 86400, time.time() + 86400  # clocks of other machines
    os.utime(ours / "error.txt", (past, past))
    os.utime(stale / "error.txt", (future, future))
    sweeper.LAST_SWEEP = sweeper.SweepOutcome("sweep-a", job_dirs=[ours, stale])
    try:
        with pytest.raises(SystemExit) as exit_:
            ReportFailedRuns().on_multirun_end(config=None)
    finally:
        sweeper.LAST_SWEEP = None
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err and f"{ours}: it broke" in err
    assert "old failure" not in err


def test_error_txt_always_has_a_message():
    assert sweeper.first_line(sweeper.error_text("", "s")) == "failed without a message"
    assert sweeper.first_line(sweeper.error_text("\n  \n", None)) == "failed without a message"


# --- a launcher that loses a job ----------------------------------------------------


def test_a_job_killed_under_submitit_ends_in_the_failure_list_not_a_traceback(tmp_path):
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "instrumental.train",
            "-m",
            LONG,
            *[a for a in TINY if not a.startswith("total_timesteps")],
            "hydra/launcher=submitit_local",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    long_marker = lambda: next(sweep.glob("*total_timesteps=2000000/.running"), None)  # noqa: E731
    wait_for(lambda: long_marker() is not None, proc, "the long job to start")
    os.kill(int(long_marker().read_text().split()[1]), signal.SIGKILL)  # a node lost, scancel
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "1 run(s) failed" in stderr and "lost by the launcher" in stderr
    assert "may still be running" in stderr
    killed = job_dir(sweep, "total_timesteps=2000000")
    assert sweeper.first_line((killed / "error.txt").read_text()).startswith("lost by the launcher")
    assert (job_dir(sweep, "total_timesteps=64") / "metrics.json").exists()


# --- Ctrl-C, SIGTERM and kill -9 on a joblib sweep ----------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_joblib_sweep_stops_its_workers_and_says_how_to_resume(
    tmp_path, signum, code
):
    sweep = tmp_path / "sweep"
    short = [a for a in TINY if not a.startswith("total_timesteps")]
    proc = start_sweep(sweep, LONG, *short)
    seen: set[int] = set()

    def short_done_long_running() -> bool:
        seen.update(descendants(proc))
        return bool(list(sweep.glob("*total_timesteps=64/metrics.json"))) and bool(
            list(sweep.glob("*total_timesteps=2000000/.running"))
        )

    wait_for(short_done_long_running, proc, "one job to finish and one to run")
    finished = next(sweep.glob("*total_timesteps=64/metrics.json"))
    before = finished.read_bytes()
    seen.update(descendants(proc))
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C in a terminal: the whole process group
    else:
        proc.send_signal(signum)  # kill <pid>, a scheduler's stop: the sweep's process only
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == code, stderr
    (line,) = stderr_lines(stderr)
    assert "interrupted; 1 finished run(s)" in line and "Run the same command again" in line
    assert finished.read_bytes() == before
    assert not still_alive(seen), "orphaned worker processes"


def test_a_worker_killed_by_the_oom_killer_fails_its_job_and_the_others_go_on(tmp_path):
    sweep = tmp_path / "sweep"
    proc = start_sweep(sweep, "seed=0,1,2", *TINY[1:], "total_timesteps=3000")
    victim_dir = lambda: next(sweep.glob("*seed=0,*"), None)  # noqa: E731
    seen: set[int] = set()

    def victim_pid(not_pid: int | None = None) -> int | None:
        seen.update(descendants(proc))
        folder = victim_dir()
        try:
            pid = int((folder / ".running").read_text().split()[1])
        except (TypeError, OSError, IndexError, ValueError):
            return None
        return pid if pid != not_pid else None

    wait_for(lambda: victim_pid() is not None, proc, "the job to start")
    first = victim_pid()
    os.kill(first, signal.SIGKILL)
    # Out of memory again when it is run alone: the OOM killer picks it every time.
    wait_for(lambda: victim_pid(first) is not None, proc, "the job to run again alone")
    os.kill(victim_pid(first), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "1 run(s) failed" in stderr and "killed" in stderr
    message = sweeper.first_line((victim_dir() / "error.txt").read_text())
    assert message.startswith("the worker running this job was killed")
    for seed in (1, 2):  # the jobs the dead worker's pool took down were run again
        assert (job_dir(sweep, f"seed={seed},") / "metrics.json").exists()
    assert not (victim_dir() / "metrics.json").exists()
    assert not still_alive(seen), "orphaned worker processes"


# --- full disk, atomic writes, permissions ------------------------------------------


def _tiny_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return mounted.returncode == 0


def test_a_full_disk_ends_in_one_line_and_leaves_no_partial_model(tmp_path):
    disk = tmp_path / "disk"
    run = disk / "run"
    args = (*TINY, f"hydra.run.dir={run}", "progress=false")
    if _tiny_tmpfs(disk, "48k"):  # a real full disk: Hydra's files fit, the model does not
        try:
            result = train_cli(*args, cwd=tmp_path)
        finally:
            listing = sorted(p.name for p in run.iterdir()) if run.exists() else []
            subprocess.run(["umount", str(disk)], check=False)
    else:  # no mount here (not root): the model writer raises what a full disk raises
        patched = (
            "import errno, sys\n"
            "import instrumental.train.run as run\n"
            "def full(model, path):\n"
            "    raise OSError(errno.ENOSPC, 'No space left on device', str(path))\n"
            "run.save_model = full\n"
            "from instrumental.train.app import main\n"
            "sys.argv = ['instrumental-train', *sys.argv[1:]]\n"
            "main()\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", patched, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        listing = sorted(p.name for p in run.iterdir())
    assert result.returncode == 1, result.stderr
    (line,) = stderr_lines(result.stderr)
    assert line.startswith("instrumental-train: error: cannot write") and "No space left" in line
    assert "model.zip" not in listing and "metrics.json" not in listing
    assert not [name for name in listing if name.endswith(".tmp")]


class _Model:
    """Stands in for an SB3 model whose save runs out of disk part-way."""

    def save(self, f) -> None:
        f.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_model_save_that_fails_keeps_the_previous_model_whole(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"the previous model")
    with pytest.raises(OSError):
        save_model(_Model(), path)
    assert path.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_written_files_have_the_usual_permissions_and_unique_temporary_names(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "metrics.json", {"seed": 0})
        write_curve(tmp_path / "curve.csv", [{"timesteps": 0, "p": 0.5}])
    finally:
        os.umask(old)
    for name in ("metrics.json", "curve.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
    temporaries = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (temporaries.append(a), real_replace(a, b)))
    for _ in range(2):
        with atomic_file(tmp_path / "curve.csv") as f:
            f.write("x\n")
    assert len(set(temporaries)) == 2


# --- resume checks the config -------------------------------------------------------


def test_resume_with_a_changed_config_says_what_changed_and_overwrites_nothing(tmp_path):
    run = tmp_path / "run"
    args = (*TINY, f"hydra.run.dir={run}", "progress=false")
    first = train_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    metrics, config = (run / "metrics.json").read_bytes(), (run / ".hydra/config.yaml").read_bytes()

    same = train_cli(*args, "progress=true", cwd=tmp_path)  # progress changes no result
    assert same.returncode == 0 and "skipping" in same.stdout + same.stderr

    trained_lr = json.loads(metrics)["config"]["algo"]["learning_rate"]
    changed = train_cli(*args, "algo.learning_rate=0.0005", cwd=tmp_path)
    assert changed.returncode == 1
    (line,) = stderr_lines(changed.stderr)
    assert f"algo.learning_rate: {trained_lr!r} -> 0.0005" in line and "+retrain=true" in line
    assert (run / "metrics.json").read_bytes() == metrics
    assert (run / ".hydra/config.yaml").read_bytes() == config

    retrained = train_cli(*args, "algo.learning_rate=0.001", "+retrain=true", cwd=tmp_path)
    assert retrained.returncode == 0, retrained.stderr
    assert (
        json.loads((run / "metrics.json").read_text())["config"]["algo"]["learning_rate"] == 0.001
    )


def test_rerunning_a_sweep_on_read_only_storage_ends_in_one_line(tmp_path):
    disk = tmp_path / "disk"
    if not _tiny_tmpfs(disk, "16m"):
        pytest.skip("needs mount (root) for a read-only file system; root ignores chmod")
    sweep = disk / "sweep"
    args = ("-m", "seed=0", *TINY, "hydra/launcher=basic", f"hydra.sweep.dir={sweep}")
    try:
        first = train_cli(*args, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        metrics = next(sweep.rglob("metrics.json")).read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        again = train_cli(*args, cwd=tmp_path)
        assert next(sweep.rglob("metrics.json")).read_bytes() == metrics
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    assert again.returncode == 1
    (line,) = stderr_lines(again.stderr)
    assert "cannot write" in line and "Read-only file system" in line
