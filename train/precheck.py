"""Check a command line before Hydra runs it, so that every bad input is one line.

Hydra reports a mistyped key, a wrong type or an unknown option in several lines,
without the allowed values, and a value out of range is only found by the job
itself, once a sweep has begun. :func:`check_command_line` composes the configs the
command would run the way Hydra will (the same search path and ``--config-dir``, the
sweeper's parameters), restates Hydra's errors in the project's form (field, value,
what is allowed, "did you mean") and runs the training checks on every value a sweep
takes, so a bad input stops the command before anything is written.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable
from typing import Any

import yaml
from hydra._internal.hydra import Hydra
from hydra._internal.utils import (
    create_automatic_config_search_path,
    detect_calling_file_or_module_from_task_function,
    detect_task_name,
    get_args_parser,
)
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException
from omegaconf.errors import ValidationError as OmegaValidationError

from .checks import check_job_config, check_mitigation_has_effect
from .choices import unknown_option
from .common import ConfigError, retired_setting
from .config import ALGO_SCHEMAS, ENV_SCHEMAS, LogConfig, MitigationConfig, TrainConfig

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
#: Sweepers that expand ``key=a,b`` exactly as the basic sweeper does (the project's adds
#: only fault handling), so the precheck can list their jobs.
BASIC_LIKE_SWEEPERS = (BASIC_SWEEPER, "hydra_plugins.instrumental_sweeper.InstrumentalSweeper")
#: A swept number with more values than this is checked at its first, smallest and
#: largest value (``seed=range(1000)``): the checks are ranges, so those decide.
CHECK_EVERY_VALUE_UP_TO = 20

TYPE_NAMES = {
    "Float": "a number",
    "Integer": "an integer",
    "Boolean": "true or false",
    "String": "a string",
}


class CommandLineError(ValueError):
    """A command line Hydra would refuse; the message is the one line to print."""


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Hydra's own argument parser, made to raise instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(message)


def check_command_line(
    argv: list[str],
    task_function: Callable[..., Any],
    config_path: str = "../conf",
    config_name: str = "config",
) -> str | None:
    """One line for the first bad input of ``argv``, or None when every job would start.

    ``task_function`` is the undecorated Hydra task (its module decides the config
    search path, as in ``hydra.main``). ``--help``, ``--info`` and shell completion
    are left to Hydra; ``--cfg`` gets the composition checks but not the range checks,
    so a config can still be printed to see what is wrong with it.
    """
    try:
        args = _parse_arguments(argv)
    except _ArgumentError as err:
        return f"{err}: see instrumental-train --help"
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return None
    # Compiling a large world to check it can take a while: say so (Hydra has not yet
    # set up logging).
    progress = logging.StreamHandler()
    progress.setFormatter(logging.Formatter("instrumental-train: %(message)s"))
    compile_log = logging.getLogger("instrumental.envs.exact.tables")
    compile_log.addHandler(progress)
    level = compile_log.level
    compile_log.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Hydra warns again when it runs the command
            hydra = _create_hydra(args, task_function, args.config_path or config_path)
            try:
                _check(
                    hydra,
                    args.config_name or config_name,
                    list(args.overrides),
                    multirun=bool(args.multirun),
                    ranges=args.cfg is None,
                )
            finally:
                GlobalHydra.instance().clear()
                HydraConfig.instance().cfg = None
    except (CommandLineError, ConfigError) as err:
        return " ".join(str(err).splitlines())
    except Exception:
        # A failure this check did not foresee must not block a command: Hydra runs it
        # and reports any error its own way.
        return None
    finally:
        compile_log.removeHandler(progress)
        compile_log.setLevel(level)
    return None


def _parse_arguments(argv: list[str]) -> argparse.Namespace:
    hydra_parser = get_args_parser()
    parser = _Parser(add_help=False, prog=hydra_parser.prog)
    for action in hydra_parser._actions:
        parser._add_action(action)
    return parser.parse_args(argv)


def _create_hydra(
    args: argparse.Namespace, task_function: Callable[..., Any], config_path: str
) -> Hydra:
    calling_file, calling_module = detect_calling_file_or_module_from_task_function(task_function)
    search_path = create_automatic_config_search_path(calling_file, calling_module, config_path)
    if args.config_dir is not None:
        folder = os.path.abspath(args.config_dir)
        if not os.path.isdir(folder):
            raise CommandLineError(
                f"--config-dir={args.config_dir!r} is not allowed: no such folder ({folder})"
            )
        search_path.prepend(
            provider="command-line",
            path=f"file://{folder}",
            anchor=SearchPathQuery(provider="schema"),
        )
    GlobalHydra.instance().clear()
    return Hydra.create_main_hydra2(
        task_name=detect_task_name(calling_file, calling_module), config_search_path=search_path
    )


# The command line, job by job -----------------------------------------------------------


def _check(
    hydra: Hydra, config_name: str, overrides: list[str], multirun: bool, ranges: bool
) -> None:
    loader = hydra.config_loader
    parser = OverridesParser.create(config_loader=loader)
    parsed = [_parse_override(parser, text) for text in overrides]
    _check_group_options(loader, parsed)

    def compose(run_mode: RunMode, job_overrides: list[str]) -> DictConfig:
        try:
            return hydra.compose_config(
                config_name,
                job_overrides,
                run_mode=run_mode,
                validate_sweep_overrides=run_mode == RunMode.RUN,
            )
        except Exception as err:
            raise _restate(err, job_overrides, lambda o: compose(run_mode, o)) from None

    master = compose(RunMode.MULTIRUN, overrides)
    HydraConfig.instance().set_config(master)  # for ${hydra:...} in the task's values
    if not multirun and master.hydra.mode != RunMode.MULTIRUN:
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps:
            text = sweeps[0].input_line
            raise CommandLineError(
                f"{text} is a sweep: add -m to train one job per value "
                f"(or quote it, {sweeps[0].get_key_element()}='...', to pass it as text)"
            )
        jobs = [_task(master)]
    elif master.hydra.sweeper.get("_target_") not in BASIC_LIKE_SWEEPERS:
        jobs = [_task(master)]  # another sweeper chooses its own values
    else:
        jobs = list(_sweep_jobs(hydra, master, parser))
    # A job out of range fails alone in a sweep (error.txt) and the others go on; a sweep
    # in which every job would fail stops here, as does a single run.
    results: dict[str, ConfigError | None] = {}
    for job in jobs:
        _check_job(job, ranges, results)
    errors = [err for err in results.values() if err is not None]
    if errors and len(errors) == len(results):
        raise errors[0]


def _parse_override(parser: OverridesParser, text: str) -> Override:
    key, sep, value = text.partition("=")
    try:
        override = parser.parse_override(text)
    except Exception as err:  # HydraException from the grammar, or its wrapper
        reason = str(err).splitlines()[0]
        if not sep or not key.lstrip("+~"):
            raise CommandLineError(
                f"{text!r} is not allowed: an override is key=value ({reason})"
            ) from None
        raise CommandLineError(
            f"{key}={value} cannot be read as a value ({reason}): quote it for Hydra inside "
            f"quotes for the shell, e.g. \"{key}='{value}'\""
        ) from None
    if not override.key_or_group:
        raise CommandLineError(f"{text!r} is not allowed: an override is key=value")
    return override


def _check_group_options(loader: Any, parsed: list[Override]) -> None:
    for override in parsed:
        group = override.key_or_group
        if override.is_delete() or not loader.repository.group_exists(group):
            continue
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                continue
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        options = loader.get_group_options(group)
        for value in values:
            if value not in options:
                raise CommandLineError(unknown_option(group, value, options))


def _sweep_jobs(hydra: Hydra, master: DictConfig, parser: OverridesParser) -> list[DictConfig]:
    """Configs that between them take every value of every swept key.

    The product of a sweep can be large; the checks are per value, so each key's values
    are tried in turn with the first value of every other key. Keys that pick config
    groups are composed again; other values are merged into a composed job, which is
    what Hydra does with them.
    """
    params = master.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += list(master.hydra.overrides.task)
    values: dict[str, list[str]] = {}
    plain: dict[str, bool] = {}
    for text in arguments:
        override = parser.parse_override(text)
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise CommandLineError(
                    f"{text} is not allowed: the basic sweeper takes lists, range() "
                    "and choice(), not intervals"
                )
            values[key] = [f"{key}={v}" for v in override.sweep_string_iterator()]
        else:
            values[key] = [f"{key}={override.get_value_element_as_str()}"]
        plain[key] = (
            override.key_or_group == key
            and not override.is_hydra_override()
            and not hydra.config_loader.repository.group_exists(key)
        )
    first = {key: options[0] for key, options in values.items()}
    loader = hydra.config_loader

    def compose(job: dict[str, str]) -> DictConfig:
        overrides = list(job.values())
        try:
            return loader.load_sweep_config(master, overrides)
        except Exception as err:
            raise _restate(err, overrides, lambda o: loader.load_sweep_config(master, o)) from None

    group_keys = [k for k in values if not plain[k]]
    bases = [_task(compose(first))]
    for key in group_keys:
        for option in values[key][1:]:
            bases.append(_task(compose({**first, key: option})))
    jobs = list(bases)
    for key in (k for k in values if plain[k]):
        for option in _values_to_check(parser, values[key])[1:]:
            for base in bases:
                jobs.append(_merge(parser, base, option))
    return jobs


def _values_to_check(parser: OverridesParser, options: list[str]) -> list[str]:
    if len(options) <= CHECK_EVERY_VALUE_UP_TO:
        return options
    numbers = [parser.parse_override(o).value() for o in options]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        return options
    lowest = options[numbers.index(min(numbers))]
    highest = options[numbers.index(max(numbers))]
    return [options[0], lowest, highest]


def _merge(parser: OverridesParser, base: DictConfig, text: str) -> DictConfig:
    override = parser.parse_override(text)
    job = copy.deepcopy(base)
    try:
        OmegaConf.update(job, override.key_or_group, override.value(), merge=True)
    except OmegaConfBaseException as err:
        raise CommandLineError(_type_message(err, text)) from None
    return job


def _task(config: DictConfig) -> DictConfig:
    """The job's own config: ``config`` without its ``hydra`` node (which it loses)."""
    task = copy.copy(config)
    with open_dict(task):
        del task["hydra"]
    return task


