"""`promote audit`: verify every record and event of the ledger; exit 3 when anything is wrong."""

from __future__ import annotations

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, env_option, pass_app
from promote.domain import audit as audit_module
from promote.errors import ExitCode


@click.command()
@env_option("Report only on this environment's records and events.", required=False)
@ami_option("Report only on this AMI's records and events.")
@click.option("--since", help="Report only on objects written since this date or time (UTC).")
@pass_app
def audit(app: AppContext, env_name: str | None, ami: str | None, since: str | None) -> None:
    """Verify every record and event: signatures, versions, delete markers, chains."""
    report = audit_module.audit(app.services(), env_name, ami, since)
    app.output.result("audit", report)
    if not report.clean:
        click.get_current_context().exit(ExitCode.CHECK_FAILED)
