"""The worlds: one file each (its dynamics, knobs, events, pictures), registered by name.

``world.py`` is the base every world fills in; ``registry.py`` holds them by name;
``mitigations.py`` turns any world into a mitigated world; ``drawing.py`` paints cells.
``instrumental.envs`` imports every module of this folder, so a new file here with an
``@register``-ed class is a new world everywhere.
"""