def _check_job(task: DictConfig, ranges: bool, results: dict[str, ConfigError | None]) -> None:
    """Check one job; a training check's error is kept in ``results``, others are raised."""
    missing = sorted(OmegaConf.missing_keys(task))
    if missing:
        key = missing[0]
        allowed = {"env": sorted(ENV_SCHEMAS), "algo": sorted(ALGO_SCHEMAS)}.get(key)
        choose = f"choose one of {', '.join(allowed)} with {key}=<name>" if allowed else None
        raise CommandLineError(
            f"{key} is not set (was it removed with ~{key}?): "
            f"{choose or f'give it a value with {key}=<value>'}"
        )
    if not ranges:
        return
    try:
        resolved = OmegaConf.to_container(task, resolve=True)
    except OmegaConfBaseException as err:
        raise CommandLineError(str(err).splitlines()[0]) from None
    # ``+retrain=true`` is an instruction to the resume check, not a setting of the run.
    retrain = resolved.pop("retrain", False)
    if not isinstance(retrain, bool):
        raise CommandLineError(f"retrain={retrain!r} is not allowed: must be true or false")
    key = json.dumps(resolved, sort_keys=True, default=str)
    if key in results:
        return
    try:
        check_job_config(resolved)
    except ConfigError as err:
        results[key] = err
        return
    results[key] = None
    # The job itself would train such a mitigation without a word: refuse it here.
    try:
        check_mitigation_has_effect(resolved)
    except ConfigError as err:
        raise CommandLineError(str(err)) from None


