"""The ami-ids secret: compare-and-swap writes, malformed documents, the stored form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promote.config import BUILTIN_ENVS
from promote.domain import ami_ids as ids
from promote.domain.ami_ids import AmiIds
from promote.errors import PromoteError
from tests.support.fakes import FakeSecrets

SECRET = "/concourse/dataworks/ami-ids"
DEV = "ami-0123456789abcdef0"
NEW = "ami-0fedcba9876543210"
KEYS = [e["secret_key"] for e in BUILTIN_ENVS.values()]


def _document(secrets: FakeSecrets) -> dict[str, Any]:
    value = secrets.current(SECRET).value
    loaded: dict[str, Any] = json.loads(value)
    return loaded


def _set_dev(current: AmiIds) -> dict[str, Any]:
    return {**current.document, "concourse_ami_mgmt_dev": NEW}


def test_update_writes_a_new_version_and_moves_current_only_from_the_version_read() -> None:
    secrets = FakeSecrets(json.dumps({"concourse_ami_mgmt_dev": DEV}))

    update = ids.update(secrets, secrets, SECRET, _set_dev, KEYS)

    assert update.changed and update.attempts == 1
    assert update.before.version_id == "v0"
    assert secrets.stages["v0"] == {"AWSPREVIOUS"}
    assert secrets.stages[update.version_id or ""] == {"AWSCURRENT"}  # pending label cleared
    assert _document(secrets) == {"concourse_ami_mgmt_dev": NEW}


def test_update_retries_after_a_concurrent_writer_and_keeps_their_change() -> None:
    secrets = FakeSecrets(json.dumps({"concourse_ami_mgmt_dev": DEV}))
    raced: list[str] = []

    def concurrent_writer(fake: FakeSecrets) -> None:
        if not raced:
            raced.append(fake.write_directly(json.dumps({"concourse_ami_mgmt_dev": DEV, "x": "y"})))

    secrets.before_put = concurrent_writer
    progress: list[str] = []

    update = ids.update(secrets, secrets, SECRET, _set_dev, KEYS, progress=progress.append)

    assert update.attempts == 2
    assert _document(secrets) == {"concourse_ami_mgmt_dev": NEW, "x": "y"}
    assert "attempt 1/5" in progress[0]
    assert not any("promote-pending" in s for s in secrets.stages.values())


def test_update_gives_up_with_exit_6_after_a_bounded_number_of_attempts() -> None:
    secrets = FakeSecrets(json.dumps({"concourse_ami_mgmt_dev": DEV}))
    secrets.before_put = lambda fake: fake.write_directly(fake.current(SECRET).value)

    with pytest.raises(PromoteError) as raised:
        ids.update(secrets, secrets, SECRET, _set_dev, KEYS, attempts=3)

    assert raised.value.exit_code == 6
    assert "gave up after 3 attempts" in raised.value.message
    assert len(secrets.puts) == 3
    assert _document(secrets) == {"concourse_ami_mgmt_dev": DEV}


def test_update_writes_nothing_when_the_change_changes_nothing() -> None:
    secrets = FakeSecrets(json.dumps({"concourse_ami_mgmt_dev": NEW}))

    update = ids.update(secrets, secrets, SECRET, _set_dev, KEYS)

    assert not update.changed
    assert secrets.puts == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "holds a JSON list, not an object"),
        ('"ami-0123456789abcdef0"', "holds a JSON str, not an object"),
        ('{"concourse_ami": ["ami-0123456789abcdef0"]}', "'concourse_ami' holds ["),
        ('{"concourse_ami": "ami-nope"}', "'concourse_ami' holds 'ami-nope', not an AMI id"),
        ('{"_pins": {"management": {"ami": 7}}}', "'_pins.management.ami' holds 7"),
        ('{"_pins": []}', "'_pins' must map env names to objects"),
    ],
)
def test_update_refuses_a_malformed_secret_with_exit_2_and_writes_nothing(
    value: str, message: str
) -> None:
    secrets = FakeSecrets(value)

    with pytest.raises(PromoteError) as raised:
        ids.update(secrets, secrets, SECRET, _set_dev, KEYS)

    assert raised.value.exit_code == 2
    assert message in raised.value.message
    assert "never overwrites a malformed secret" in raised.value.hint
    assert secrets.puts == []


def test_update_writes_secret_binary_back_as_binary_with_unknown_keys_untouched() -> None:
    original = {"concourse_ami_mgmt_dev": DEV, "terraform": {"nested": [1, 2]}}
    secrets = FakeSecrets(json.dumps(original).encode())

    ids.update(secrets, secrets, SECRET, _set_dev, KEYS)

    value = secrets.current(SECRET).value
    assert isinstance(value, bytes)
    assert json.loads(value) == {**original, "concourse_ami_mgmt_dev": NEW}


def test_a_rerun_after_a_crash_reuses_the_same_request_token() -> None:
    secrets = FakeSecrets(json.dumps({"concourse_ami_mgmt_dev": DEV}))
    value = ids.serialize({"concourse_ami_mgmt_dev": NEW}, binary=False)
    crashed = secrets.put_pending(SECRET, ids.request_token("v0", value), value)

    update = ids.update(secrets, secrets, SECRET, _set_dev, KEYS)

    assert update.version_id == crashed
    assert len(secrets.versions) == 2  # the version the crashed run wrote, and no other


def test_request_tokens_differ_for_another_version_read_or_another_value() -> None:
    token = ids.request_token("v0", "a")

    assert token == ids.request_token("v0", "a")
    assert token != ids.request_token("v1", "a")
    assert token != ids.request_token("v0", "b")


def test_removing_the_last_pin_drops_the_pins_key() -> None:
    from promote.config import Environment

    env = Environment("management", "concourse_ami", ("web",), "tested")
    document = {"concourse_ami": DEV, "_pins": {"management": {"ami": DEV}}}

    assert ids.without_pin(document, env) == {"concourse_ami": DEV}
    assert ids.without_pin({**document, "_pins": {"management": {}, "x": {}}}, env) == {
        "concourse_ami": DEV,
        "_pins": {"x": {}},
    }


def test_a_refused_move_with_no_other_writer_is_a_remote_error_not_a_retry_loop() -> None:
    secrets = FakeSecrets(json.dumps({"concourse_ami_mgmt_dev": DEV}))
    secrets.make_current = lambda secret_id, version_id, from_version_id: False  # type: ignore[method-assign]

    with pytest.raises(PromoteError) as raised:
        ids.update(secrets, secrets, SECRET, _set_dev, KEYS)

    assert raised.value.exit_code == 5
    assert len(secrets.puts) == 1


def test_a_secret_nested_deeper_than_promote_reads_is_malformed_not_a_crash() -> None:
    from promote.domain.ami_ids import SecretVersion, parse

    with pytest.raises(PromoteError) as refused:
        parse("s", SecretVersion("v1", "[" * 100_000 + "]" * 100_000))

    assert refused.value.exit_code == 2
    assert refused.value.message == "secret s nests JSON deeper than promote reads"
