"""The one place that talks to GitHub's API (PyGithub): releases and workflow dispatch.

`GITHUB_API_URL` points it at GitHub Enterprise (or a test server). Rate limits are retried by
PyGithub's GithubRetry, which honours Retry-After. The token is never part of any message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import github
import requests
from github import Auth, Github, GithubException, GithubRetry

from promote.domain.ports import ReleaseInfo
from promote.errors import ExitCode, PromoteError, not_found, remote_error

DEFAULT_API_URL = "https://api.github.com"


def token_from(environ: Mapping[str, str]) -> str | None:
    """GITHUB_TOKEN, else GH_TOKEN, else None."""
    return environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or None


def _validation_details(data: object) -> str:
    """`; field: code` for each error GitHub lists in a 422 body."""
    if not isinstance(data, dict):
        return ""
    parts = [
        f"{e.get('field') or e.get('resource') or '?'}: {e.get('code') or e.get('message')}"
        for e in data.get("errors") or []
        if isinstance(e, dict)
    ]
    return f"; {', '.join(parts)}" if parts else ""


class GitHubRepo:
    """One repository on GitHub, reached with a token."""

    def __init__(self, repo: str, token: str, api_url: str | None = None) -> None:
        self.name = repo
        base_url = (api_url or DEFAULT_API_URL).rstrip("/")
        # PyGithub paces requests (0.25 s, 1 s between writes) to stay under GitHub's secondary
        # rate limits; an API on this machine (a test server) needs no pacing.
        local = base_url.startswith(("http://127.0.0.1", "http://localhost"))
        self._client = Github(
            auth=Auth.Token(token),
            base_url=base_url,
            retry=GithubRetry(total=5, backoff_factor=0.5),
            timeout=30,
            seconds_between_requests=0 if local else 0.25,
            seconds_between_writes=0 if local else 1,
        )
        self._repo: github.Repository.Repository | None = None

    @contextmanager
    def calling(self, doing: str) -> Iterator[None]:
        """Turn PyGithub failures into PromoteErrors with hints (no token in any text)."""
        try:
            yield
        except github.BadCredentialsException:
            raise remote_error(
                f"GitHub rejected the token while {doing} (401 Bad credentials)",
                "check GITHUB_TOKEN / GH_TOKEN: it may be expired or revoked",
            ) from None
        except github.RateLimitExceededException as exc:
            raise remote_error(
                f"GitHub rate limit exceeded while {doing} (HTTP {exc.status}), after retries",
                "wait for the limit to reset, or use a token with a higher limit",
            ) from None
        except github.UnknownObjectException:
            raise not_found(
                f"not found on GitHub while {doing} (404)",
                f"check that {self.name} exists, has what was asked for, and that the token can "
                "see it",
            ) from None
        except (requests.exceptions.RetryError, requests.exceptions.ConnectionError) as exc:
            raise remote_error(
                f"GitHub kept failing while {doing} ({type(exc).__name__}), after retries",
                "try again later; GITHUB_API_URL must point at the API if you use Enterprise",
            ) from None
        except GithubException as exc:
            message = (exc.data or {}).get("message") if isinstance(exc.data, dict) else None
            if exc.status == 403:
                raise remote_error(
                    f"GitHub refused {doing} (403: {message or 'Forbidden'})",
                    "the token needs contents: write (releases) or actions: write (dispatch)",
                ) from None
            if exc.status == 422:
                details = _validation_details(exc.data)
                raise PromoteError(
                    f"GitHub refused {doing} as invalid (422: {message or 'Validation Failed'}"
                    f"{details})",
                    "check the values given (for dispatch: the workflow's declared inputs)",
                    ExitCode.USAGE,
                ) from exc
            raise PromoteError(
                f"GitHub answered {exc.status} while {doing}: {message or 'error'}",
                "retried where GitHub allows it; run with -v for the details",
                ExitCode.REMOTE,
            ) from exc

    @property
    def repo(self) -> github.Repository.Repository:
        """The repository (fetched once)."""
        if self._repo is None:
            with self.calling(f"reading {self.name}"):
                self._repo = self._client.get_repo(self.name)
        return self._repo

    def find_release(self, tag: str) -> ReleaseInfo | None:
        """The release for TAG, or None."""
        repo = self.repo
        try:
            with self.calling(f"looking up release {tag}"):
                release = repo.get_release(tag)
                assets = tuple(a.name for a in release.get_assets())
        except PromoteError as exc:
            if exc.exit_code == ExitCode.NOT_FOUND:
                return None
            raise
        return ReleaseInfo(tag, release.html_url, release.id, release.prerelease, assets)

    def create_release(
        self, tag: str, name: str, body: str, prerelease: bool, target: str | None
    ) -> ReleaseInfo:
        """Create the release (and its tag at TARGET); an existing one is returned instead."""
        existing = self.find_release(tag)
        if existing:
            return existing
        with self.calling(f"creating release {tag}"):
            try:
                release = self.repo.create_git_release(
                    tag,
                    name,
                    body,
                    prerelease=prerelease,
                    target_commitish=target or github.GithubObject.NotSet,
                )
            except GithubException as exc:
                if exc.status == 422 and "already_exists" in str(exc.data):
                    found = self.find_release(tag)
                    if found:
                        return found
                raise
        return ReleaseInfo(tag, release.html_url, release.id, release.prerelease, (), True)

    def upload_asset(self, tag: str, path: Path, name: str) -> bool:
        """Attach PATH as NAME to the release unless an asset of that name is there."""
        with self.calling(f"uploading {name} to release {tag}"):
            release = self.repo.get_release(tag)
            if any(a.name == name for a in release.get_assets()):
                return False
            release.upload_asset(str(path), name=name, content_type="application/json")
        return True

    def tags(self, prefix: str) -> list[str]:
        """The tags of the repository's releases starting with PREFIX."""
        with self.calling("listing releases"):
            return [r.tag_name for r in self.repo.get_releases() if r.tag_name.startswith(prefix)]

    def tag_naming(self, text: str) -> str | None:
        """The tag of a release whose title names TEXT (an AMI id), if any."""
        with self.calling("listing releases"):
            for release in self.repo.get_releases():
                if text in (release.name or ""):
                    return str(release.tag_name)
        return None

    def dispatch(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> None:
        """Trigger a workflow_dispatch run of WORKFLOW on REF."""
        with self.calling(f"dispatching {workflow} on {ref}"):
            found = self.repo.get_workflow(workflow)
            found.create_dispatch(ref, dict(inputs), throw=True)