# Hydra's errors in one line -------------------------------------------------------------


def _restate(
    err: Exception, overrides: list[str], compose: Callable[[list[str]], DictConfig]
) -> CommandLineError:
    """Hydra's composition error as one line naming the field, the value and what is allowed."""
    cause = err.__cause__
    text = str(err)
    if isinstance(err, yaml.YAMLError):
        return CommandLineError(_yaml_message(err))
    match = re.match(r"In '([^']+)': (\w+) raised while composing config:\n?(.*)", text, re.S)
    if match:
        return CommandLineError(_config_file_message(*match.groups()))
    if isinstance(cause, OmegaValidationError) and not isinstance(cause, ConfigKeyError):
        override = re.search(r"Error merging override (.*)", text)
        return CommandLineError(_type_message(cause, override.group(1) if override else ""))
    match = re.match(r"Could not override '([^']+)'\. No match in the defaults list", text)
    if match:
        group = match.group(1)
        value = _value_of(group, overrides)
        return CommandLineError(
            f"{group}={value} is not allowed without a '+': {group} is not in the default "
            f"config, so add it with +{group}={value}"
        )
    match = re.match(r"Could not override '([^']+)'", text)
    if match and isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return CommandLineError(_unknown_key_message(match.group(1), cause, overrides, compose))
    match = re.match(r"Could not append to config\. An item is already at '([^']+)'", text)
    if match:
        key = match.group(1)
        return CommandLineError(
            f"+{key} is not allowed: {key} is already set, so drop the '+' "
            f"({key}={_value_of('+' + key, overrides)})"
        )
    match = re.match(r"Could not delete from config\. '([^']+)' does not exist", text)
    if match:
        key = match.group(1)
        return CommandLineError(f"~{key} is not allowed: {key} is not a setting in this config")
    match = re.match(r"Ambiguous value for argument '([^']+)'", text)
    if match:
        return CommandLineError(
            f"{match.group(1)} is a sweep: add -m to train one job per value "
            "(or write key=[a,b] for a list)"
        )
    if isinstance(err, MissingConfigException):
        match = re.search(r"Could not find '(.+)/([^/']+)'", text)
        options = re.search(r"Available options in '[^']+':\n((?:\t.*\n?)*)", text)
        if match:
            listed = options.group(1).split() if options else []
            return CommandLineError(unknown_option(match.group(1), match.group(2), listed))
    return CommandLineError(text.strip().splitlines()[0] if text.strip() else type(err).__name__)


