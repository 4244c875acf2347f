"""Text views show what the secret, tags and the ledger hold as text: markup is not applied and
control characters (a terminal's escape sequences) are shown, not sent."""

from __future__ import annotations

import io

from rich.console import Console

from promote.cli import render
from promote.domain.ami_ids import Pin
from promote.domain.history import Entry, History
from promote.domain.pins import PinResult
from promote.domain.set_ids import SetIdsResult
from promote.domain.status import EnvStatus, StatusReport

HOSTILE = "freeze [bold red]until[/] \x1b[2J\x1b[31mforever\r"


def shown(value: object) -> str:
    out = io.StringIO()
    render.show(Console(file=out, width=300, color_system=None), value)
    return out.getvalue()


def test_a_pin_reason_from_the_secret_is_shown_as_text() -> None:
    pin = Pin("ami-0123456789abcdef0", "mallory", HOSTILE, "2026-12-01T00:00:00+00:00", None)
    row = EnvStatus(
        "management", "tested", "ami-0123456789abcdef0", pin, False, 2, {}, None, None, None
    )

    text = shown(StatusReport("/concourse/dataworks/ami-ids", [row], []))

    assert "[bold red]until[/]" in text
    assert "\x1b" not in text and "\r" not in text
    assert "\\x1b[2J" in text


def test_a_history_line_from_the_ledger_is_shown_as_text() -> None:
    entry = Entry("20261203T000000.000000Z", "pin", None, (), HOSTILE, "events/x.json")

    text = shown(History([entry]))

    assert "\x1b" not in text and "[bold red]until[/]" in text


def test_plain_lines_show_control_characters() -> None:
    out = io.StringIO()
    render.lines(Console(file=out, width=300), [HOSTILE])

    assert out.getvalue() == render.printable(HOSTILE) + "\n"
    assert "\x1b" not in out.getvalue()


ARN = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ReleaseManager_0123abcd/rm@example.com"


def _status_with_long_cells() -> StatusReport:
    pin = Pin("ami-0123456789abcdef0", ARN, "release " * 12, "2026-12-01", None)
    row = EnvStatus(
        "management", "tested", "ami-0123456789abcdef0", pin, False, 2, {}, None, None, None
    )
    return StatusReport("/concourse/dataworks/ami-ids", [row], [])


def test_a_narrow_terminal_never_cuts_or_wraps_an_ami_id_or_arn() -> None:
    out = io.StringIO()
    render.show(Console(file=out, width=40, color_system=None), _status_with_long_cells())

    text = out.getvalue()
    assert ARN in text
    assert any("ami-0123456789abcdef0" in line for line in text.splitlines())
    assert "…" not in text


def test_off_a_terminal_nothing_is_hard_wrapped() -> None:
    from promote.cli.output import Output

    out = io.StringIO()  # not a terminal
    line = "moved management in its secret: " + " ".join(f"ami-{n:017x}" for n in range(12))

    Output("text", stdout=out).console().print(line, markup=False)
    render.lines(Output("text", stdout=out).console(), [line])

    assert out.getvalue() == f"{line}\n{line}\n"


def test_a_recovered_event_is_said_in_the_text_of_set_ids_and_pin() -> None:
    key = "events/20261203T000000.000000Z-set-ids-ami-0123456789abcdef0+v1.json"
    done = SetIdsResult("ami-0123456789abcdef0", unchanged=["management-dev"], event_key=key)
    held = {"ami": "ami-0123456789abcdef0", "owner": "alice", "reason": "hold"}

    recovered = shown(SetIdsResult(**{**done.__dict__, "recovered_event": True}))
    pinned = shown(PinResult("management", held, None, None, False, None, key, {}, True))

    assert f"recorded the missing event (recovered): {key}" in recovered
    assert "management-dev is already on ami-0123456789abcdef0: nothing to write" in recovered
    assert f"event: {key}" in shown(done) and "recovered" not in shown(done)
    assert pinned.splitlines()[-1] == f"recorded the missing event (recovered): {key}"
