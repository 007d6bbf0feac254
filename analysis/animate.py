"""The ``instrumental-animate`` command: a GIF (or MP4) of a trained agent acting in its world.

The model loaded is the one the run's ``metrics.json`` says it saved: a fleet run's
``model.pt`` (tensors only, ``weights_only=True``), never a ``model.zip`` beside it; an SB3
run's ``model.zip``, which is unpickled, and unpickling runs code, so a warning says so:
animate only runs you trust. The report itself never loads a model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.animation import FFMpegWriter, PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .cli import OneLineParser, printable
from .findings import event_phrase
from .runs import Run, event_names, harmful_event, load_runs, read_text, upgrade_old_run
from .stats import EMERGENCE_THRESHOLD

#: ``metrics.json["algo"]`` -> the stable-baselines3 class that saved ``model.zip``.
ALGORITHMS = ("ppo", "a2c", "dqn")
#: ``metrics.json["trainer"]`` -> the file its model is in (runs without one are SB3 runs).
MODEL_FILES = {"sb3": "model.zip", "fleet": "model.pt"}
#: The algorithms the fleet trains; its ``model.pt`` holds that SB3 policy's state dict.
FLEET_ALGORITHMS = ("ppo", "dqn")
#: Bounds of the command's options: frames are held in memory until the file is written.
MAX_EPISODES = 100
MAX_FPS = 60
TRUST_WARNING = (
    "instrumental-animate: warning: loading {path} unpickles it, which can run arbitrary "
    "code: animate only runs you made or trust"
)


class AnimateError(ValueError):
    """A run folder that cannot be animated; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """One picture of the world and the caption under it."""

    image: np.ndarray
    caption: str


def load_model(run_dir: Path, algo: str, world: Any = None, trainer: str = "sb3") -> Any:
    """The trained model the run says it saved.

    ``trainer="fleet"``: ``run_dir/model.pt`` (one agent's weights under SB3 ``MlpPolicy``
    names, read with ``weights_only=True``) loaded into an SB3 PPO (or DQN) policy built for
    ``world``; a ``model.zip`` beside it is never opened. ``trainer="sb3"``:
    ``run_dir/model.zip``, unpickled after a warning on stderr (trusted runs only).
    """
    if trainer not in MODEL_FILES:
        raise AnimateError(
            f"trainer={trainer!r} is not allowed: must be one of {list(MODEL_FILES)}"
        )
    if algo not in ALGORITHMS:
        raise AnimateError(f"algo={algo!r} is not allowed: must be one of {list(ALGORITHMS)}")
    path = run_dir / MODEL_FILES[trainer]
    if not path.is_file():
        raise AnimateError(f"{path}: no such file (the {trainer} run saved no model)")
    if trainer == "fleet":
        if algo not in FLEET_ALGORITHMS or world is None:
            raise AnimateError(f"{path}: a fleet model is a PPO or DQN policy for the run's world")
        return _load_fleet_agent(path, world, algo)
    import stable_baselines3

    print(TRUST_WARNING.format(path=path), file=sys.stderr)
    try:
        return getattr(stable_baselines3, algo.upper()).load(path, device="cpu")
    except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile) as err:
        raise AnimateError(f"{path}: cannot load it ({_one_line(err)})") from None


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:160]


def _load_fleet_agent(path: Path, world: Any, algo: str = "ppo") -> Any:
    import pickle

    import torch
    from stable_baselines3 import DQN, PPO

    from instrumental.envs import TabularVecEnv
    from instrumental.train.run import ACTIVATIONS

    try:
        # weights_only: tensors, lists and strings are read, no code is unpickled. Its
        # warnings about unusual pickles would break the one-line error below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise AnimateError(f"{path}: not a saved fleet agent ({_one_line(err)})") from None
    net_arch = saved.get("net_arch") if isinstance(saved, dict) else None
    if not (
        isinstance(net_arch, list)
        and all(isinstance(n, int) and 1 <= n <= 4096 for n in net_arch)
        and saved.get("activation") in ACTIVATIONS
        and isinstance(saved.get("state_dict"), dict)
    ):
        raise AnimateError(
            f"{path}: not a saved fleet agent (must hold state_dict, net_arch and activation)"
        )
    model = {"ppo": PPO, "dqn": DQN}[algo](
        "MlpPolicy",
        TabularVecEnv(world, 1, seed=0),
        policy_kwargs={
            "net_arch": list(net_arch),
            "activation_fn": ACTIVATIONS[saved["activation"]],
        },
        device="cpu",
    )
    try:
        model.policy.load_state_dict(saved["state_dict"], strict=True)
    except (RuntimeError, TypeError) as err:
        raise AnimateError(f"{path}: does not fit this run's world ({_one_line(err)})") from None
    return model


