"""The ``instrumental-animate`` command: a GIF (or MP4) of a trained agent acting in its world.

``model.zip`` is unpickled when it is loaded, and unpickling runs code: animate only
runs you trust. The report itself never loads a model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.animation import FFMpegWriter, PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .findings import event_phrase

#: ``metrics.json["algo"]`` -> the stable-baselines3 class that saved ``model.zip``.
ALGORITHMS = ("ppo", "a2c", "dqn")


class AnimateError(ValueError):
    """A run folder that cannot be animated; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """One picture of the world and the caption under it."""

    image: np.ndarray
    caption: str


def load_model(run_dir: Path, algo: str, world: Any = None) -> Any:
    """The trained model in ``run_dir/model.zip`` (unpickled: trusted runs only).

    A fleet run saves ``model.pt`` instead (one agent's weights under SB3 ``MlpPolicy``
    names); it is loaded into an SB3 PPO policy built for ``world``.
    """
    import stable_baselines3

    if algo not in ALGORITHMS:
        raise AnimateError(f"algo={algo!r} is not allowed: must be one of {list(ALGORITHMS)}")
    path = run_dir / "model.zip"
    if path.is_file():
        return getattr(stable_baselines3, algo.upper()).load(path, device="cpu")
    if (run_dir / "model.pt").is_file() and world is not None:
        return _load_fleet_agent(run_dir / "model.pt", world)
    raise AnimateError(f"{path}: no such file (the run saved no model)")


def _load_fleet_agent(path: Path, world: Any) -> Any:
    import torch
    from stable_baselines3 import PPO

    from instrumental.envs import TabularVecEnv
    from instrumental.train.run import ACTIVATIONS

    # weights_only: tensors, lists and strings are read, no code is unpickled.
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = PPO(
        "MlpPolicy",
        TabularVecEnv(world, 1, seed=0),
        policy_kwargs={
            "net_arch": list(saved["net_arch"]),
            "activation_fn": ACTIVATIONS[saved["activation"]],
        },
        device="cpu",
    )
    model.policy.load_state_dict(saved["state_dict"], strict=True)
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


def write_animation(frames: list[Frame], path: Path, fps: int) -> Path:
    """Write ``frames`` to ``path``: a GIF (Pillow) or, for ``.mp4``, a video (ffmpeg)."""
    fig = Figure(figsize=(5, 5.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.16, 0.96, 0.82))
    ax.set_axis_off()
    image = ax.imshow(frames[0].image, interpolation="nearest")
    text = fig.text(0.5, 0.08, frames[0].caption, ha="center", va="center", fontsize=13)
    writer = FFMpegWriter(fps=fps) if path.suffix == ".mp4" else PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=100):
        for frame in frames:
            image.set_data(frame.image)
            text.set_text(frame.caption)
            writer.grab_frame()
    return path


def animate_run(
    run_dir: Path,
    episodes: int = 3,
    seed: int = 0,
    deterministic: bool = False,
    mp4: bool = False,
    fps: int = 4,
) -> list[Path]:
    """Write ``run_dir/agent.gif`` (and ``agent.mp4`` when asked and ffmpeg is present)."""
    from instrumental.train.run import ConfigError, build_world

    if episodes < 1:
        raise AnimateError(f"--episodes={episodes} is not allowed: must be an integer >= 1")
    metrics_path = run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
        env_config, algo = metrics["config"]["env"], metrics["algo"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise AnimateError(f"{metrics_path}: not a finished run ({err})") from None
    try:
        # The agent acts in the world it was trained in, mitigation included.
        world = build_world(env_config, metrics["config"].get("mitigation"))
    except ConfigError as err:
        raise AnimateError(str(err)) from None
    model = load_model(run_dir, algo, world)
    frames = play(model, world, episodes, seed, deterministic)
    written = [write_animation(frames, run_dir / "agent.gif", fps)]
    if mp4:
        if shutil.which("ffmpeg") is None:
            print(
                "instrumental-animate: warning: ffmpeg not found; no MP4 written", file=sys.stderr
            )
        else:
            written.append(write_animation(frames, run_dir / "agent.mp4", fps))
    return written


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="instrumental-animate",
        description=(
            "Write RUN_DIR/agent.gif of the trained agent acting in its world. model.zip is "
            "unpickled on load, which can run code: animate only runs you trust."
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a finished run's folder")
    p.add_argument("--episodes", type=int, default=3, help="episodes to play (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the world and the policy")
    p.add_argument("--deterministic", action="store_true", help="act greedily (argmax)")
    p.add_argument("--mp4", action="store_true", help="also write agent.mp4 (needs ffmpeg)")
    p.add_argument("--fps", type=int, default=4, help="frames per second (default 4)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        written = animate_run(
            args.run_dir, args.episodes, args.seed, args.deterministic, args.mp4, args.fps
        )
    except AnimateError as err:
        print(f"instrumental-animate: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
