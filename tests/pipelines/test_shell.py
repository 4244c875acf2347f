"""The shell reader finds every command of a script, or refuses the script."""

from __future__ import annotations

import pytest

from tests.pipelines.shell import AMI_PLACEHOLDER, Unparseable, environment_values, parse


def test_commands_are_split_at_separators_newlines_and_continuations() -> None:
    """`;`, `&&`, `||`, `|`, newlines and backslash-newline are handled like sh does."""
    script = 'a 1; b "2 3" && c || d | e\nf \\\n  --flag\n'
    assert parse(script).commands == [
        ["a", "1"],
        ["b", "2 3"],
        ["c"],
        ["d"],
        ["e"],
        ["f", "--flag"],
    ]


def test_substitutions_are_commands_of_their_own_and_leave_an_ami_shaped_value() -> None:
    """`$(...)` bodies are parsed too; the word they stood in gets an AMI-shaped placeholder."""
    script = 'tested="$(promote -o json publish --ami "$ami" | python3 -c \'x()\')"\ngo "$tested"'
    result = parse(script)
    assert ["promote", "-o", "json", "publish", "--ami", AMI_PLACEHOLDER] in result.commands
    assert ["python3", "-c", "x()"] in result.commands
    assert result.assigns == {"tested"}
    assert result.reads == {"ami", "tested"}


def test_variables_take_their_literal_values_else_a_placeholder() -> None:
    """Known literal values are used; expressions and unknown names get placeholders."""
    value_of = environment_values({"ENV": "management-dev", "TOKEN": "((github-token))"})
    result = parse('promote validate --env "$ENV" --x ${TOKEN} --ami $AMI_ID', value_of)
    assert result.commands == [
        ["promote", "validate", "--env", "management-dev", "--x", "x", "--ami", AMI_PLACEHOLDER]
    ]


def test_comments_redirections_keywords_and_assignments_are_not_arguments() -> None:
    """`# ...`, `> f`, `2>&1`, `if`/`then`/`fi`, `!` and `A=b` prefixes are dropped."""
    script = (
        "# promote nothing\n"
        "if ! A=1 promote gate --ami x > out 2>&1; then echo '#no' >> log; fi\n"
        "export B=2\n"
    )
    result = parse(script)
    assert result.commands == [["promote", "gate", "--ami", "x"], ["echo", "#no"]]
    assert result.assigns == {"A", "B"}


@pytest.mark.parametrize(
    "script",
    [
        "promote gate --ami `cat id`",
        "promote gate --ami ${AMI:-ami-1}",
        "for a in 1 2; do promote gate --ami $a; done",
        "eval promote gate",
        "echo $((1 + 2))",
        'promote gate --ami "unterminated',
        "promote gate --ami $(cat id",
    ],
)
def test_shell_it_cannot_read_is_refused(script: str) -> None:
    """Constructs that could hide or change a command raise Unparseable."""
    with pytest.raises(Unparseable):
        parse(script)
