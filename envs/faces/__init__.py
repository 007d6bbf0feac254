"""The faces a learner sees, all driven by the compiled tables.

``gym_env.py`` is a Gymnasium ``Env``; ``vec_env.py`` a batched stable-baselines3
``VecEnv``; ``vector_env.py`` a Gymnasium ``VectorEnv``.
"""
