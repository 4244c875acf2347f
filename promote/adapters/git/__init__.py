"""The one place that talks to git (GitPython): changelogs, the local release backend, and
the user's git identity (the default owner of a pin)."""

from __future__ import annotations

import configparser
from collections.abc import Sequence
from pathlib import Path

import git

from promote.domain.ports import Commit
from promote.errors import remote_error, usage_error


def user_email(path: Path) -> str | None:
    """git's `user.email` as git itself would resolve it at PATH (repository, global, system);
    None when it is not set."""
    try:
        with git.Repo(path, search_parent_directories=True) as repo:
            reader = repo.config_reader()
            return str(reader.get_value("user", "email", "")).strip() or None
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        pass
    except (configparser.Error, OSError):
        return None
    try:
        files = [Path.home() / ".gitconfig", Path.home() / ".config/git/config"]
        reader = git.GitConfigParser(
            [str(f) for f in files if f.is_file()] + ["/etc/gitconfig"], read_only=True
        )
        return str(reader.get_value("user", "email", "")).strip() or None
    except (configparser.Error, OSError):
        return None


class Repository:
    """A git work tree: what changed since the last release, and local releases."""

    def __init__(self, path: Path) -> None:
        try:
            self.repo = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise usage_error(
                f"{path} is not inside a git repository",
                "pass --git-repo PATH, or run from the repository",
            ) from None
        if self.repo.bare:
            raise usage_error(f"{path} is a bare repository", "use a work tree")
        self.root = Path(self.repo.working_tree_dir or path)

    def head_sha(self) -> str | None:
        """The commit checked out, or None in an empty repository."""
        try:
            return self.repo.head.commit.hexsha
        except ValueError:
            return None

    def is_dirty(self) -> bool:
        """True when tracked files have uncommitted changes."""
        return self.repo.is_dirty(untracked_files=False)

    def last_change(self, paths: Sequence[Path]) -> str | None:
        """The last commit that changed any of PATHS, with `+dirty` when they have uncommitted
        (or untracked) changes; None when no commit touched them."""
        inside = [
            str(p.resolve().relative_to(self.root.resolve()))
            for p in paths
            if p.resolve().is_relative_to(self.root.resolve())
        ]
        if not inside:
            return None
        try:
            commit = next(self.repo.iter_commits(paths=inside, max_count=1), None)
        except (ValueError, git.GitCommandError):
            return None
        if commit is None:
            return None
        dirty = any(self.repo.is_dirty(untracked_files=True, path=path) for path in inside)
        return commit.hexsha + ("+dirty" if dirty else "")

    def tags(self, prefix: str) -> list[str]:
        """Tags starting with PREFIX, newest commit first."""
        tags = [t for t in self.repo.tags if t.name.startswith(prefix)]
        tags.sort(key=lambda t: t.commit.committed_date, reverse=True)
        return [t.name for t in tags]

    def tag_naming(self, text: str) -> str | None:
        """An annotated tag whose message names TEXT (an AMI id), newest first, if any."""
        for name in self.tags(""):
            tag = self.repo.tags[name].tag
            if tag is not None and text in str(tag.message):
                return name
        return None

    def has_tag(self, name: str) -> bool:
        """True when the tag exists."""
        return name in {t.name for t in self.repo.tags}

    def previous_tag(self, prefix: str, excluding: str) -> str | None:
        """The newest tag with PREFIX that is an ancestor of HEAD, other than EXCLUDING."""
        if self.head_sha() is None:
            return None
        head = self.repo.head.commit
        for name in self.tags(prefix):
            if name == excluding:
                continue
            if self.repo.is_ancestor(self.repo.tags[name].commit, head):
                return name
        return None

    def commits_since(self, tag: str | None, limit: int = 200) -> list[Commit]:
        """Commits on HEAD since TAG (all of HEAD's history when None), newest first."""
        if self.head_sha() is None:
            return []
        revision = f"{tag}..HEAD" if tag else "HEAD"
        return [
            Commit(c.hexsha, str(c.summary), str(c.author.name))
            for c in self.repo.iter_commits(revision, max_count=limit)
        ]

    def write_release(
        self, tag: str, notes: str, message: str, attachments: tuple[Path, ...] = ()
    ) -> Path:
        """Commit `releases/<tag>.md` (and ATTACHMENTS, inside the tree) and tag it (annotated).

        A re-run with the tag present changes nothing.
        """
        path = self.root / "releases" / f"{tag}.md"
        if self.has_tag(tag):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(notes)
        files = [path, *attachments]
        self.repo.index.add([str(f.relative_to(self.root)) for f in files])
        self.repo.index.commit(f"Release {tag}")
        self.repo.create_tag(tag, message=message)
        return path


class ResultsRepository:
    """The git repository existing pipelines read `results/<pipeline>.test` from.

    Each publish clones it (shallow) into a temporary directory, writes the file, commits and
    pushes; when the push is rejected because someone pushed first (non-fast-forward), it
    fetches, starts again from their commit and retries, up to ATTEMPTS times. Credentials
    are git's own (an SSH key, or a credential helper), never promote's.
    """

    ATTEMPTS = 5

    def __init__(self, url: str, author: str = "promote") -> None:
        self.url = url
        self.author = git.Actor(author, f"{author}@users.noreply.promote")

    def publish(self, path: str, content: str, message: str) -> str | None:
        """Make PATH hold CONTENT on the default branch; the commit pushed (None: it already
        did)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="promote-results-") as tmp:
            try:
                repo = git.Repo.clone_from(self.url, tmp, depth=1)
            except git.GitCommandError as exc:
                raise remote_error(
                    f"cannot clone the results repository {self.url}: {_first_line(exc)}",
                    "check results_git_repo and git's credentials for it",
                ) from None
            for attempt in range(1, self.ATTEMPTS + 1):
                target = Path(tmp) / path
                if target.is_file() and target.read_text() == content:
                    return None
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                repo.index.add([path])
                commit = repo.index.commit(message, author=self.author, committer=self.author)
                try:
                    repo.remote("origin").push(refspec="HEAD").raise_if_error()
                    return str(commit.hexsha)
                except git.GitCommandError as exc:
                    if attempt == self.ATTEMPTS:
                        raise remote_error(
                            f"could not push {path} to {self.url} after {attempt} attempts: "
                            f"{_first_line(exc)}",
                            "someone keeps pushing first, or the push is refused; re-run",
                        ) from None
                    origin = repo.remote("origin")
                    origin.fetch(depth=1)
                    repo.head.reset(
                        f"origin/{repo.active_branch.name}", index=True, working_tree=True
                    )
        return None


def _first_line(exc: git.GitCommandError) -> str:
    text = str(exc.stderr or exc).strip()
    return text.splitlines()[-1] if text else "git failed"
