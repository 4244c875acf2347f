"""Release tags from a template (`release_tag` in promote.toml), idempotent for one AMI.

The default, `concourse-{version}-{ami}`, names the AMI, so a re-run finds the release it made.
Consumers that detect releases by semver tags (github-release-resource) get
`release_tag = "v{semver}"`: the patch of the newest semver tag of that form, plus one (0.1.0
for the first). Such a tag does not name the AMI, so before bumping, the release already made
for the AMI is looked for (its title names the AMI): a re-run gets the same tag, never a
second release. `{version}` is the image's Concourse version, `{ami}` its id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from promote.errors import usage_error

DEFAULT_TEMPLATE = "concourse-{version}-{ami}"
FIRST = (0, 1, 0)
_FIELDS = {"version", "ami", "semver"}


def check(template: str) -> str:
    """TEMPLATE if it uses only {version}, {ami} and {semver}; a usage error otherwise."""
    used = set(re.findall(r"\{(\w*)\}", template))
    if not used <= _FIELDS or "{" in re.sub(r"\{\w*\}", "", template):
        raise usage_error(
            f"release_tag '{template}' uses something other than {{version}}, {{ami}}, {{semver}}",
            'e.g. release_tag = "v{semver}" or "concourse-{version}-{ami}"',
        )
    if not used & {"ami", "semver"}:
        raise usage_error(
            f"release_tag '{template}' names neither the AMI nor a semver: every release would "
            "get the same tag",
            'add {ami} or {semver}, e.g. release_tag = "v{semver}"',
        )
    return template


def semver_of(template: str, tag: str) -> tuple[int, int, int] | None:
    """The semver in TAG when TAG has TEMPLATE's form."""
    pattern = re.escape(template)
    for name, regex in (
        ("semver", r"(?P<semver>\d+\.\d+\.\d+)"),
        ("version", r"[^/]+?"),
        ("ami", r"ami-[0-9a-f]+"),
    ):
        pattern = pattern.replace(re.escape("{" + name + "}"), regex)
    match = re.fullmatch(pattern, tag)
    if not match or "semver" not in match.groupdict():
        return None
    major, minor, patch = (int(p) for p in match.group("semver").split("."))
    return major, minor, patch


def prefix_of(template: str) -> str:
    """The literal start of TEMPLATE (where its tags can be listed from)."""
    return template.split("{", 1)[0]


def tag_for(
    template: str, version: str, ami: str, existing: str | None, tags: Iterable[str]
) -> str:
    """The tag of the release of AMI: EXISTING (the one already made for it) when there is
    one; else TEMPLATE filled in, with the next patch after the newest of TAGS for {semver}."""
    if existing:
        return existing
    if "{semver}" not in template:
        return template.format(version=version, ami=ami, semver="")
    found = [s for t in tags if (s := semver_of(template, t)) is not None]
    major, minor, patch = max(found) if found else (FIRST[0], FIRST[1], FIRST[2] - 1)
    return template.format(version=version, ami=ami, semver=f"{major}.{minor}.{patch + 1}")
