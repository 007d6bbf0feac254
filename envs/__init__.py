"""Worlds, the tabular engine, exact solvers and rendering.

Importing this package registers the Gymnasium ids ``instrumental/<World>-v0``.
"""

if __name__ == "envs":  # this folder imported from the repository root, beside the installed copy
    import sys

    _USE = "import instrumental.envs, not envs: the folder envs/ is the package instrumental.envs"
    # `python -m envs` gets this line alone; `import envs`, an ImportError saying it.
    raise SystemExit(_USE) if sys.argv[:1] == ["-m"] else ImportError(_USE)


from .compute_grab import ComputeGrab
from .evaluation import EventStats, PolicyEvaluation, evaluate_policies, evaluate_policy, greedy
from .gym_env import TabularEnv
from .offswitch import OffSwitch
from .power import PowerEstimate, estimate_power
from .registration import ENV_IDS, WORLDS, register_all, register_world
from .replacement import Replacement
from .solver import Solution, solve
from .tables import CompiledWorld, compile_world
from .vec_env import TabularVecEnv
from .vector_env import TabularVectorEnv
from .world import KnobError, Outcome, World

compile = compile_world  # the name DESIGN.md uses

register_all()

__all__ = [
    "ENV_IDS",
    "WORLDS",
    "CompiledWorld",
    "ComputeGrab",
    "EventStats",
    "KnobError",
    "OffSwitch",
    "Outcome",
    "PolicyEvaluation",
    "PowerEstimate",
    "Replacement",
    "Solution",
    "TabularEnv",
    "TabularVecEnv",
    "TabularVectorEnv",
    "World",
    "compile",
    "compile_world",
    "estimate_power",
    "evaluate_policies",
    "evaluate_policy",
    "greedy",
    "register_all",
    "register_world",
    "solve",
]