def _value_of(key: str, overrides: list[str]) -> str:
    for text in reversed(overrides):
        name, _, value = text.partition("=")
        if name == key or name.lstrip("+~") == key:
            return value
    return "..."


def _type_message(err: OmegaConfBaseException, text: str) -> str:
    """A value of the wrong type for its field, e.g. ``seed=1.5``."""
    key = getattr(err, "full_key", None) or text.partition("=")[0].lstrip("+~")
    raw = text.partition("=")[2] if text else str(getattr(err, "value", None))
    return _wrong_type(str(key), raw, str(err), str(getattr(err, "ref_type_str", "")))


def _wrong_type(key: str, raw: str, message: str, ref_type: str = "") -> str:
    key = re.sub(r"\[\d+\]$", "", key)  # net_arch[0] -> net_arch
    message = message.splitlines()[0]
    converted = re.search(r"converted to (\w+)", message)
    if "not a valid bool" in message:
        wanted = TYPE_NAMES["Boolean"]
    elif "is not a ListConfig" in message or "List[" in ref_type:
        wanted = "a list of integers, e.g. [64,64]" if key.endswith("net_arch") else "a list"
    elif converted:
        wanted = TYPE_NAMES.get(converted.group(1), converted.group(1).lower())
    elif "is not Optional" in message or "None" in message:
        wanted = "a value (it cannot be empty)"
    else:
        wanted = message
    return f"{key}={raw or repr(raw)} is not allowed: must be {wanted}"


def _config_file_message(source: str, kind: str, detail: str) -> str:
    """An error inside a config file (a preset, or one in ``--config-dir``)."""
    found = re.search(r"full_key: (\S+)", detail)
    key = found.group(1) if found else "?"
    first = detail.splitlines()[0] if detail else kind
    if kind in ("ConfigKeyError", "ConfigAttributeError"):
        retired = retired_setting(key, "X")
        if retired:
            return f"{source}.yaml sets {key}: {retired.partition(': ')[2]}"
        parent, _, name = key.rpartition(".")
        schemas = {
            "": [TrainConfig],
            "mitigation": [MitigationConfig],
            "log": [LogConfig],
            "env": list(ENV_SCHEMAS.values()),
            "algo": list(ALGO_SCHEMAS.values()),
        }.get(parent, [])
        known = sorted({f.name for schema in schemas for f in dataclasses.fields(schema)})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f": did you mean {close[0]!r}?" if close else ""
        return f"{source}.yaml sets {key}, which is not a known setting{hint}"
    if kind == "ValidationError":
        value = re.search(r"Value '(.*)' (?:of type|is not)", first)
        return f"{source}.yaml: " + _wrong_type(key, value.group(1) if value else "?", first)
    return f"{source}.yaml: {first}"


def _unknown_key_message(
    key: str,
    cause: OmegaConfBaseException,
    overrides: list[str],
    compose: Callable[[list[str]], DictConfig],
) -> str:
    """A key that is not in the config, with the closest known key and who has it."""
    retired = retired_setting(key, _value_of(key, overrides))
    if retired:
        return retired
    parent, _, name = key.rpartition(".")
    node = getattr(cause, "parent_node", None)
    if not isinstance(node, DictConfig):
        others = [o for o in overrides if o.partition("=")[0].lstrip("+~") != key]
        config = compose(others)
        node = OmegaConf.select(config, parent) if parent else config
    known = sorted(k for k in node if k != "hydra") if isinstance(node, DictConfig) else []
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    owners = {"algo": ALGO_SCHEMAS, "env": ENV_SCHEMAS}.get(parent, {})
    elsewhere = [
        n for n, schema in owners.items() if name in {f.name for f in dataclasses.fields(schema)}
    ]
    if elsewhere and name not in known:
        current = node.get("name") if isinstance(node, DictConfig) else None
        return (
            f"{key} is not a setting of {parent}={current}: it belongs to "
            f"{' and '.join(f'{parent}={n}' for n in elsewhere)}; {parent}={current} has "
            f"{', '.join(known)}"
        )
    return f"{key} is not a known setting: {hint}must be one of {', '.join(known)}"


def _yaml_message(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None:
        return f"a config file is not valid YAML: {problem}"
    return (
        f"{mark.name} is not valid YAML: {problem} at line {mark.line + 1}, "
        f"column {mark.column + 1}"
    )
