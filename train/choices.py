"""Catch an unknown config-group option (``env=offswtch``) and suggest the closest name."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib.resources import files

GROUPS = ("env", "algo", "mitigation", "experiment")


def available(group: str) -> list[str]:
    """The options of a config group: the YAML files in ``instrumental/conf/<group>``, and
    for ``env`` every registered world's name and aliases (their configs are generated)."""
    folder = files("instrumental.conf").joinpath(group)
    options = {p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")}
    if group == "env":
        from instrumental.envs import ALIASES, WORLDS

        options |= {*WORLDS, *ALIASES}
    return sorted(options)


def unknown_option(group: str, option: str, options: list[str]) -> str:
    """The one line for ``group=option`` when ``option`` is not among ``options``."""
    close = difflib.get_close_matches(option, options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{group}={option!r} is not a known {group}: {hint}choose one of {', '.join(options)}"


def check_group_choices(
    arguments: list[str], options_of: Callable[[str], list[str]] = available
) -> str | None:
    """One line naming the first unknown option among ``group=a,b`` arguments, or None.

    ``options_of`` lists a group's options; the default reads the packaged configs,
    the command line passes Hydra's view, which includes ``--config-dir``.
    """
    for argument in arguments:
        key, sep, value = argument.partition("=")
        group = key.lstrip("+~")
        if not sep or group not in GROUPS or value.startswith(("choice(", "range(", "glob(")):
            continue
        options = options_of(group)
        for option in value.split(","):
            if option not in options:
                return unknown_option(group, option, options)
    return None
