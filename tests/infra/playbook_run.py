"""What a run of the image playbook changed, and a digest of everything that decides it.

Shared by test_playbook.py and scripts/vm/ansible-converges (the second playbook run inside the
local image's Packer build), so the build and the test judge a run by the same rules. Standard
library only: the build runs this from the VM venv, the test from wherever pytest runs.

    python3 tests/infra/playbook_run.py digest    the playbook inputs digest (see inputs_digest)
"""

from __future__ import annotations

import hashlib
import pathlib
import re
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Everything a run of the playbook against the local VM depends on, besides the release
# (recorded apart) and ansible-core (recorded apart).
INPUTS = ("ansible", "packer/local-vm-ansible-vars.json")

_RECAP = re.compile(
    r"^\S+\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)
_TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[([^\]]+)\]", re.MULTILINE)
_CHANGED = re.compile(r"^changed:", re.MULTILINE)


def recap(stdout: str) -> list[tuple[int, int, int]]:
    """(changed, unreachable, failed) for every host in the PLAY RECAP."""
    return [tuple(int(n) for n in match) for match in _RECAP.findall(stdout)]


def changed_tasks(stdout: str) -> list[str]:
    """Names of the tasks and handlers that reported `changed:` in a default-callback run."""
    headers = list(_TASK_HEADER.finditer(stdout))
    ends = [header.start() for header in headers[1:]] + [len(stdout)]
    if not headers:
        return []
    return [
        header.group(1)
        for header, end in zip(headers, ends, strict=True)
        if _CHANGED.search(stdout, header.end(), end)
    ]


def inputs_digest(root: pathlib.Path = REPO_ROOT) -> str:
    """sha256 over the path and content of every playbook input file (roles, playbook, config,
    the local VM's extra vars): equal digests mean the same playbook ran."""
    digest = hashlib.sha256()
    files: list[pathlib.Path] = []
    for name in INPUTS:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        if path.suffix == ".pyc" or "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


if __name__ == "__main__":
    if sys.argv[1:] != ["digest"]:
        sys.exit("usage: playbook_run.py digest")
    print(inputs_digest())
