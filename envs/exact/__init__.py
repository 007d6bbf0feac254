"""Exact math on a world's compiled tables: no sampling, no learning.

``tables.py`` compiles a world into dense arrays; ``solver.py`` owns the Bellman
backups, the fixed-point iteration and its tolerances; ``evaluation.py`` evaluates
policies exactly (fast); ``reference.py`` is the short dense specification it is tested
against; ``power.py`` estimates POWER.
"""
