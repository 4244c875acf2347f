"""`promote history`: evidence and events, newest first."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from promote.cli.app import AppContext
from promote.cli.options import ami_option, env_option, parse_duration, pass_app
from promote.clock import utc_stamp
from promote.domain import audit
from promote.domain import history as history_module
from promote.errors import PromoteError


def since_stamp(text: str | None, now: datetime) -> str | None:
    """--since as a ledger stamp: a duration ago (7d), else an ISO date or time (UTC)."""
    if text and text.strip() and text.strip()[-1:].lower() in "smhd":
        try:
            return utc_stamp(now - timedelta(seconds=parse_duration(text)))
        except PromoteError:
            pass
    try:
        return audit.since_stamp(text)
    except PromoteError as exc:
        exc.hint = "write it as 2026-11-01, 2026-11-01T09:00Z or 7d"
        raise


@click.command()
@ami_option("Only this AMI.")
@env_option("Only this environment.", required=False)
@click.option(
    "--since",
    help="Only what was written since this date or time (UTC: 2026-11-01, 2026-11-01T09:00Z) "
    "or this long ago (7d, 12h).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N entries.")
@pass_app
def history(
    app: AppContext, ami: str | None, env_name: str | None, since: str | None, limit: int | None
) -> None:
    """Evidence and events, newest first."""
    if env_name:
        app.config.environment(env_name)
    stamp = since_stamp(since, app.clock.now())
    entries = history_module.history(app.services(), ami, env_name, stamp, limit)
    app.output.result("history", history_module.History(entries))
