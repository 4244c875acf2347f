"""Loading the pipelines, team configs and workflows, and walking what they contain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
TEAMS = PIPELINES / "teams"
WORKFLOWS = ROOT / ".github" / "workflows"
PIPELINE_NAMES = ("ami-builder", "concourse-admin", "concourse")
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env"}
VAR = re.compile(r"\(\(([^()]+)\)\)")
STEP_KINDS = ("get", "put", "task", "set_pipeline", "load_var", "in_parallel", "do", "try")
HOOKS = ("ensure", "on_success", "on_failure", "on_error", "on_abort")


class UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping, as fly does."""


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Construct a mapping, refusing duplicate keys."""
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node)
    return mapping


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(path: Path) -> Any:
    """The YAML document at PATH (anchors and merge keys resolved, duplicate keys refused)."""
    return yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader


def pipeline(name: str) -> dict[str, Any]:
    """The pipeline NAME (pipelines/NAME.yml)."""
    data = load_yaml(PIPELINES / f"{name}.yml")
    assert isinstance(data, dict)
    return data


def pipeline_vars(name: str) -> dict[str, Any]:
    """The vars file of pipeline NAME (pipelines/vars/NAME.yml)."""
    data = load_yaml(PIPELINES / "vars" / f"{name}.yml")
    assert isinstance(data, dict)
    return data


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, string) in NODE, keys and values."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", str(key)
            yield from strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def var_names(node: Any) -> set[str]:
    """The names of the ((vars)) NODE uses (`((source:name.field))` is `name`)."""
    names = set()
    for _, text in strings(node):
        for ref in VAR.findall(text):
            ref = ref.strip().split(":", 1)[-1]
            names.add(ref.split(".", 1)[0].strip('"'))
    return names


def step_kind(step: dict[str, Any]) -> str:
    """Which kind of step STEP is (its one step key)."""
    kinds = [k for k in STEP_KINDS if k in step]
    assert len(kinds) == 1, f"a step needs exactly one of {STEP_KINDS}: {step}"
    return kinds[0]


def walk_steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step in STEPS, nested ones and hooks included, in plan order."""
    for step in steps:
        yield step
        kind = step_kind(step)
        if kind == "in_parallel":
            inner = step["in_parallel"]
            yield from walk_steps(inner["steps"] if isinstance(inner, dict) else inner)
        elif kind == "do":
            yield from walk_steps(step["do"])
        elif kind == "try":
            yield from walk_steps([step["try"]])
        for hook in HOOKS:
            if hook in step:
                yield from walk_steps([step[hook]])


def job_steps(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every step of JOB: its plan and its job-level hooks."""
    yield from walk_steps(job["plan"])
    for hook in HOOKS:
        if hook in job:
            yield from walk_steps([job[hook]])


@dataclass(frozen=True)
class Run:
    """One script (or command) a pipeline task or workflow step runs."""

    where: str
    script: str | None
    argv: tuple[str, ...]
    environ: dict[str, str]
    dialect: str


def task_runs(name: str) -> Iterator[Run]:
    """The run of every task of pipeline NAME: a shell script, or a plain command."""
    for job in pipeline(name)["jobs"]:
        for step in job_steps(job):
            if "task" not in step:
                continue
            where = f"pipelines/{name}.yml job {job['name']} task {step['task']}"
            assert "config" in step, f"{where}: use an inline config, so the test can read it"
            config = step["config"]
            run = config["run"]
            argv = (run["path"], *[str(a) for a in run.get("args", [])])
            environ = {
                k: str(v) for k, v in {**config.get("params", {}), **step.get("params", {})}.items()
            }
            yield _run(where, argv, environ)


def _run(where: str, argv: tuple[str, ...], environ: dict[str, str]) -> Run:
    if argv[0] in SHELLS and len(argv) >= 3 and re.fullmatch(r"-[a-z]*c", argv[1]):
        dialect = "bash" if argv[0].endswith("bash") else "sh"
        return Run(where, argv[2], argv, environ, dialect)
    return Run(where, None, argv, environ, "none")


def workflow(name: str) -> dict[str, Any]:
    """The workflow .github/workflows/NAME."""
    data = load_yaml(WORKFLOWS / name)
    assert isinstance(data, dict)
    return data


def workflow_runs(name: str) -> Iterator[Run]:
    """The `run:` script of every step of workflow NAME, with the env it runs with."""
    data = workflow(name)
    for job_id, job in data["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            if "run" not in step:
                continue
            where = f".github/workflows/{name} job {job_id} step {step.get('name', index)}"
            environ = {
                **{k: str(v) for k, v in data.get("env", {}).items()},
                **{k: str(v) for k, v in job.get("env", {}).items()},
                **{k: str(v) for k, v in step.get("env", {}).items()},
            }
            yield Run(where, step["run"], ("bash", "-e", "-c", step["run"]), environ, "bash")
