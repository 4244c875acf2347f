"""A PROMOTE_TEST_HOOKS seam (`tests.support.calls:record_calls`): every AWS call a CLI run
makes, by the IAM action AWS checks for it (read back from CALLS by in-process runs)."""

from __future__ import annotations

from typing import Any

from promote.adapters.aws.session import Aws, iam_action

CALLS: list[str] = []


def record_calls(aws: Aws) -> None:
    """Test hook: remember the IAM action of each call the command makes."""

    def before_call(model: Any, **_: Any) -> None:
        CALLS.append(iam_action(model.service_model.signing_name, model.name))

    aws.on("before-call", before_call)
