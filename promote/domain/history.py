"""`promote history`: evidence records and events, newest first, for an AMI and/or an env."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promote.domain import events, evidence
from promote.domain.ledger import EvidenceRef, stamp_of
from promote.domain.results import renamed

if TYPE_CHECKING:
    from promote.domain.services import Services

AWS_ACTIONS = {"history": ("s3:ListBucket", "s3:GetObject", "kms:GetPublicKey")}


@dataclass(frozen=True)
class Entry:
    """One line of history: a check (evidence) or a change (event)."""

    stamp: str
    kind: str
    ami: str | None
    envs: tuple[str, ...]
    summary: str
    key: str
    document: dict[str, Any] | None = field(default=None, metadata=renamed("event"))


@dataclass(frozen=True)
class History:
    """Evidence and events, newest first."""

    entries: list[Entry]


def _mentions(document: dict[str, Any], ami: str) -> bool:
    if document.get("ami") == ami or document.get("tested_image") == ami:
        return True
    return ami in (document.get("deleted") or {})


def _summary(document: dict[str, Any]) -> str:
    """One line for an event; a recovered one (written by a re-run after a kill) says so."""
    line = _said(document)
    return f"{line} (recovered)" if document.get("recovered") else line


def _said(document: dict[str, Any]) -> str:
    kind = document.get("kind", "?")
    who = (document.get("actor") or {}).get("user", "?")
    reason = f": {document['reason']}" if document.get("reason") else ""
    if kind == "set-ids":
        after = document.get("after") or {}
        moves = ", ".join(
            f"{env} {(document.get('before') or {}).get(env) or '(none)'} -> {ami}"
            for env, ami in after.items()
        )
        return f"set-ids {moves} by {who}"
    if kind == "publish":
        return f"published {document.get('ami')} as {document.get('tested_image')} by {who}"
    if kind == "release":
        tag = (document.get("after") or {}).get("tag")
        return f"released {document.get('ami')} as {tag} by {who}"
    if kind == "prune":
        return f"pruned {', '.join(sorted(document.get('deleted') or {}))} by {who}"
    envs = ", ".join(document.get("envs") or [])
    return f"{kind} {document.get('ami') or ''} {envs} by {who}{reason}".replace("  ", " ")


def history(
    services: Services,
    ami: str | None = None,
    env: str | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[Entry]:
    """Every believed evidence record and event matching AMI and ENV, newest first; the rest
    are skipped with a warning naming them. SINCE (a ledger stamp) keeps only what was written
    at or after it; LIMIT keeps the newest LIMIT entries."""
    store = services.ledger
    entries: list[Entry] = []
    prefix = f"evidence/{ami}/" if ami else "evidence/"
    for key in store.keys(prefix):
        ref = EvidenceRef.parse(key)
        if ref is None or (env and ref.env != env) or (since and ref.stamp < since):
            continue
        if evidence.read(services, ref, full=False) is None:
            continue
        entries.append(
            Entry(
                stamp=ref.stamp,
                kind="evidence",
                ami=ref.ami,
                envs=(ref.env,),
                summary=f"validate {ref.result} for {ref.ami} in {ref.env}",
                key=key,
            )
        )
    for loaded in events.load(services):
        key, document = loaded.key, loaded.document
        if ami and not _mentions(document, ami):
            continue
        if env and env not in (document.get("envs") or []):
            continue
        if since and stamp_of(key) < since:
            continue
        entries.append(
            Entry(
                stamp=stamp_of(key),
                kind=str(document.get("kind", "event")),
                ami=document.get("ami"),
                envs=tuple(document.get("envs") or ()),
                summary=_summary(document),
                key=key,
                document=document,
            )
        )
    entries.sort(key=lambda e: (e.stamp, e.key), reverse=True)
    return entries if limit is None else entries[:limit]