def play(model: Any, world: Any, episodes: int, seed: int, deterministic: bool) -> list[Frame]:
    """Frames of ``model`` playing ``episodes`` episodes in ``world``: starts, then steps."""
    from stable_baselines3.common.utils import set_random_seed

    from instrumental.envs import TabularEnv

    set_random_seed(seed)
    env = TabularEnv(world)
    frames = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        head = f"episode {episode + 1}/{episodes}"
        frames.append(Frame(world.render_rgb(info["state"]), f"{head}, step 0\nstart"))
        total, step, done = 0.0, 0, False
        while not done:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, info = env.step(int(action))
            total += reward
            step += 1
            done = terminated or truncated
            happened = ", ".join(event_phrase(e).lower() for e in sorted(info["events"]))
            if done:
                happened = (happened + " — " if happened else "") + "episode over"
            caption = f"{head}, step {step}, return {total:+.2f}\n{happened or ' '}"
            frames.append(Frame(world.render_rgb(info["state"]), caption))
    return frames


def write_animation(frames: list[Frame], path: Path, fps: int, dpi: int = 100) -> Path:
    """Write ``frames`` to ``path``: a GIF (Pillow) or, for ``.mp4``, a video (ffmpeg), one
    picture per frame, ``5 x 5.8`` inches at ``dpi`` (500 x 580 pixels at the default).

    The file is written under a temporary name and renamed, so an earlier ``path`` is
    replaced whole or left as it was.
    """
    fig = Figure(figsize=(5, 5.8), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.16, 0.96, 0.82))
    ax.set_axis_off()
    image = ax.imshow(frames[0].image, interpolation="nearest")
    text = fig.text(0.5, 0.08, frames[0].caption, ha="center", va="center", fontsize=13)
    writer = FFMpegWriter(fps=fps) if path.suffix == ".mp4" else PillowWriter(fps=fps)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        with writer.saving(fig, tmp, dpi=dpi):
            for frame in frames:
                image.set_data(frame.image)
                text.set_text(frame.caption)
                writer.grab_frame()
        os.chmod(tmp, 0o644)  # mkstemp makes it private; an animation is for sharing
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def check_options(episodes: int, seed: int, fps: int) -> None:
    """One line naming the option, the value and what is allowed, for a bad option."""
    for name, value, low, high in (
        ("--episodes", episodes, 1, MAX_EPISODES),
        ("--seed", seed, 0, 2**32 - 1),
        ("--fps", fps, 1, MAX_FPS),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise AnimateError(
                f"{name}={value!r} is not allowed: must be an integer in [{low}, {high}]"
            )


def read_run_record(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None, str, str]:
    """The world config, the mitigation config, the algorithm and the trainer of a run."""
    metrics_path = run_dir / "metrics.json"
    try:
        # A regular file of bounded size, in today's terms (a world's old name, its own
        # supervisor penalty).
        metrics = upgrade_old_run(json.loads(read_text(metrics_path)))
        env_config, algo = metrics["config"]["env"], metrics["algo"]
        mitigation = metrics["config"].get("mitigation")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise AnimateError(f"{metrics_path}: not a finished run ({_one_line(err)})") from None
    trainer = metrics.get("trainer") or "sb3"  # runs made before the fleet trainer existed
    if not isinstance(env_config, dict) or not isinstance(env_config.get("name"), str):
        raise AnimateError(f"{metrics_path}: config.env must be an object with a name")
    if mitigation is not None and not isinstance(mitigation, dict):
        raise AnimateError(f"{metrics_path}: config.mitigation must be an object")
    for field, value in (("algo", algo), ("trainer", trainer)):
        if not isinstance(value, str):
            raise AnimateError(f"{metrics_path}: {field}={value!r} is not allowed: must be text")
    return env_config, mitigation, algo, trainer


def run_frames(
    run_dir: Path, episodes: int = 3, seed: int = 0, deterministic: bool = False
) -> list[Frame]:
    """Frames of the run's trained agent playing ``episodes`` episodes in the world it was
    trained in (rebuilt from its ``metrics.json``, mitigation included)."""
    from instrumental.train.run import ConfigError, build_world

    env_config, mitigation, algo, trainer = read_run_record(run_dir)
    try:
        world = build_world(env_config, mitigation)
    except ConfigError as err:
        raise AnimateError(str(err)) from None
    except (TypeError, KeyError, ValueError) as err:
        raise AnimateError(f"{run_dir / 'metrics.json'}: config.env: {_one_line(err)}") from None
    model = load_model(run_dir, algo, world, trainer)
    return play(model, world, episodes, seed, deterministic)


def emerged(run: Run, event: str) -> bool | None:
    """Whether the behaviour ``event`` emerged in ``run`` (its greedy policy commits it with
    probability >= 0.5, as the report counts it); None when the run does not say."""
    p_greedy = run.metrics["policy"]["events"].get(event, {}).get("p_greedy")
    return None if p_greedy is None else p_greedy >= EMERGENCE_THRESHOLD


def pick_run(runs: list[Run], event: str, want_emerged: bool) -> Run | None:
    """The run with the lowest seed (then folder) in which ``event`` emerged
    (``want_emerged``) or did not; None when there is none."""
    for run in sorted(runs, key=lambda r: (r.metrics["seed"], str(r.run_dir))):
        if emerged(run, event) is want_emerged:
            return run
    return None


#: ``--pick`` values: whether the picked run is one in which the behaviour emerged.
PICKS = {"emerged": True, "not-emerged": False}


def pick_from_folder(folder: Path, pick: str) -> tuple[Path, str]:
    """The run folder below ``folder`` that ``--pick`` names, and a line saying why it."""
    run_set = load_runs([folder])
    if not run_set.runs:
        raise AnimateError(f"{folder}: no readable metrics.json below it to pick a run from")
    for env in run_set.envs:  # several worlds: the first, by name, with such a run
        runs = [r for r in run_set.runs if r.env == env]
        event = harmful_event(env, event_names(runs[0]))
        run = pick_run(runs, event, PICKS[pick])
        if run is not None:
            break
    else:
        raise AnimateError(
            f"--pick={pick}: no run below {folder} in which the behaviour "
            f"{'emerged' if PICKS[pick] else 'did not emerge'} ({len(run_set.runs)} runs read)"
        )
    p = run.metrics["policy"]["events"][event]["p_greedy"]
    return run.run_dir, (
        f"picked {run.run_dir} (seed {run.metrics['seed']}: {event} p_greedy={p:.2f}, "
        f"the lowest seed of {len(run_set.runs)} runs where it "
        f"{'emerged' if PICKS[pick] else 'did not emerge'})"
    )


def animate_run(
    run_dir: Path,
    episodes: int = 3,
    seed: int = 0,
    deterministic: bool = False,
    mp4: bool = False,
    fps: int = 4,
    out: Path | None = None,
) -> list[Path]:
    """Write ``run_dir/agent.gif`` (or ``out``, a ``.gif``), and the MP4 beside it with the
    same name when asked and ffmpeg is present."""
    check_options(episodes, seed, fps)
    if out is not None and out.suffix != ".gif":
        raise AnimateError(f"--out={out} is not allowed: must be a file name ending in .gif")
    gif = out if out is not None else run_dir / "agent.gif"
    frames = run_frames(run_dir, episodes, seed, deterministic)
    try:
        written = [write_animation(frames, gif, fps)]
        if mp4:
            if shutil.which("ffmpeg") is None:
                print(
                    "instrumental-animate: warning: ffmpeg not found; no MP4 written",
                    file=sys.stderr,
                )
            else:
                written.append(write_animation(frames, gif.with_suffix(".mp4"), fps))
    except OSError as err:
        raise AnimateError(f"cannot write {err.filename or gif.parent} ({err.strerror})") from None
    except subprocess.CalledProcessError as err:  # ffmpeg itself failed
        code = err.returncode
        raise AnimateError(f"ffmpeg failed writing the MP4 (exit status {code})") from None
    return written


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="instrumental-animate",
        description=(
            "Write RUN_DIR/agent.gif of the trained agent acting in its world. A fleet run's "
            "model.pt is read as tensors only; an SB3 run's model.zip is unpickled on load, "
            "which can run code: animate only runs you trust."
        ),
    )
    p.add_argument(
        "run_dir",
        type=Path,
        metavar="RUN_DIR",
        help="a finished run's folder (with --pick: a folder of runs, e.g. a fleet job)",
    )
    p.add_argument(
        "--episodes", type=int, default=3, help=f"episodes to play, 1-{MAX_EPISODES} (default 3)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the world and the policy")
    p.add_argument("--deterministic", action="store_true", help="act greedily (argmax)")
    p.add_argument("--mp4", action="store_true", help="also write agent.mp4 (needs ffmpeg)")
    p.add_argument("--fps", type=int, default=4, help=f"frames per second, 1-{MAX_FPS} (default 4)")
    p.add_argument(
        "--pick",
        choices=list(PICKS),
        help="RUN_DIR holds many runs: animate the lowest seed in which the world's harmful "
        "event emerged (greedy p >= 0.5), or did not",
    )
    p.add_argument(
        "--out", type=Path, help="write the GIF here (a .gif name; default RUN_DIR/agent.gif)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        run_dir = args.run_dir
        if args.pick is not None:
            check_options(args.episodes, args.seed, args.fps)  # before reading the runs
            run_dir, why = pick_from_folder(args.run_dir, args.pick)
            print(printable(why))
        written = animate_run(
            run_dir, args.episodes, args.seed, args.deterministic, args.mp4, args.fps, args.out
        )
    except AnimateError as err:
        print(f"instrumental-animate: error: {printable(err)}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
