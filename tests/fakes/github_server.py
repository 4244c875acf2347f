"""A fake GitHub REST API on loopback, answering in the format recorded in @octokit/fixtures."""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.loopback import Loopback

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "octokit"
DOCS = "https://docs.github.com/rest"
RELEASE_DOCS = "https://docs.github.com/rest/releases/releases#create-a-release"
DISPATCH_DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try"
    " again. If you reach out to GitHub Support for help, please include the request ID"
    " 0000:00000:0000000:0000000:00000000."
)
SECONDARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

# Placeholders in the recorded responses, replaced when a template is filled.
_API = "https://api.github.com"
_UPLOADS = "https://uploads.github.com"
_FIXTURE_USER = "octokit-fixture-user-a"
_FIXTURE_ORG = "octokit-fixture-org"


def recorded(fixture: str, method: str, path: str, status: int) -> Any:
    """The response GitHub sent, as recorded in tests/fixtures/octokit/<fixture>.json."""
    entries = json.loads((FIXTURES / f"{fixture}.json").read_text(encoding="utf-8"))
    for entry in entries:
        if entry["method"] == method and entry["path"] == path and entry["status"] == status:
            return entry["response"]
    raise LookupError(f"{fixture}.json has no {method} {path} -> {status}")


_RA = "/repos/octokit-fixture-org/release-assets"
_RAC = "/repos/octokit-fixture-org/release-assets-conflict"
RELEASE_TEMPLATE: dict[str, Any] = recorded(
    "release-assets", "get", f"{_RA}/releases/tags/v1.0.0", 200
)
ASSET_TEMPLATE: dict[str, Any] = recorded(
    "release-assets", "post", f"{_RA}/releases/1000/assets?name=test-upload.txt&label=test", 201
)
REPOSITORY_TEMPLATE: dict[str, Any] = recorded(
    "get-repository", "get", "/repos/octokit-fixture-org/hello-world", 200
)
ASSET_CONFLICT_TEMPLATE: dict[str, Any] = recorded(
    "release-assets-conflict",
    "post",
    f"{_RAC}/releases/1000/assets?name=test-upload.txt&label=test",
    422,
)
VALIDATION_FAILED_TEMPLATE: dict[str, Any] = recorded(
    "errors", "post", "/repos/octokit-fixture-org/errors/labels", 422
)


def _swap(value: Any, pairs: list[tuple[str, str]]) -> Any:
    """Replace substrings in every string of a JSON value."""
    if isinstance(value, str):
        for old, new in pairs:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_swap(item, pairs) for item in value]
    if isinstance(value, dict):
        return {key: _swap(item, pairs) for key, item in value.items()}
    return value


def node_id(kind: str, number: int) -> str:
    """A node_id in GitHub's legacy global-id format (base64 of "NN:KindID")."""
    return base64.b64encode(f"{len(kind):02d}:{kind}{number}".encode()).decode()


def _now() -> str:
    """Now, as GitHub formats timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(message: str, documentation_url: str = DOCS) -> dict[str, Any]:
    """GitHub's plain error body, e.g. 404 Not Found or 401 Bad credentials."""
    return {"message": message, "documentation_url": documentation_url}


def validation_failed(
    resource: str, code: str, field: str, documentation_url: str = RELEASE_DOCS
) -> dict[str, Any]:
    """GitHub's 422 Validation Failed body, shaped like the recorded errors.json response."""
    body = copy.deepcopy(VALIDATION_FAILED_TEMPLATE)
    body["errors"] = [{"resource": resource, "code": code, "field": field}]
    body["documentation_url"] = documentation_url
    return body


