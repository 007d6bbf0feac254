"""A long exact evaluation says how far it has come, and saying so changes no number."""

from __future__ import annotations

import logging

import numpy as np

from instrumental.envs import OffSwitch, compile_world, evaluate_policies
from instrumental.envs import evaluation as evaluation_module


def test_a_slow_evaluation_logs_progress_lines_and_the_same_results(monkeypatch, caplog):
    table = compile_world(OffSwitch(shutdown_prob=0.3))
    rng = np.random.default_rng(0)
    policies = rng.dirichlet(np.ones(table.n_actions), size=(6, table.n_states))
    quiet = evaluate_policies(table, policies, 0.99)
    # One policy a chunk, and every chunk "slow": a progress line after each.
    monkeypatch.setattr(evaluation_module, "CHUNK_ENTRIES", 1)
    monkeypatch.setattr(evaluation_module, "PROGRESS_SECONDS", -1.0)
    with caplog.at_level(logging.INFO, logger="instrumental.envs"):
        logged = evaluate_policies(table, policies, 0.99)
    lines = [r.getMessage() for r in caplog.records if "exact evaluation" in r.getMessage()]
    assert len(lines) == 6
    assert lines[-1].startswith(f"exact evaluation: 6 of 6 policies over {table.n_states} states")
    assert [r.expected_return for r in logged] == [r.expected_return for r in quiet]
