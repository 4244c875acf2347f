"""FakeGitHub: its bodies match recorded GitHub responses, and PyGithub works against it."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import github
import pytest
import requests
from github import Auth, GithubRetry

from tests.fakes.github_server import FIXTURES, FakeGitHub, recorded

TOKEN = "ghp_sentinel"
REPO = "acme/infra"

# octokit/fixtures 23.1.2, scenarios/api.github.com/branch-protection: the one recorded 404
# (GET /repos/octokit-fixture-org/branch-protection/branches/main/protection); not vendored.
RECORDED_404 = {
    "message": "Branch not protected",
    "documentation_url": "https://docs.github.com/rest/reference/repos#get-branch-protection",
}


def shape(value: Any) -> Any:
    """The JSON type of a value; for objects and lists, recursively the shape of their members."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string"}[type(value)]


def assert_same_shape(fake: Any, real: Any, where: str = "$") -> None:
    """Same keys at every level, same JSON type per key (an empty list matches any list)."""
    if isinstance(real, dict):
        assert isinstance(fake, dict), f"{where}: {shape(fake)} is not an object"
        extra, missing = sorted(set(fake) - set(real)), sorted(set(real) - set(fake))
        assert not extra and not missing, f"{where}: extra keys {extra}, missing keys {missing}"
        for key in real:
            assert_same_shape(fake[key], real[key], f"{where}.{key}")
    elif isinstance(real, list):
        assert isinstance(fake, list), f"{where}: {shape(fake)} is not a list"
        if real:
            for i, item in enumerate(fake):
                assert_same_shape(item, real[0], f"{where}[{i}]")
    else:
        assert shape(fake) == shape(real), f"{where}: {shape(fake)} != recorded {shape(real)}"


def assert_urls_point_at_fake(fake: Any, real: Any, base: str, where: str = "$") -> None:
    """Wherever GitHub answered with an api/uploads.github.com URL, the fake points at itself."""
    if isinstance(real, dict) and isinstance(fake, dict):
        for key in real:
            assert_urls_point_at_fake(fake.get(key), real[key], base, f"{where}.{key}")
    elif isinstance(real, list) and isinstance(fake, list) and real:
        for i, item in enumerate(fake):
            assert_urls_point_at_fake(item, real[0], base, f"{where}[{i}]")
    elif isinstance(real, str) and real.startswith(
        ("https://api.github.com/", "https://uploads.github.com/")
    ):
        assert isinstance(fake, str) and fake.startswith(f"{base}/"), f"{where}: {fake!r}"


def call(
    gh: FakeGitHub,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    auth: str | None = f"token {TOKEN}",
) -> tuple[int, dict[str, str], Any]:
    """One raw HTTP request to the fake: (status, lower-cased headers, parsed JSON or text)."""
    port = int(gh.url.rsplit(":", 1)[1])
    sent = {"Accept": "application/vnd.github.v3+json", **(headers or {})}
    if auth is not None:
        sent["Authorization"] = auth
    payload: bytes | None = None
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json; charset=utf-8")
    elif isinstance(body, str) and body:
        payload = body.encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read().decode()
        got = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    parsed = json.loads(raw) if got.get("content-type", "").startswith("application/json") else raw
    return response.status, got, parsed


@pytest.fixture
def gh(fake_github: Callable[..., FakeGitHub]) -> FakeGitHub:
    """A running fake with one repository holding the ami-test-apply workflow."""
    return fake_github(TOKEN, repo=REPO, name="AMI test apply")