def default_failure(status: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and headers GitHub sends with a status, for fail_next."""
    if status == HTTPStatus.UNAUTHORIZED:
        return error_body("Bad credentials"), {}
    if status in (HTTPStatus.FORBIDDEN, HTTPStatus.TOO_MANY_REQUESTS):
        headers = {
            "Retry-After": "1",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Reset": str(int(time.time()) + 1),
            "X-RateLimit-Resource": "core",
        }
        return error_body(SECONDARY_RATE_LIMIT_MESSAGE, SECONDARY_RATE_LIMIT_DOCS), headers
    if status == HTTPStatus.NOT_FOUND:
        return error_body("Not Found"), {}
    return error_body(HTTPStatus(status).phrase), {}


class RecordedRequest(NamedTuple):
    """One request as the fake received it (headers keyed in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Workflow:
    """A workflow file in a repository."""

    id: int
    repo: str
    file: str
    name: str
    inputs: frozenset[str] | None
    created_at: str


@dataclass
class Repo:
    """A repository the fake knows."""

    id: int
    full_name: str
    default_branch: str
    private: bool
    created_at: str
    workflows: dict[str, Workflow] = field(default_factory=dict)


@dataclass
class Release:
    """A release of a repository."""

    id: int
    repo: str
    tag_name: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    target_commitish: str
    created_at: str
    published_at: str | None
    asset_ids: list[int] = field(default_factory=list)


@dataclass
class Asset:
    """An uploaded release asset."""

    id: int
    release_id: int
    name: str
    label: str
    content_type: str
    data: bytes
    created_at: str
    updated_at: str


@dataclass
class Dispatch:
    """A workflow_dispatch event the fake received."""

    repo: str
    workflow: str
    ref: str
    inputs: dict[str, str]


@dataclass
class _Failure:
    """A canned failure for the next request(s)."""

    remaining: int
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Call:
    """One routed request: path parameters, query, headers, body and GitHub request id."""

    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    request_id: str

    def json(self) -> Any:
        """The request body parsed as JSON (an empty body is {})."""
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    """What the fake answers: status, JSON body (or raw bytes) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class FakeGitHub:
    """A GitHub REST API for releases, assets and workflow dispatches, on 127.0.0.1."""

    def __init__(self, token: str, login: str = "promote-bot") -> None:
        self.token = token
        self.login = login
        self.user_id = 4242
        self.repos: dict[str, Repo] = {}
        self.releases: dict[int, Release] = {}
        self.assets: dict[int, Asset] = {}
        self.dispatches: list[Dispatch] = []
        self.requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._ids = 1000
        self._lock = threading.RLock()
        self._server: Loopback | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on a free loopback port in a background thread."""
        self._server = Loopback(_handler_for(self), "fake-github")
        self.url = self._server.url
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # -- scene setup -------------------------------------------------------------------------

    def _next_id(self) -> int:
        """A fresh id (ids are unique across all object kinds)."""
        with self._lock:
            self._ids += 1
            return self._ids

    def add_repo(self, full_name: str, default_branch: str = "main", private: bool = True) -> Repo:
        """Make a repository exist."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not owner/name: {full_name!r}")
        repo = Repo(self._next_id(), full_name, default_branch, private, _now())
        with self._lock:
            self.repos[full_name] = repo
        return repo

    def add_workflow(
        self,
        full_name: str,
        file: str,
        name: str | None = None,
        inputs: set[str] | None = None,
    ) -> Workflow:
        """Put .github/workflows/<file> in a repository; `inputs` limits the accepted inputs."""
        workflow = Workflow(
            self._next_id(),
            full_name,
            file,
            name or file.rsplit(".", 1)[0],
            None if inputs is None else frozenset(inputs),
            _now(),
        )
        with self._lock:
            self.repos[full_name].workflows[file] = workflow
        return workflow

    def add_release(
        self,
        full_name: str,
        tag: str,
        name: str | None = None,
        body: str | None = None,
        draft: bool = False,
        prerelease: bool = False,
        target_commitish: str | None = None,
    ) -> Release:
        """Make a release exist, as if created earlier."""
        repo = self.repos[full_name]
        now = _now()
        release = Release(
            self._next_id(),
            full_name,
            tag,
            name,
            body,
            draft,
            prerelease,
            target_commitish or repo.default_branch,
            now,
            None if draft else now,
        )
        with self._lock:
            self.releases[release.id] = release
        return release

    def add_asset(
        self,
        release_id: int,
        name: str,
        data: bytes = b"",
        label: str = "",
        content_type: str = "application/octet-stream",
    ) -> Asset:
        """Attach an asset to a release, as if uploaded earlier."""
        now = _now()
        asset = Asset(self._next_id(), release_id, name, label, content_type, data, now, now)
        with self._lock:
            self.assets[asset.id] = asset
            self.releases[release_id].asset_ids.append(asset.id)
        return asset

    def fail_next(
        self,
        n: int,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next n requests with `status` (GitHub's body and headers unless given)."""
        default_body, default_headers = default_failure(status)
        with self._lock:
            self._failures.append(
                _Failure(
                    n,
                    status,
                    default_body if body is None else body,
                    default_headers if headers is None else headers,
                )
            )

    def release_by_tag(self, full_name: str, tag: str) -> Release | None:
        """The published release of a repository with that tag, if any."""
        with self._lock:
            for release in self.releases.values():
                if release.repo == full_name and release.tag_name == tag and not release.draft:
                    return release
        return None

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path starts with `path_prefix`."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- JSON bodies, filled from the recorded templates -------------------------------------

    def user_json(self) -> dict[str, Any]:
        """The authenticated user, as GitHub embeds it (release author, asset uploader)."""
        user = _swap(
            copy.deepcopy(RELEASE_TEMPLATE["author"]),
            [(_API, self.url), (_FIXTURE_USER, self.login)],
        )
        user["id"] = self.user_id
        user["node_id"] = node_id("User", self.user_id)
        user["avatar_url"] = f"https://avatars.githubusercontent.com/u/{self.user_id}?v=4"
        return user

    def repo_json(self, repo: Repo) -> dict[str, Any]:
        """A repository, as GET /repos/{owner}/{repo} returns it."""
        owner, _, name = repo.full_name.partition("/")
        body = _swap(
            copy.deepcopy(REPOSITORY_TEMPLATE),
            [
                (_API, self.url),
                (f"{_FIXTURE_ORG}/hello-world", repo.full_name),
                (_FIXTURE_ORG, owner),
            ],
        )
        owner_id = 1000 + sum(map(ord, owner))
        for key in ("owner", "organization"):
            body[key]["id"] = owner_id
            body[key]["node_id"] = node_id("Organization", owner_id)
            body[key]["avatar_url"] = f"https://avatars.githubusercontent.com/u/{owner_id}?v=4"
        body.update(
            id=repo.id,
            node_id=node_id("Repository", repo.id),
            name=name,
            full_name=repo.full_name,
            private=repo.private,
            visibility="private" if repo.private else "public",
            default_branch=repo.default_branch,
            created_at=repo.created_at,
            updated_at=repo.created_at,
            pushed_at=repo.created_at,
            topics=[],
        )
        for key in (
            "stargazers_count",
            "watchers_count",
            "forks_count",
            "open_issues_count",
            "forks",
            "open_issues",
            "watchers",
            "network_count",
            "subscribers_count",
        ):
            body[key] = 0
        return body

    def release_json(self, release: Release) -> dict[str, Any]:
        """A release, as GET /repos/{owner}/{repo}/releases/{id} returns it."""
        api = f"{self.url}/repos/{release.repo}/releases/{release.id}"
        html = f"https://github.com/{release.repo}/releases"
        body = _swap(
            copy.deepcopy(RELEASE_TEMPLATE),
            [
                (_UPLOADS, self.url),
                (_API, self.url),
                (f"{_FIXTURE_ORG}/release-assets", release.repo),
                (_FIXTURE_USER, self.login),
            ],
        )
        body.update(
            url=api,
            assets_url=f"{api}/assets",
            upload_url=f"{api}/assets{{?name,label}}",
            html_url=(
                f"{html}/tag/untagged-{release.id}"
                if release.draft
                else f"{html}/tag/{quote(release.tag_name)}"
            ),
            id=release.id,
            author=self.user_json(),
            node_id=node_id("Release", release.id),
            tag_name=release.tag_name,
            target_commitish=release.target_commitish,
            name=release.name,
            draft=release.draft,
            prerelease=release.prerelease,
            created_at=release.created_at,
            published_at=release.published_at,
            assets=[self.asset_json(self.assets[i]) for i in release.asset_ids],
            tarball_url=f"{self.url}/repos/{release.repo}/tarball/{quote(release.tag_name)}",
            zipball_url=f"{self.url}/repos/{release.repo}/zipball/{quote(release.tag_name)}",
            body=release.body,
        )
        return body

    def asset_json(self, asset: Asset) -> dict[str, Any]:
        """A release asset, as the upload and GET /releases/assets/{id} return it."""
        release = self.releases[asset.release_id]
        body = _swap(
            copy.deepcopy(ASSET_TEMPLATE),
            [
                (_API, self.url),
                (f"{_FIXTURE_ORG}/release-assets", release.repo),
                (_FIXTURE_USER, self.login),
            ],
        )
        body.update(
            url=f"{self.url}/repos/{release.repo}/releases/assets/{asset.id}",
            id=asset.id,
            node_id=node_id("ReleaseAsset", asset.id),
            name=asset.name,
            label=asset.label,
            uploader=self.user_json(),
            content_type=asset.content_type,
            state="uploaded",
            size=len(asset.data),
            download_count=0,
            created_at=asset.created_at,
            updated_at=asset.updated_at,
            browser_download_url=self.download_url(asset),
        )
        return body

    def download_url(self, asset: Asset) -> str:
        """Where the asset's bytes are served (GitHub's browser_download_url, on the fake)."""
        release = self.releases[asset.release_id]
        tag = quote(release.tag_name) if not release.draft else f"untagged-{release.id}"
        return f"{self.url}/{release.repo}/releases/download/{tag}/{quote(asset.name)}"

    def workflow_json(self, workflow: Workflow) -> dict[str, Any]:
        """A workflow, as GET /repos/{owner}/{repo}/actions/workflows/{id} returns it."""
        repo = self.repos[workflow.repo]
        path = f".github/workflows/{workflow.file}"
        return {
            "id": workflow.id,
            "node_id": node_id("Workflow", workflow.id),
            "name": workflow.name,
            "path": path,
            "state": "active",
            "created_at": workflow.created_at,
            "updated_at": workflow.created_at,
            "url": f"{self.url}/repos/{workflow.repo}/actions/workflows/{workflow.id}",
            "html_url": f"https://github.com/{workflow.repo}/blob/{repo.default_branch}/{path}",
            "badge_url": f"https://github.com/{workflow.repo}/workflows/{quote(workflow.name)}"
            "/badge.svg",
        }

    # -- request handling --------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one request (called on the server's threads; headers keyed in lower case)."""
        with self._lock:
            self.requests.append(RecordedRequest(method, target, headers, body))
            request_id = f"FAKE:{len(self.requests):05d}:0000000:0000000:00000000"
            response = self._answer(method, target, headers, body, request_id)
            response.headers.setdefault("X-GitHub-Request-Id", request_id)
            return response

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes, request_id: str
    ) -> Response:
        """Route a request: canned failures first, then auth, then the endpoints."""
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            return Response(failure.status, copy.deepcopy(failure.body), dict(failure.headers))
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        download = re.fullmatch(r"/([^/]+/[^/]+)/releases/download/([^/]+)/([^/]+)", split.path)
        if method == "GET" and download:
            full_name, tag, name = download.groups()
            return self._download(full_name, unquote(tag), unquote(name))
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        if not auth:
            return Response(401, error_body("Requires authentication"))
        if scheme.lower() not in ("token", "bearer") or credential != self.token:
            return Response(401, error_body("Bad credentials"))
        for route_method, pattern, action in self._routes():
            match = re.fullmatch(pattern, split.path)
            if match is None or route_method != method:
                continue
            repo = self.repos.get(f"{match['owner']}/{match['repo']}")
            if repo is None:
                return Response(404, error_body("Not Found"))
            params = {
                k: unquote(v) for k, v in match.groupdict().items() if k not in ("owner", "repo")
            }
            return action(repo, Call(params, query, headers, body, request_id))
        return Response(404, error_body("Not Found"))

    def _routes(
        self,
    ) -> list[tuple[str, str, Callable[[Repo, Call], Response]]]:
        """(method, path regex, action) for every endpoint."""
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        return [
            ("GET", repo, self._get_repo),
            ("GET", rf"{repo}/releases", self._list_releases),
            ("POST", rf"{repo}/releases", self._create_release),
            ("GET", rf"{repo}/releases/tags/(?P<tag>[^/]+)", self._get_release_by_tag),
            ("GET", rf"{repo}/releases/(?P<id>\d+)", self._get_release),
            ("PATCH", rf"{repo}/releases/(?P<id>\d+)", self._update_release),
            ("DELETE", rf"{repo}/releases/(?P<id>\d+)", self._delete_release),
            ("GET", rf"{repo}/releases/(?P<id>\d+)/assets", self._list_assets),
            ("POST", rf"{repo}/releases/(?P<id>\d+)/assets", self._upload_asset),
            ("GET", rf"{repo}/releases/assets/(?P<id>\d+)", self._get_asset),
            ("PATCH", rf"{repo}/releases/assets/(?P<id>\d+)", self._update_asset),
            ("DELETE", rf"{repo}/releases/assets/(?P<id>\d+)", self._delete_asset),
            ("GET", rf"{repo}/actions/workflows/(?P<workflow>[^/]+)", self._get_workflow),
            (
                "POST",
                rf"{repo}/actions/workflows/(?P<workflow>[^/]+)/dispatches",
                self._dispatch,
            ),
        ]

    def _release(self, repo: Repo, release_id: str) -> Release | None:
        """The repository's release with that id."""
        release = self.releases.get(int(release_id))
        return release if release is not None and release.repo == repo.full_name else None

    def _workflow(self, repo: Repo, key: str) -> Workflow | None:
        """The repository's workflow by file name or id."""
        for workflow in repo.workflows.values():
            if key in (workflow.file, str(workflow.id)):
                return workflow
        return None

    def _get_repo(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}."""
        return Response(200, self.repo_json(repo))

    def _list_releases(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}/releases, newest first, paginated with a Link header."""
        releases = sorted(
            (r for r in self.releases.values() if r.repo == repo.full_name),
            key=lambda r: r.id,
            reverse=True,
        )
        per_page = max(1, min(100, int(call.query.get("per_page", "30") or 30)))
        page = max(1, int(call.query.get("page", "1") or 1))
        last = max(1, -(-len(releases) // per_page))
        chunk = releases[(page - 1) * per_page : page * per_page]
        base = f"{self.url}/repos/{repo.full_name}/releases"
        links = []
        if page < last:
            links.append(f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"')
            links.append(f'<{base}?per_page={per_page}&page=1>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, [self.release_json(r) for r in chunk], headers)

    def _create_release(self, repo: Repo, call: Call) -> Response:
        """POST /repos/{owner}/{repo}/releases."""
        try:
            data = call.json()
        except ValueError:
            return Response(400, error_body("Problems parsing JSON"))
        tag = data.get("tag_name") if isinstance(data, dict) else None
        if not isinstance(tag, str) or not tag:
            return Response(422, validation_failed("Release", "missing_field", "tag_name"))
        if self.release_by_tag(repo.full_name, tag) is not None:
            return Response(422, validation_failed("Release", "already_exists", "tag_name"))
        body = data.get("body")
        if body is None and data.get("generate_release_notes"):
            body = f"**Full Changelog**: https://github.com/{repo.full_name}/commits/{tag}"
        release = self.add_release(
            repo.full_name,
            tag,
            name=data.get("name") or None,
            body=body,
            draft=bool(data.get("draft", False)),
            prerelease=bool(data.get("prerelease", False)),
            target_commitish=data.get("target_commitish") or None,
        )
        json_body = self.release_json(release)
        return Response(201, json_body, {"Location": json_body["url"]})

    def _get_release_by_tag(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}/releases/tags/{tag} (drafts are not found by tag)."""
        release = self.release_by_tag(repo.full_name, call.params["tag"])
        if release is None:
            return Response(404, error_body("Not Found"))
        return Response(200, self.release_json(release))

    def _get_release(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}/releases/{id}."""
        release = self._release(repo, call.params["id"])
        if release is None:
            return Response(404, error_body("Not Found"))
        return Response(200, self.release_json(release))

    def _update_release(self, repo: Repo, call: Call) -> Response:
        """PATCH /repos/{owner}/{repo}/releases/{id}."""
        release = self._release(repo, call.params["id"])
        if release is None:
            return Response(404, error_body("Not Found"))
        data = call.json()
        tag = data.get("tag_name", release.tag_name)
        other = self.release_by_tag(repo.full_name, tag)
        if other is not None and other.id != release.id:
            return Response(422, validation_failed("Release", "already_exists", "tag_name"))
        release.tag_name = tag
        for key in ("name", "body", "prerelease", "target_commitish"):
            if key in data:
                setattr(release, key, data[key])
        if "draft" in data:
            release.draft = bool(data["draft"])
            if not release.draft and release.published_at is None:
                release.published_at = _now()
        return Response(200, self.release_json(release))

    def _delete_release(self, repo: Repo, call: Call) -> Response:
        """DELETE /repos/{owner}/{repo}/releases/{id}."""
        release = self._release(repo, call.params["id"])
        if release is None:
            return Response(404, error_body("Not Found"))
        for asset_id in release.asset_ids:
            self.assets.pop(asset_id, None)
        del self.releases[release.id]
        return Response(204)

    def _list_assets(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}/releases/{id}/assets."""
        release = self._release(repo, call.params["id"])
        if release is None:
            return Response(404, error_body("Not Found"))
        return Response(200, [self.asset_json(self.assets[i]) for i in release.asset_ids])

    def _upload_asset(self, repo: Repo, call: Call) -> Response:
        """POST {upload_url}?name=X[&label=Y] with the file as the body."""
        release = self._release(repo, call.params["id"])
        if release is None:
            return Response(404, error_body("Not Found"))
        name = call.query.get("name", "")
        if not name:
            return Response(422, validation_failed("ReleaseAsset", "missing_field", "name", DOCS))
        if any(self.assets[i].name == name for i in release.asset_ids):
            conflict = copy.deepcopy(ASSET_CONFLICT_TEMPLATE)
            conflict["request_id"] = call.request_id
            return Response(422, conflict)
        asset = self.add_asset(
            release.id,
            name,
            call.body,
            label=call.query.get("label", ""),
            content_type=call.headers.get("content-type", "application/octet-stream"),
        )
        json_body = self.asset_json(asset)
        return Response(201, json_body, {"Location": json_body["url"]})

    def _asset(self, repo: Repo, asset_id: str) -> Asset | None:
        """The repository's asset with that id."""
        asset = self.assets.get(int(asset_id))
        if asset is None or self.releases[asset.release_id].repo != repo.full_name:
            return None
        return asset

    def _get_asset(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}/releases/assets/{id} (JSON, or a 302 to the bytes)."""
        asset = self._asset(repo, call.params["id"])
        if asset is None:
            return Response(404, error_body("Not Found"))
        if call.headers.get("accept", "").startswith("application/octet-stream"):
            return Response(302, headers={"Location": self.download_url(asset)}, raw=b"")
        return Response(200, self.asset_json(asset))

    def _update_asset(self, repo: Repo, call: Call) -> Response:
        """PATCH /repos/{owner}/{repo}/releases/assets/{id} (name, label)."""
        asset = self._asset(repo, call.params["id"])
        if asset is None:
            return Response(404, error_body("Not Found"))
        data = call.json()
        asset.name = data.get("name", asset.name)
        asset.label = data.get("label", asset.label)
        asset.updated_at = _now()
        return Response(200, self.asset_json(asset))

    def _delete_asset(self, repo: Repo, call: Call) -> Response:
        """DELETE /repos/{owner}/{repo}/releases/assets/{id}."""
        asset = self._asset(repo, call.params["id"])
        if asset is None:
            return Response(404, error_body("Not Found"))
        self.releases[asset.release_id].asset_ids.remove(asset.id)
        del self.assets[asset.id]
        return Response(204)

    def _download(self, full_name: str, tag: str, name: str) -> Response:
        """GET https://github.com/{owner}/{repo}/releases/download/{tag}/{name}, on the fake."""
        for asset in self.assets.values():
            release = self.releases[asset.release_id]
            shown_tag = f"untagged-{release.id}" if release.draft else release.tag_name
            if release.repo == full_name and shown_tag == tag and asset.name == name:
                return Response(
                    200, raw=asset.data, headers={"Content-Type": "application/octet-stream"}
                )
        return Response(404, raw=b"Not Found", headers={"Content-Type": "text/plain"})

    def _get_workflow(self, repo: Repo, call: Call) -> Response:
        """GET /repos/{owner}/{repo}/actions/workflows/{workflow_id_or_file_name}."""
        workflow = self._workflow(repo, call.params["workflow"])
        if workflow is None:
            return Response(404, error_body("Not Found"))
        return Response(200, self.workflow_json(workflow))

    def _dispatch(self, repo: Repo, call: Call) -> Response:
        """POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches."""
        workflow = self._workflow(repo, call.params["workflow"])
        if workflow is None:
            return Response(404, error_body("Not Found"))
        try:
            data = call.json()
        except ValueError:
            return Response(400, error_body("Problems parsing JSON"))
        ref = data.get("ref") if isinstance(data, dict) else None
        if not isinstance(ref, str):
            return Response(
                422, error_body('Invalid request.\n\n"ref" wasn\'t supplied.', DISPATCH_DOCS)
            )
        inputs = data.get("inputs", {})
        if not isinstance(inputs, dict):
            message = (
                f"Invalid request.\n\nFor 'properties/inputs', {json.dumps(inputs)}"
                " is not an object."
            )
            return Response(422, error_body(message, DISPATCH_DOCS))
        for key, value in inputs.items():
            if not isinstance(value, str):
                message = (
                    f"Invalid request.\n\nFor 'properties/{key}', {json.dumps(value)}"
                    " is not a string."
                )
                return Response(422, error_body(message, DISPATCH_DOCS))
        if workflow.inputs is not None:
            unexpected = sorted(set(inputs) - workflow.inputs)
            if unexpected:
                message = f"Unexpected inputs provided: {json.dumps(unexpected)}"
                return Response(422, error_body(message, DISPATCH_DOCS))
        self.dispatches.append(Dispatch(repo.full_name, workflow.file, ref, dict(inputs)))
        if data.get("return_run_details"):
            run_id = self._next_id()
            return Response(
                200,
                {
                    "workflow_run_id": run_id,
                    "run_url": f"{self.url}/repos/{repo.full_name}/actions/runs/{run_id}",
                    "html_url": f"https://github.com/{repo.full_name}/actions/runs/{run_id}",
                },
            )
        return Response(204)


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one FakeGitHub."""

    class Handler(BaseHTTPRequestHandler):
        """Reads a request, lets the fake answer it, writes GitHub-like headers."""

        protocol_version = "HTTP/1.1"
        server_version = "GitHub.com"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def _read_body(self) -> bytes:
            """The request body (Content-Length or chunked)."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            """Answer the request."""
            body = self._read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                response = fake.handle(self.command, self.path, headers, body)
            except Exception as error:  # the fake's own bug: say so rather than hang
                response = Response(500, error_body(f"FakeGitHub error: {error!r}"))
            self.send_response(response.status)
            self.send_header("Date", self.date_time_string())
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
            if not any(k.lower() == "x-ratelimit-remaining" for k in response.headers):
                self.send_header("X-RateLimit-Limit", "5000")
                self.send_header("X-RateLimit-Remaining", str(max(0, 5000 - len(fake.requests))))
                self.send_header("X-RateLimit-Reset", str(int(time.time()) + 3600))
                self.send_header("X-RateLimit-Used", str(min(5000, len(fake.requests))))
                self.send_header("X-RateLimit-Resource", "core")
            self.send_header("X-OAuth-Scopes", "repo, workflow")
            self.send_header("X-Accepted-OAuth-Scopes", "repo")
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.status == HTTPStatus.NO_CONTENT:
                self.end_headers()
                return
            if response.raw is not None:
                payload = response.raw
            else:
                payload = json.dumps(response.body).encode()
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler
