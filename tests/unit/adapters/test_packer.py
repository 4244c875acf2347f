"""Reading Packer: machine-readable lines and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promote.adapters.packer import command, failure, parse_line, parse_variables, read_manifest
from promote.domain.build import BuildRequest
from promote.errors import PromoteError


def test_machine_readable_lines_decode_commas_and_newlines() -> None:
    line = "1700000000,amazon-ebs.sandbox,ui,error,Build failed%!(PACKER_COMMA) see\\nbelow\n"

    assert parse_line(line) == ("ui", ["error", "Build failed, see\nbelow"])
    assert parse_line("plain text from a plugin") is None


def test_the_command_selects_one_source_and_passes_variables_in_order() -> None:
    request = BuildRequest("sandbox", Path("packer"), Path("m.json"), {"b": "2", "a": "1"})

    assert command("/usr/bin/packer", request) == [
        "/usr/bin/packer",
        "build",
        "-machine-readable",
        "-color=false",
        "-only=amazon-ebs.sandbox",
        "-var",
        "a=1",
        "-var",
        "b=2",
        "packer",
    ]


def test_the_manifest_gives_the_last_runs_ami(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {
                "builds": [
                    {
                        "artifact_id": "eu-west-2:ami-0old",
                        "packer_run_uuid": "r1",
                        "custom_data": {},
                    },
                    {
                        "artifact_id": "eu-west-2:ami-0new",
                        "packer_run_uuid": "r2",
                        "custom_data": {"ami_name": "untested-x-1"},
                    },
                ],
                "last_run_uuid": "r2",
            }
        )
    )

    assert read_manifest(path) == ("eu-west-2", "ami-0new", "untested-x-1")


def test_a_manifest_without_the_last_run_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"builds": [], "last_run_uuid": "r9"}))

    with pytest.raises(PromoteError) as caught:
        read_manifest(path)
    assert "has no build for its last run" in caught.value.message


def test_a_refusal_in_packers_errors_is_exit_5_with_the_policy_hint() -> None:
    errors = [
        "Error launching source instance: UnauthorizedOperation: You are not authorized to "
        "perform this operation. Encoded authorization failure message: abc"
    ]

    error = failure(errors, 1, "aws")

    assert error.exit_code == 5
    assert error.message.startswith("packer build failed: AWS refused an action: Error launching")
    assert "promote iam-policy build" in error.hint


def test_other_packer_failures_keep_packers_last_error() -> None:
    error = failure(["first", "Error creating AMI: InvalidAMIName.Duplicate"], 1, "sandbox")

    assert error.exit_code == 1
    assert error.message == "packer build failed: Error creating AMI: InvalidAMIName.Duplicate"


def test_packer_inspect_gives_each_variables_default() -> None:
    # As Debian's packer 1.6.6 prints `packer inspect -machine-readable packer/`.
    lines = [
        "1796351830,,ui,say,Packer Inspect: HCL2 mode\\n",
        '1796351830,,ui,say,> input-variables:\\n\\nvar.ami_users: "[]"\\n'
        'var.aws_region: "eu-west-2"\\nvar.source_ami: ""\\n'
        'var.source_ami_name: "al2023-ami-2023.*-x86_64"\\nvar.vm_cpus: "2"\\n\\n'
        '> local-variables:\\n\\nlocal.ami_name: "untested-x-1"\\n',
    ]

    found = parse_variables(lines)

    assert found == {
        "ami_users": "[]",
        "aws_region": "eu-west-2",
        "source_ami": "",
        "source_ami_name": "al2023-ami-2023.*-x86_64",
        "vm_cpus": "2",
    }
