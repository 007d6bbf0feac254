"""Worlds, the tabular engine, exact solvers and rendering.

Three layers, each importing only those before it: ``worlds/`` (one file per world,
registered by name), ``exact/`` (compiled tables, solver, exact evaluation, POWER) and
``faces/`` (Gymnasium env, SB3 VecEnv, Gymnasium VectorEnv); ``registration.py`` gives
every registered world its faces and Gymnasium id ``instrumental/<World>-v0``.
Importing this package imports every world of ``worlds/`` and the user world modules
named in ``$INSTRUMENTAL_WORLDS``, and exports each world class by its name.
"""

if __name__ == "envs":  # this folder imported from the repository root, beside the installed copy
    import sys

    _USE = "import instrumental.envs, not envs: the folder envs/ is the package instrumental.envs"
    # `python -m envs` gets this line alone; `import envs`, an ImportError saying it.
    raise SystemExit(_USE) if sys.argv[:1] == ["-m"] else ImportError(_USE)


import importlib as _importlib
import pkgutil as _pkgutil
import sys as _sys

from . import worlds as _worlds
from .exact.evaluation import (
    EventStats,
    PolicyEvaluation,
    evaluate_policies,
    evaluate_policy,
    greedy,
)
from .exact.power import PowerEstimate, estimate_power
from .exact.reference import reference_evaluation
from .exact.solver import Solution, solve
from .exact.tables import CompiledWorld, compile_world
from .faces.gym_env import TabularEnv
from .faces.vec_env import TabularVecEnv
from .faces.vector_env import TabularVectorEnv
from .registration import register_all, register_world
from .worlds.registry import (
    ALIASES,
    ENV_IDS,
    WORLDS,
    event_phrase,
    knob_label,
    load_world_modules,
    register,
    rule_sets,
    world_named,
)
from .worlds.world import KnobError, Outcome, World

# Every world of worlds/ registers itself on import: a new file there needs no line here.
for _module in _pkgutil.iter_modules(_worlds.__path__):
    _importlib.import_module(f"{_worlds.__name__}.{_module.name}")

# The modules' paths before envs/ had layers, so old imports and pickles still find them.
_MOVED = {
    "world": "worlds.world",
    "offswitch": "worlds.offswitch",
    "compute_grab": "worlds.compute_grab",
    "replacement": "worlds.replacement",
    "drawing": "worlds.drawing",
    "mitigations": "worlds.mitigations",
    "tables": "exact.tables",
    "solver": "exact.solver",
    "evaluation": "exact.evaluation",
    "power": "exact.power",
    "gym_env": "faces.gym_env",
    "vec_env": "faces.vec_env",
    "vector_env": "faces.vector_env",
}
for _old, _new in _MOVED.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _sys.modules[f"{__name__}.{_new}"])

register_all()
load_world_modules()

__all__ = [
    "ALIASES",
    "ENV_IDS",
    "WORLDS",
    "CompiledWorld",
    "EventStats",
    "KnobError",
    "Outcome",
    "PolicyEvaluation",
    "PowerEstimate",
    "Solution",
    "TabularEnv",
    "TabularVecEnv",
    "TabularVectorEnv",
    "World",
    "compile_world",
    "estimate_power",
    "evaluate_policies",
    "evaluate_policy",
    "event_phrase",
    "greedy",
    "knob_label",
    "load_world_modules",
    "reference_evaluation",
    "register",
    "register_all",
    "register_world",
    "rule_sets",
    "solve",
    "world_named",
]
# Each registered world by its class name (OffSwitch, ComputeGrab, Replacement, ...).
globals().update({cls.__name__: cls for cls in WORLDS.values()})
__all__ += sorted(cls.__name__ for cls in WORLDS.values())


def __getattr__(name: str) -> type[World]:
    """A world registered after this package was imported, by its class name."""
    for cls in WORLDS.values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
