"""AppContext: builds every adapter once per invocation; `services()` is what domain code gets.

Tests build it with their own clock, streams and environment; nothing here talks to AWS until a
command asks for something that does. Adapters are imported lazily, so `promote --version` and
`promote --help` load neither boto3 nor rich.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from promote import __version__
from promote import config as config_module
from promote.cli.output import Output
from promote.clock import Clock, SystemClock
from promote.config import Config, Overrides

if TYPE_CHECKING:
    from promote.adapters.attest import EnvelopeVerifier
    from promote.adapters.aws.kms import KmsKey
    from promote.adapters.aws.session import Aws
    from promote.adapters.concourse import ConcourseAPI
    from promote.adapters.git import Repository, ResultsRepository
    from promote.adapters.github import GitHubRepo
    from promote.adapters.packer import PackerCli
    from promote.domain.services import Services
    from promote.sandbox.server import SandboxUp


class AppContext:
    """Config, adapters, clock and output for one invocation."""

    def __init__(
        self,
        overrides: Overrides,
        environ: Mapping[str, str],
        cwd: Path,
        output: Output,
        clock: Clock | None = None,
    ) -> None:
        self.overrides = overrides
        self.environ = environ
        self.cwd = cwd
        self.output = output
        self.clock: Clock = clock or SystemClock()

    @cached_property
    def config(self) -> Config:
        """The resolved configuration (exit 2 when it is wrong)."""
        return config_module.load(self.overrides, self.environ, self.cwd)

    @cached_property
    def user(self) -> str:
        """The local login name."""
        from promote.adapters.host import local_user

        return local_user(self.environ)

    @cached_property
    def aws(self) -> Aws:
        """The AWS session (imports boto3 on first use)."""
        return self._aws(self.config)

    def _aws(self, config: Config, credentials: tuple[str, str] | None = None) -> Aws:
        from promote.adapters.aws.session import Aws

        aws = Aws(config, credentials=credentials, user=self.user)
        hooks = self.environ.get("PROMOTE_TEST_HOOKS")
        if hooks:
            # A test seam, not a feature: "module:function" is called with the Aws layer so a
            # test can register botocore event handlers (fault injection, crash points) in a
            # CLI run, also in a subprocess. Nothing in promote sets it.
            import importlib

            module, _, function = hooks.partition(":")
            getattr(importlib.import_module(module), function)(aws)
        return aws

    def services(self) -> Services:
        """Every port the domain may use, over AWS (built once)."""
        return self._services

    def services_at(self, endpoint: str | None) -> Services:
        """The services over the local AWS at ENDPOINT (the sandbox credentials unless AWS
        ones are set), or the usual ones when ENDPOINT is None or already the configured one."""
        if endpoint is None or endpoint == self.config.endpoint_url:
            return self.services()
        from promote.domain.build import SANDBOX_CREDENTIALS

        local = replace(self.config, endpoint_url=endpoint, profile=None)
        have = self.environ.get("AWS_ACCESS_KEY_ID") and self.environ.get("AWS_SECRET_ACCESS_KEY")
        return self._make_services(self._aws(local, None if have else SANDBOX_CREDENTIALS), local)

    @cached_property
    def _services(self) -> Services:
        return self._make_services(self.aws, self.config)

    def _make_services(self, aws: Aws, config: Config) -> Services:
        from promote.adapters.attest import EnvelopeSigner
        from promote.adapters.aws.autoscaling import AwsFleet, AwsFleetControl
        from promote.adapters.aws.ec2 import AwsImages, AwsImageUsage
        from promote.adapters.aws.kms import KmsKey
        from promote.adapters.aws.s3 import S3Ledger
        from promote.adapters.aws.secrets import AwsSecrets
        from promote.adapters.deploy import CommandDeployer
        from promote.adapters.host import describe_actor
        from promote.domain.services import Services

        secrets = AwsSecrets(aws)
        evidence_key = KmsKey(aws, config.evidence_signing_key)
        event_key = KmsKey(aws, config.event_signing_key)
        return Services(
            config=config,
            clock=self.clock,
            images=AwsImages(aws),
            ledger=S3Ledger(aws, config.evidence_bucket),
            secrets=secrets,
            writer=secrets,
            fleet=AwsFleet(aws),
            fleet_control=AwsFleetControl(aws),
            usage=AwsImageUsage(aws),
            actor=cache(lambda: describe_actor(self.environ, aws.caller_identity())),
            tool_version=__version__,
            evidence_signer=EnvelopeSigner(evidence_key),
            evidence_verifier=self._verifier(evidence_key, config.evidence_public_key),
            event_signer=EnvelopeSigner(event_key),
            event_verifier=self._verifier(event_key, config.event_public_key),
            user=self.user,
            deployer=CommandDeployer(self.environ),
            secrets_at=cache(lambda place: (AwsSecrets(aws, place),) * 2),
            results=self._results(),
            progress=self.output.progress,
            warn=self.output.warn,
        )

    def _verifier(self, key: KmsKey, pinned: str | None) -> EnvelopeVerifier:
        """Verifies with KEY's public half (from KMS, once) or the PINNED PEM instead."""
        from promote.adapters.attest import EnvelopeVerifier, pinned_pem

        if pinned is None:
            return EnvelopeVerifier(key.name, key.public_pem)
        base = self.config.path.parent if self.config.path else self.cwd
        return EnvelopeVerifier(key.name, pinned_pem(pinned, base))

    def _results(self) -> ResultsRepository | None:
        """The results repository validate of test_env commits to, when one is configured."""
        if not self.config.results_git_repo:
            return None
        from promote.adapters.git import ResultsRepository

        return ResultsRepository(self.config.results_git_repo)

    def this_instance(self) -> str | None:
        """The EC2 instance promote runs on, if any (IMDSv2)."""
        from promote.adapters.host import this_instance_id

        return this_instance_id(self.environ)

    def github(self, repo: str | None = None) -> GitHubRepo | None:
        """The GitHub repository (REPO, else github_repo), when a token is set; else None."""
        from promote.adapters.github import GitHubRepo, token_from

        token = token_from(self.environ)
        if not token:
            return None
        name = repo or self.config.github_repo
        return GitHubRepo(name, token, self.environ.get("GITHUB_API_URL"))

    def repository(self, path: Path) -> Repository:
        """The git work tree at PATH (exit 2 when it is none)."""
        from promote.adapters.git import Repository

        return Repository(path)

    def git_email(self) -> str | None:
        """git's user.email here, or None."""
        from promote.adapters.git import user_email

        return user_email(self.cwd)

    def packer(self) -> PackerCli:
        """Packer, found on PATH when a build runs."""
        from promote.adapters.packer import PackerCli

        return PackerCli()

    def concourse(self, url: str, insecure_http: bool = False) -> ConcourseAPI:
        """A Concourse web node's API, with CONCOURSE_TOKEN or CONCOURSE_USERNAME/PASSWORD.

        Credentials go over plain http only to this machine, or with --insecure-http."""
        from urllib.parse import urlsplit

        from promote.adapters.concourse import ConcourseAPI
        from promote.errors import usage_error

        token = self.environ.get("CONCOURSE_TOKEN") or None
        username = self.environ.get("CONCOURSE_USERNAME") or None
        password = self.environ.get("CONCOURSE_PASSWORD") or None
        if not token and not (username and password):
            raise usage_error(
                "--concourse-url needs CONCOURSE_TOKEN, or CONCOURSE_USERNAME and "
                "CONCOURSE_PASSWORD",
                "export a bearer token of a team that may retire workers, or a local user",
            )
        parts = urlsplit(url)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not local and not insecure_http:
            raise usage_error(
                f"--concourse-url {parts.scheme}://{parts.hostname} would send credentials "
                "unencrypted",
                "use https, or pass --insecure-http if you really mean it",
            )
        return ConcourseAPI(url, token, username, password)

    def start_sandbox(self, seed: bool = True) -> SandboxUp:
        """Start (or find) the local AWS, and seed it unless told not to."""
        from promote.domain.build import SANDBOX_CREDENTIALS
        from promote.sandbox import estate, server

        running, started = server.up(self.environ, self.cwd)
        self.output.progress(
            f"local AWS {'started' if started else 'already running'} at {running.endpoint} "
            f"(pid {running.pid})"
        )
        if seed:
            local = replace(self.config, endpoint_url=running.endpoint, profile=None)
            report = estate.seed(self._aws(local, SANDBOX_CREDENTIALS), local, self.clock)
            self.output.progress(
                f"seeded: {len(report.created)} created, {len(report.kept)} already there"
            )
        return server.SandboxUp(running, started, running.exports(self.config.region))
