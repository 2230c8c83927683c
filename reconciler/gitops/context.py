"""What a GitHub Actions runner tells a step: the repository, the event and its payload, the
commit, where outputs and the job summary go. Read from the environment once, as values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import LettaApplyError

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    from_fork: bool
    """Opened from another repository: its runs get no secrets and a read-only token."""


@dataclass(frozen=True)
class RunContext:
    repository: str
    event_name: str
    sha: str
    api_url: str
    run_url: str
    token: str | None
    """GITHUB_TOKEN; None when the step posts nothing (`github plan --no-comment
    --no-labels`) and it is not set."""
    author: str
    output_file: Path | None
    summary_file: Path | None
    temp_dir: Path
    pull_request: PullRequest | None

    @classmethod
    def from_environ(cls, env: Mapping[str, str], *, posts: bool = True) -> RunContext:
        """The context of the step running now; a missing required variable is an error
        that says the command runs inside a GitHub Actions job. GITHUB_TOKEN is required only
        when the step `posts` to GitHub."""
        repository = _required(env, "GITHUB_REPOSITORY")
        server = env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL
        run_id = env.get("GITHUB_RUN_ID", "")
        return cls(
            repository=repository,
            event_name=_required(env, "GITHUB_EVENT_NAME"),
            sha=_required(env, "GITHUB_SHA"),
            api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            run_url=f"{server}/{repository}/actions/runs/{run_id}" if run_id else "",
            token=_required(env, "GITHUB_TOKEN") if posts else env.get("GITHUB_TOKEN") or None,
            author=env.get("LETTA_APPLY_COMMENT_AUTHOR") or "github-actions[bot]",
            output_file=_optional_path(env, "GITHUB_OUTPUT"),
            summary_file=_optional_path(env, "GITHUB_STEP_SUMMARY"),
            temp_dir=Path(env.get("RUNNER_TEMP") or "."),
            pull_request=_pull_request(env, repository),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise LettaApplyError(
            f"{name} is not set: `letta-apply github` runs inside a GitHub Actions job "
            "(see docs/gitops.md)"
        )
    return value


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value else None


def _pull_request(env: Mapping[str, str], repository: str) -> PullRequest | None:
    """The pull request of a `pull_request` event, from the event payload."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LettaApplyError(f"cannot read the event payload GITHUB_EVENT_PATH: {exc}") from exc
    pull = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pull, dict) or not isinstance(pull.get("number"), int):
        return None
    head = _mapping(pull.get("head"))
    head_repo = _mapping(head.get("repo"))
    return PullRequest(
        number=pull["number"],
        head_sha=str(head.get("sha") or ""),
        from_fork=head_repo.get("full_name") != repository,
    )


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}