@pytest.fixture
def client(gh: FakeGitHub) -> github.Github:
    """PyGithub pointed at the fake, without its default 0.25 s/1 s pauses between requests."""
    return github.Github(
        auth=Auth.Token(TOKEN),
        base_url=gh.url,
        retry=GithubRetry(total=3),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


# -- drift: the fake's bodies against recorded GitHub responses ---------------------------------


def test_vendored_fixtures_are_the_normalized_octokit_scenarios() -> None:
    """The fixtures the fake is built from are vendored, parse, and have the normalized fields."""
    names = {p.name for p in FIXTURES.glob("*.json")}
    assert names >= {
        "errors.json",
        "get-repository.json",
        "release-assets-conflict.json",
        "release-assets.json",
    }
    assert (FIXTURES / "LICENSE.md").is_file()
    for path in FIXTURES.glob("*.json"):
        for entry in json.loads(path.read_text(encoding="utf-8")):
            assert {"scope", "method", "path", "body", "status", "response"} <= set(entry)


@pytest.mark.parametrize("scenario", ["release-assets", "release-assets-conflict"])
def test_fake_replays_recorded_release_asset_scenario(scenario: str) -> None:
    """Each recorded request, replayed in order, gets the recorded status and body shape."""
    full_name = f"octokit-fixture-org/{scenario}"
    entries = json.loads((FIXTURES / f"{scenario}.json").read_text(encoding="utf-8"))
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(full_name)
        release = fake.add_release(full_name, "v1.0.0", "Version 1.0.0", "Initial release")
        if scenario == "release-assets-conflict":  # the scenario starts with the asset there
            fake.add_asset(release.id, "test-upload.txt", b"Hello, world!\n", "test", "text/plain")
        ids: dict[tuple[str, str], str] = {}  # (releases|assets, recorded id) -> fake id
        for entry in entries:
            parts = entry["path"].split("/")
            path = "/".join(
                ids.get((before, part), part)
                for before, part in zip(["", *parts], parts, strict=False)
            )
            headers = {"Content-Type": entry["reqheaders"]["content-type"]} if entry["body"] else {}
            status, got_headers, body = call(
                fake, entry["method"].upper(), path, entry["body"], headers
            )
            where = f"{entry['method']} {entry['path']}"
            assert status == entry["status"], f"{where}: {status} {body}"
            assert_same_shape(body, entry["response"], where)
            assert_urls_point_at_fake(body, entry["response"], fake.url, where)
            if status == 204:
                assert body == "" and "content-type" not in got_headers
            real_objects = (
                entry["response"] if isinstance(entry["response"], list) else [entry["response"]]
            )
            for got, real in zip(
                body if isinstance(body, list) else [body], real_objects, strict=True
            ):
                if isinstance(got, dict) and "id" in got:
                    kind = "releases" if "tag_name" in got else "assets"
                    ids[kind, str(real["id"])] = str(got["id"])
            if status == 201:
                assert got_headers["location"] == body["url"]


def test_repository_matches_recorded_get_repository() -> None:
    """GET /repos/{owner}/{repo} answers like the recorded get-repository response."""
    real = recorded("get-repository", "get", "/repos/octokit-fixture-org/hello-world", 200)
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo("octokit-fixture-org/hello-world", default_branch="master", private=False)
        status, _, body = call(fake, "GET", "/repos/octokit-fixture-org/hello-world")
    assert status == 200
    assert_same_shape(body, real)
    assert_urls_point_at_fake(body, real, fake.url)
    assert body["full_name"] == "octokit-fixture-org/hello-world"
    assert body["owner"]["login"] == "octokit-fixture-org"
    assert body["default_branch"] == "master"


def test_created_release_matches_recorded_release(gh: FakeGitHub) -> None:
    """POST /releases answers 201 with the recorded release object's shape, pointing at the fake."""
    real = recorded(
        "release-assets",
        "get",
        "/repos/octokit-fixture-org/release-assets/releases/tags/v1.0.0",
        200,
    )
    status, headers, body = call(
        gh,
        "POST",
        f"/repos/{REPO}/releases",
        {"tag_name": "v1.0.0", "name": "Version 1.0.0", "body": "Initial release"},
    )
    assert status == 201
    assert_same_shape(body, real)
    assert_urls_point_at_fake(body, real, gh.url)
    assert (
        body["upload_url"] == f"{gh.url}/repos/{REPO}/releases/{body['id']}/assets{{?name,label}}"
    )
    assert headers["location"] == body["url"]
    assert (body["tag_name"], body["name"], body["body"]) == (
        "v1.0.0",
        "Version 1.0.0",
        "Initial release",
    )
    assert body["target_commitish"] == "main"


def test_duplicate_release_is_the_recorded_validation_failed_shape(gh: FakeGitHub) -> None:
    """A second release for a tag: 422 shaped like the recorded errors.json response."""
    real = recorded("errors", "post", "/repos/octokit-fixture-org/errors/labels", 422)
    gh.add_release(REPO, "v1.0.0")
    status, _, body = call(gh, "POST", f"/repos/{REPO}/releases", {"tag_name": "v1.0.0"})
    assert status == 422
    assert_same_shape(body, real)
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [
        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
    ]


def test_duplicate_asset_is_the_recorded_conflict_body(gh: FakeGitHub) -> None:
    """A second upload of a name: 422 with exactly the recorded body (bar the request id)."""
    real = recorded(
        "release-assets-conflict",
        "post",
        "/repos/octokit-fixture-org/release-assets-conflict/releases/1000/assets"
        "?name=test-upload.txt&label=test",
        422,
    )
    release = gh.add_release(REPO, "v1.0.0")
    gh.add_asset(release.id, "test-upload.txt", b"x")
    path = f"/repos/{REPO}/releases/{release.id}/assets?name=test-upload.txt&label=test"
    status, headers, body = call(gh, "POST", path, "Hello", {"Content-Type": "text/plain"})
    assert status == 422
    assert body == {**real, "request_id": headers["x-github-request-id"]}


def test_not_found_and_bad_credentials_match_recorded_error_shape(gh: FakeGitHub) -> None:
    """404 and 401 bodies have the recorded 404's keys and types."""
    checks = [
        (f"/repos/{REPO}/releases/tags/v9.9.9", f"token {TOKEN}", 404, "Not Found"),
        ("/repos/acme/unknown", f"token {TOKEN}", 404, "Not Found"),
        (f"/repos/{REPO}/actions/workflows/nope.yml", f"token {TOKEN}", 404, "Not Found"),
        (f"/repos/{REPO}", "token wrong", 401, "Bad credentials"),
        (f"/repos/{REPO}", None, 401, "Requires authentication"),
    ]
    for path, auth, expected, message in checks:
        status, _, body = call(gh, "GET", path, auth=auth)
        assert (status, body["message"]) == (expected, message), path
        assert_same_shape(body, RECORDED_404)


def test_workflow_object_and_bearer_auth(gh: FakeGitHub) -> None:
    """GET a workflow by file name (Bearer accepted), with GitHub's workflow keys."""
    status, _, body = call(
        gh, "GET", f"/repos/{REPO}/actions/workflows/ami-test-apply.yml", auth=f"Bearer {TOKEN}"
    )
    assert status == 200
    assert set(body) == {
        "id",
        "node_id",
        "name",
        "path",
        "state",
        "created_at",
        "updated_at",
        "url",
        "html_url",
        "badge_url",
    }
    assert body["path"] == ".github/workflows/ami-test-apply.yml"
    assert body["state"] == "active"
    assert body["url"] == f"{gh.url}/repos/{REPO}/actions/workflows/{body['id']}"


def test_dispatch_validates_inputs(gh: FakeGitHub) -> None:
    """Dispatch: 204 for string inputs, 422 for non-string values or a non-object."""
    path = f"/repos/{REPO}/actions/workflows/ami-test-apply.yml/dispatches"
    assert call(gh, "POST", path, {"ref": "main", "inputs": {"ami": "ami-1"}})[0] == 204
    assert call(gh, "POST", path, {"ref": "main", "inputs": {"count": 2}})[0] == 422
    assert call(gh, "POST", path, {"ref": "main", "inputs": ["ami-1"]})[0] == 422
    assert call(gh, "POST", path, {"inputs": {}})[0] == 422
    assert [(d.ref, d.inputs) for d in gh.dispatches] == [("main", {"ami": "ami-1"})]


def test_release_list_is_newest_first_and_paginated(gh: FakeGitHub) -> None:
    """GET /releases: newest first, per_page/page honoured, Link header to the next page."""
    for i in range(5):
        gh.add_release(REPO, f"v1.{i}")
    status, headers, body = call(gh, "GET", f"/repos/{REPO}/releases?per_page=2&page=1")
    assert status == 200
    assert [r["tag_name"] for r in body] == ["v1.4", "v1.3"]
    assert f'<{gh.url}/repos/{REPO}/releases?per_page=2&page=2>; rel="next"' in headers["link"]
    assert [
        r["tag_name"] for r in call(gh, "GET", f"/repos/{REPO}/releases?per_page=2&page=3")[2]
    ] == ["v1.0"]


# -- PyGithub, end to end ------------------------------------------------------------------------


def test_pygithub_release_upload_and_assets(
    gh: FakeGitHub, client: github.Github, tmp_path: Path
) -> None:
    """Create a release, find it by tag, upload, re-upload (422), list and download assets."""
    repo = client.get_repo(REPO)
    assert repo.full_name == REPO
    created = repo.create_git_release(
        "v1.2.3", "AMI v1.2.3", "evidence attached", prerelease=True, target_commitish="abc123"
    )
    assert created.upload_url.startswith(gh.url)

    release = repo.get_release("v1.2.3")
    assert (release.id, release.body, release.prerelease) == (created.id, "evidence attached", True)
    assert release.target_commitish == "abc123"

    evidence = tmp_path / "evidence.json"
    evidence.write_text('{"ok": true}', encoding="utf-8")
    asset = release.upload_asset(
        str(evidence), label="Evidence", content_type="application/json", name="evidence.json"
    )
    assert (asset.name, asset.label, asset.size) == ("evidence.json", "Evidence", 12)
    assert gh.assets[asset.id].content_type == "application/json"
    upload = gh.requests_to("POST", f"/repos/{REPO}/releases/{release.id}/assets")[0]
    assert upload.path.endswith("?label=Evidence&name=evidence.json")
    assert upload.body == b'{"ok": true}'

    with pytest.raises(github.GithubException) as duplicate:
        release.upload_asset(str(evidence), name="evidence.json")
    assert duplicate.value.status == 422
    assert duplicate.value.data["errors"][0]["code"] == "already_exists"

    assert [a.name for a in release.get_assets()] == ["evidence.json"]
    downloaded = tmp_path / "downloaded.json"
    asset.download_asset(str(downloaded))
    assert downloaded.read_bytes() == b'{"ok": true}'


def test_pygithub_duplicate_release_is_422(gh: FakeGitHub, client: github.Github) -> None:
    """Creating a release for a tag that has one raises GithubException 422 already_exists."""
    gh.add_release(REPO, "v1.0.0")
    with pytest.raises(github.GithubException) as raised:
        client.get_repo(REPO).create_git_release("v1.0.0", "again", "")
    assert raised.value.status == 422
    assert raised.value.data["errors"][0]["code"] == "already_exists"


def test_pygithub_dispatch(gh: FakeGitHub, client: github.Github) -> None:
    """get_workflow + create_dispatch posts ref and inputs; the fake records them."""
    workflow = client.get_repo(REPO).get_workflow("ami-test-apply.yml")
    assert workflow.path == ".github/workflows/ami-test-apply.yml"
    assert workflow.create_dispatch("main", {"ami_id": "ami-0abc", "env": "test"}, throw=True)
    assert [(d.repo, d.workflow, d.ref, d.inputs) for d in gh.dispatches] == [
        (REPO, "ami-test-apply.yml", "main", {"ami_id": "ami-0abc", "env": "test"})
    ]
    # without throw=True PyGithub swallows the 422 and returns False
    assert workflow.create_dispatch("main", {"count": 3}) is False
    with pytest.raises(github.GithubException) as raised:
        workflow.create_dispatch("main", {"count": 3}, throw=True)
    assert raised.value.status == 422
    assert len(gh.dispatches) == 1


def test_pygithub_unknown_workflow(client: github.Github) -> None:
    """A workflow the repository lacks: UnknownObjectException (PyGithub GETs it eagerly)."""
    with pytest.raises(github.UnknownObjectException):
        client.get_repo(REPO).get_workflow("nope.yml")


def test_pygithub_wrong_token(gh: FakeGitHub) -> None:
    """A wrong token raises BadCredentialsException."""
    wrong = github.Github(auth=Auth.Token("ghp_wrong"), base_url=gh.url)
    with pytest.raises(github.BadCredentialsException):
        wrong.get_repo(REPO)


def test_pygithub_unknown_repo(client: github.Github) -> None:
    """A repository the fake lacks raises UnknownObjectException."""
    with pytest.raises(github.UnknownObjectException):
        client.get_repo("acme/unknown")


def test_pygithub_retries_403_with_retry_after(gh: FakeGitHub, client: github.Github) -> None:
    """A secondary rate limit (403, Retry-After: 1) is retried after a second, then succeeds."""
    gh.fail_next(1, 403)
    started = time.monotonic()
    repo = client.get_repo(REPO)
    assert repo.full_name == REPO
    assert time.monotonic() - started >= 1
    assert [r.path for r in gh.requests] == [f"/repos/{REPO}", f"/repos/{REPO}"]


def test_pygithub_retries_500_on_upload_with_the_whole_body(
    gh: FakeGitHub, client: github.Github, tmp_path: Path
) -> None:
    """A 500 on an upload is retried at once, re-sending the whole file."""
    release = client.get_repo(REPO).create_git_release("v1", "v1", "")
    artefact = tmp_path / "ami.txt"
    artefact.write_bytes(b"ami-0123456789")
    gh.fail_next(1, 500)
    asset = release.upload_asset(str(artefact))
    uploads = gh.requests_to("POST", f"/repos/{REPO}/releases/{release.id}/assets")
    assert [u.body for u in uploads] == [b"ami-0123456789", b"ami-0123456789"]
    assert gh.assets[asset.id].data == b"ami-0123456789"


def test_pygithub_does_not_retry_patch(gh: FakeGitHub, client: github.Github) -> None:
    """PATCH is not in urllib3's retried methods: a 403 rate limit surfaces at once."""
    release = client.get_repo(REPO).create_git_release("v1", "v1", "")
    gh.fail_next(1, 403)
    with pytest.raises(github.RateLimitExceededException):
        release.update_release("v1", "new notes")
    assert len(gh.requests_to("PATCH", f"/repos/{REPO}/releases/")) == 1


def test_pygithub_follows_pagination(gh: FakeGitHub, client: github.Github) -> None:
    """get_releases follows the Link header across pages, newest first."""
    for i in range(32):
        gh.add_release(REPO, f"v0.{i}")
    tags = [r.tag_name for r in client.get_repo(REPO).get_releases()]
    assert tags == [f"v0.{i}" for i in reversed(range(32))]
    assert len(gh.requests_to("GET", f"/repos/{REPO}/releases")) == 2


def test_pygithub_exhausted_retries_raise_requests_retry_error(
    gh: FakeGitHub, client: github.Github
) -> None:
    """When every retry fails, PyGithub raises requests' RetryError, not a GithubException."""
    gh.fail_next(4, 500)
    with pytest.raises(requests.exceptions.RetryError):
        client.get_repo(REPO)
    assert len(gh.requests) == 4
