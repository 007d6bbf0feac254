"""Do two versions of the code give identical results? The gate for refactors.

    python bench/identical_results.py record before.json   # on the old code
    python bench/identical_results.py check before.json    # on the new code: exit 1 on any change

It trains a fixed set of small jobs (every world, the fleet and all three SB3 algorithms,
a mitigation, DeepMind's rules), reports them, and reports every local gallery sweep under
`multirun/figures/` and `multirun/demo` that exists (under `$INSTRUMENTAL_RUNS_ROOT` when
set, so a second checkout can report the same trained runs). It then hashes every
`metrics.json` (wall times removed), `curve.csv`, every figure SVG and every report table
(`summary.csv` without its wall-time and run-folder columns). A refactor
must leave every hash unchanged; `check` names each file that changed. Run it on the same
machine for both arms: floating point is identical only there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# One multirun per line: small budgets, but every code path a refactor can move.
JOBS: dict[str, list[str]] = {
    "fleet_offswitch": [
        "trainer=fleet",
        "seeds=3",
        "total_timesteps=3000",
        "curve_points=4",
        "env.shutdown_prob=0.1,0.5",
    ],
    "fleet_per_sample": [
        "trainer=fleet",
        "fleet_update=per_sample",
        "seeds=2",
        "total_timesteps=2000",
    ],
    "fleet_worlds": ["trainer=fleet", "seeds=2", "total_timesteps=2000", "env=compute,replacement"],
    "fleet_mitigation": [
        "trainer=fleet",
        "seeds=2",
        "total_timesteps=2000",
        "mitigation=oversight",
        "env.supervisor_prob=0.5",
    ],
    "sb3_algos": ["seeds=1", "total_timesteps=1500", "algo=ppo,a2c,dqn"],
    "aisg": ["trainer=fleet", "seeds=2", "total_timesteps=2000", "env=aisg_level1"],
}


def _train(name: str, overrides: list[str], out: Path) -> Path:
    sweep = out / name
    command = [
        str(BIN / "instrumental-train"),
        "-m",
        *overrides,
        "eval_episodes=50",
        f"hydra.sweep.dir={sweep}",
        "hydra/launcher=basic",
    ]
    subprocess.run(command, check=True, cwd=out, stdout=subprocess.DEVNULL)
    return sweep


def _report(sweep: Path, out: Path) -> Path:
    command = [str(BIN / "instrumental-report"), str(sweep), "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def _without_wall_times(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_wall_times(v) for k, v in value.items() if "wall" not in k}
    if isinstance(value, list):
        return [_without_wall_times(v) for v in value]
    return value


def _digest(path: Path) -> str:
    if path.name == "metrics.json":
        data = _without_wall_times(json.loads(path.read_text()))
        data.pop("schema_version", None)  # the one key added since main's recording (2d20e59)
        # The one knob removed since: the world's own supervisor penalty (now the oversight
        # mitigation), recorded in every config of a world that had it.
        env = data.get("config", {}).get("env", {})
        if isinstance(env, dict):
            env.pop("supervisor_penalty", None)
        blob = json.dumps(data, sort_keys=True).encode()
    elif path.name == "summary.csv":
        rows = list(csv.reader(io.StringIO(path.read_text())))
        keep = [i for i, name in enumerate(rows[0]) if "wall" not in name and name != "run_dir"]
        blob = json.dumps([[row[i] for i in keep] for row in rows]).encode()
    else:
        blob = path.read_bytes()
    return hashlib.sha256(blob).hexdigest()


def _hashes(base: Path, label: str) -> dict[str, str]:
    kept = {"metrics.json", "curve.csv"}
    suffixes = {".svg", ".csv", ".md"}
    result = {}
    for path in sorted(base.rglob("*")):
        if path.is_file() and (path.name in kept or path.suffix in suffixes):
            if ".hydra" in path.parts or path.name.endswith(".log"):
                continue
            result[f"{label}/{path.relative_to(base)}"] = _digest(path)
    return result


def collect() -> dict[str, str]:
    hashes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="identical-") as tmp:
        out = Path(tmp)
        for name, overrides in JOBS.items():
            print(f"training {name} ...", flush=True)
            sweep = _train(name, overrides, out)
            hashes.update(_hashes(sweep, f"runs/{name}"))
            report = _report(sweep, out / "reports" / name)
            hashes.update(_hashes(report, f"reports/{name}"))
        runs = Path(os.environ.get("INSTRUMENTAL_RUNS_ROOT", ROOT / "multirun"))
        local = sorted((runs / "figures").glob("*/")) + [runs / "demo"]
        for sweep in local:
            if sweep.is_dir():
                print(f"reporting {sweep} ...", flush=True)
                report = _report(sweep, out / "gallery" / sweep.name)
                hashes.update(_hashes(report, f"gallery/{sweep.name}"))
    return hashes


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "check"):
        print("usage: identical_results.py record|check FILE.json", file=sys.stderr)
        return 2
    mode, path = argv[0], Path(argv[1])
    hashes = collect()
    if mode == "record":
        path.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(hashes)} hashes in {path}")
        return 0
    before = json.loads(path.read_text())
    changed = sorted(k for k in before.keys() & hashes.keys() if before[k] != hashes[k])
    missing = sorted(before.keys() - hashes.keys())
    new = sorted(hashes.keys() - before.keys())
    for key in changed:
        print(f"CHANGED  {key}")
    for key in missing:
        print(f"MISSING  {key}")
    for key in new:
        print(f"NEW      {key}")
    same = len(before.keys() & hashes.keys()) - len(changed)
    print(f"{same} identical, {len(changed)} changed, {len(missing)} missing, {len(new)} new")
    return 1 if changed or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
