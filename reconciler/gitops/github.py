"""The GitHub REST calls the jobs make, through PyGithub: the stack's comment on a pull
request, the pull request's labels, the pull request a commit came from, the drift issue.

Only comments and issues written by `author` (the workflow token's account, usually
`github-actions[bot]`) are read as letta-apply's: anyone can post a comment that looks like a
plan, and nothing another account wrote is trusted or edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.errors import LettaApplyError

if TYPE_CHECKING:
    from github.Issue import Issue
    from github.IssueComment import IssueComment
    from github.Repository import Repository

DRIFT_LABEL = "letta:drift"


class GitHubError(LettaApplyError):
    """GitHub refused or failed a request the job needed."""


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    url: str
    handle: Any = field(default=None, compare=False, repr=False)
    """PyGithub's object, to edit the comment without reading it again."""


@dataclass(frozen=True)
class IssueRef:
    number: int
    body: str
    url: str


class GitHub:
    """One repository on one GitHub API (github.com or an Enterprise server)."""

    def __init__(self, api_url: str, token: str, repository: str, author: str) -> None:
        from github import Auth, Github  # PyGithub: only for the `github` commands

        # Lazy: objects are read when a field is needed, not when they are named.
        self._client = Github(
            base_url=api_url.rstrip("/"), auth=Auth.Token(token), retry=2, per_page=100, lazy=True
        )
        self._repo: Repository = self._client.get_repo(repository)
        self.author = author
        self._issues: dict[int, Issue] = {}

    def close(self) -> None:
        self._client.close()

    def comments(self, number: int) -> list[Comment]:
        """The author's comments on pull request `number`, oldest first."""
        with _calling("list the pull request's comments"):
            return [
                Comment(c.id, c.body or "", c.html_url, c)
                for c in self._issue(number).get_comments()
                if c.user is not None and c.user.login == self.author
            ]

    def upsert_comment(self, number: int, existing: Comment | None, body: str) -> Comment:
        """Edit the stack's comment, or post it when there is none yet."""
        with _calling("post the plan comment"):
            if existing is not None and existing.handle is not None:
                comment: IssueComment = existing.handle
                comment.edit(body)
            else:
                comment = self._issue(number).create_comment(body)
            return Comment(comment.id, comment.body or "", comment.html_url)

    def sync_labels(self, number: int, wanted: set[str], managed: tuple[str, ...]) -> None:
        """Give the pull request exactly `wanted` among the `managed` labels; others stay."""
        with _calling("set the pull request's labels"):
            issue = self._issue(number)
            present = {label.name for label in issue.labels}
            missing = sorted(wanted - present)
            if missing:
                issue.add_to_labels(*missing)
            for name in sorted((present & set(managed)) - wanted):
                issue.remove_from_labels(name)

    def merged_pull(self, sha: str) -> int | None:
        """The pull request merged as commit `sha` (a merge, squash or rebase commit)."""
        with _calling("find the pull request of the commit"):
            pulls = list(self._repo.get_commit(sha).get_pulls())
        # The listing has `merged_at`, not `merged` (which would read each pull request).
        merged = [p for p in pulls if p.merged_at is not None]
        chosen = [p for p in merged if p.merge_commit_sha == sha] or merged
        return chosen[0].number if chosen else None

    def drift_issues(self) -> Iterator[IssueRef]:
        """The author's open drift issues."""
        with _calling("list the open drift issues"):
            # PyGithub sends a login as it is (its annotation asks for a NamedUser).
            creator: Any = self.author
            for issue in self._repo.get_issues(state="open", labels=[DRIFT_LABEL], creator=creator):
                if issue.pull_request is None:
                    yield IssueRef(issue.number, issue.body or "", issue.html_url)

    def open_issue(self, title: str, body: str) -> IssueRef:
        with _calling("open the drift issue"):
            issue = self._repo.create_issue(title=title, body=body, labels=[DRIFT_LABEL])
        return IssueRef(issue.number, body, issue.html_url)

    def update_issue(self, number: int, title: str, body: str) -> None:
        with _calling("update the drift issue"):
            self._repo.get_issue(number).edit(title=title, body=body)

    def close_issue(self, number: int, comment: str) -> None:
        with _calling("close the drift issue"):
            issue = self._repo.get_issue(number)
            issue.create_comment(comment)
            issue.edit(state="closed", state_reason="completed")

    def _issue(self, number: int) -> Issue:
        """The pull request (an issue, to the REST API), read once per job."""
        if number not in self._issues:
            self._issues[number] = self._repo.get_issue(number)
        return self._issues[number]


class _calling:
    """Turns PyGithub's and the network's errors into one GitHubError naming the step."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        from github import GithubException
        from requests import RequestException

        if isinstance(exc, GithubException):
            message = exc.data.get("message") if isinstance(exc.data, dict) else None
            raise GitHubError(
                f"GitHub refused to {self.what}: HTTP {exc.status} {message or ''}".rstrip()
            ) from exc
        if isinstance(exc, RequestException):
            raise GitHubError(f"cannot reach GitHub to {self.what}: {type(exc).__name__}") from exc
