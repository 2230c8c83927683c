"""The GitHub Action (`action.yml`) run as a runner runs it, against the real server and a
local GitHub API: plan comments (one per stack, edited on every push), labels, validation
errors and blocked resources failing the check, apply refusing what was not reviewed, and
the drift issue's life."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.actionrunner import ActionRun, Runner
from tests.githubfake import BOT, FakeGitHub, fake_github
from tests.integration.helpers import (
    REGIONS,
    letta_apply,
    write_desk_stack,
    write_fleet,
    write_manifest,
)

pytestmark = pytest.mark.server

PATH = "letta"


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        yield fake


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub) -> Runner:
    """One runner for the module: letta-apply is installed from the action's checkout by the
    first run and found there by the next, as within one job."""
    temp = tmp_path_factory.mktemp("runner") / "temp"
    temp.mkdir()
    return Runner(temp, github.url, github.repository, github.token)


class Repo:
    """A checkout of the configuration repository with one stack under `letta/`, and the
    pull requests and commits made on it."""

    def __init__(self, root: Path, github: FakeGitHub, runner: Runner, url: str) -> None:
        self.root, self.github, self.runner, self.url = root, github, runner, url
        self.commits = 0

    def commit(self) -> str:
        self.commits += 1
        return hashlib.sha1(f"{self.root}{self.commits}".encode()).hexdigest()

    def action(
        self, command: str, *, event_name: str, event: dict[str, Any], sha: str, **inputs: str
    ) -> ActionRun:
        given = {"command": command, "path": PATH, "letta_base_url": self.url, **inputs}
        return self.runner.run(
            given, event_name=event_name, event=event, sha=sha, workspace=self.root
        )

    def plan(self, number: int, **inputs: str) -> ActionRun:
        head = self.commit()
        self.github.issues[number]["head"]["sha"] = head
        return self.action(
            "plan", event_name="pull_request", event=self.github.event(number), sha=head, **inputs
        )

    def merge_and_apply(self, number: int, **inputs: str) -> ActionRun:
        merged = self.commit()
        self.github.merge(number, merged)
        return self.action(
            "apply", event_name="push", event={"ref": "refs/heads/main"}, sha=merged, **inputs
        )

    def drift(self) -> ActionRun:
        return self.action(
            "drift", event_name="schedule", event={"schedule": "0 6 * * *"}, sha=self.commit()
        )


@pytest.fixture
def repo(tmp_path: Path, github: FakeGitHub, runner: Runner, letta_url: str) -> Repo:
    return Repo(tmp_path, github, runner, letta_url)


def _pull(github: FakeGitHub) -> int:
    number = max(github.issues, default=0) + 1
    github.add_pull(number, head_sha="0" * 40)
    return number


def _bot_comments(github: FakeGitHub, number: int) -> list[dict[str, Any]]:
    return [c for c in github.comments_on(number) if c["user"] == BOT]


def test_plan_comment_is_posted_once_and_edited_on_every_push(
    repo: Repo, github: FakeGitHub, stack_name: str
) -> None:
    write_desk_stack(repo.root / PATH, stack_name, ["ann", "bob"])
    number = _pull(github)

    first = repo.plan(number)
    assert first.code == 0, first.log
    assert first.outputs["exitcode"] == "2" and first.outputs["has_changes"] == "true"
    assert first.outputs["summary"].startswith(f"{stack_name}: 3 to create")
    (comment,) = _bot_comments(github, number)
    assert comment["body"].startswith("<!-- letta-apply plan ")
    assert f"letta-apply plan for `{stack_name}`" in comment["body"]
    assert "agent/desk" in comment["body"] and "Plan digest" in comment["body"]
    assert github.issues[number]["labels"] == ["letta:changes"]
    assert f"letta-apply plan for `{stack_name}`" in first.summary
    plan_json = json.loads(Path(first.outputs["plan_json"]).read_text(encoding="utf-8"))
    assert plan_json["stack"] == stack_name and plan_json["summary"]["create"] == 3
    assert Path(first.outputs["plan_markdown"]).read_text(encoding="utf-8") in comment["body"]
    (upload,) = first.uses
    assert upload["uses"].startswith("actions/upload-artifact@")
    uploaded = Path(upload["with"]["path"])
    # Values are redacted by default: the artifact keeps no saved plan (it holds the memory
    # the comment leaves out).
    assert sorted(p.name for p in uploaded.iterdir()) == ["plan.json", "plan.md"]

    # The next push: the same comment, edited; no second comment.
    write_desk_stack(repo.root / PATH, stack_name, ["ann", "bob", "cat"])
    second = repo.plan(number)
    assert second.code == 0, second.log
    (edited,) = _bot_comments(github, number)
    assert edited["id"] == comment["id"] and "conversation/desk/cat" in edited["body"]
    edits = [r for r in github.writes() if r.path.endswith(f"/issues/comments/{comment['id']}")]
    assert [r.method for r in edits] == ["PATCH"]

    # Applied meanwhile: the same comment says there is nothing to do, and the labels follow.
    assert letta_apply(str(repo.root / PATH), url=repo.url).code == 0
    third = repo.plan(number)
    assert third.code == 0 and third.outputs["exitcode"] == "0", third.log
    assert third.outputs["has_changes"] == "false"
    (same,) = _bot_comments(github, number)
    assert same["id"] == comment["id"] and "No changes" in same["body"]
    assert github.issues[number]["labels"] == ["letta:no-changes"]


def test_a_comment_by_someone_else_is_neither_edited_nor_trusted(
    repo: Repo, github: FakeGitHub, stack_name: str
) -> None:
    write_desk_stack(repo.root / PATH, stack_name, ["ann"])
    number = _pull(github)
    first = repo.plan(number)
    (ours,) = _bot_comments(github, number)
    # Someone posts a comment that looks like the plan, with a record for a different plan.
    forged = ours["body"].replace(ours["body"].split('"digest":"')[1][:64], "f" * 64)
    github.comment(number, forged, "mallory")
    assert first.code == 0
    second = repo.plan(number)
    assert second.code == 0, second.log
    assert [c["user"] for c in github.comments_on(number)] == [BOT, "mallory"]
    assert github.comments_on(number)[1]["body"] == forged
    # The reviewed plan is ours: the apply goes ahead.
    applied = repo.merge_and_apply(number)
    assert applied.code == 0, applied.log


def test_validation_errors_fail_the_check_and_leave_nothing_to_apply(
    repo: Repo, github: FakeGitHub, stack_name: str, sdk: Letta
) -> None:
    write_desk_stack(repo.root / PATH, stack_name, ["ann"])
    number = _pull(github)
    assert repo.plan(number).code == 0
    stack = repo.root / PATH / "stack.yaml"
    stack.write_text(stack.read_text().replace("agents:", "agentz:"), encoding="utf-8")

    broken = repo.plan(number)
    assert broken.code == 1 and broken.outputs["exitcode"] == "1"
    (comment,) = _bot_comments(github, number)
    assert "do not validate" in comment["body"] and "stack.yaml:" in comment["body"]
    assert '"status":"invalid"' in comment["body"] and '"digest":null' in comment["body"]
    assert "do not validate" in broken.summary
    assert github.issues[number]["labels"] == []

    # Fixed on main but the comment on the pull request holds no plan: nothing is applied.
    stack.write_text(stack.read_text().replace("agentz:", "agents:"), encoding="utf-8")
    refused = repo.merge_and_apply(number)
    assert refused.code == 1, refused.log
    assert "has no plan of" in refused.log and "Nothing was applied" in refused.log
    assert list(sdk.agents.list(tags=[f"letta-apply:{stack_name}"])) == []


def test_blocked_resources_fail_the_check(
    repo: Repo, github: FakeGitHub, stack_name: str, sdk: Letta
) -> None:
    key = f"carol-{stack_name}"
    sdk.post(
        "/v1/identities/",
        cast_to=object,
        body={"identifier_key": key, "name": "Carol", "identity_type": "user"},
    )
    write_desk_stack(repo.root / PATH, stack_name, [key], pattern="identity")
    number = _pull(github)
    blocked = repo.plan(number)
    assert blocked.code == 1 and blocked.outputs["exitcode"] == "2", blocked.log
    assert blocked.outputs["summary"].endswith("; 1 blocked")
    (comment,) = _bot_comments(github, number)
    assert f"identity/{key}" in comment["body"]


def test_apply_runs_the_reviewed_plan_and_publishes_the_outputs(
    repo: Repo, github: FakeGitHub, stack_name: str, sdk: Letta
) -> None:
    path = write_desk_stack(repo.root / PATH, stack_name, ["ann"])
    assert letta_apply(str(path), url=repo.url).code == 0
    write_desk_stack(repo.root / PATH, stack_name, ["ann", "bob"])
    number = _pull(github)
    assert repo.plan(number).code == 0
    # The agent rewrites its seeded memory between review and merge: the review still holds.
    (agent,) = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.blocks.update("persona", agent_id=agent.id, value="I learned to help better.")

    applied = repo.merge_and_apply(number)
    assert applied.code == 0 and applied.outputs["exitcode"] == "2", applied.log
    assert applied.outputs["summary"] == f"{stack_name}: 1 to create (applied)"
    (upload,) = applied.uses
    outputs = json.loads((Path(upload["with"]["path"]) / "outputs.json").read_text())
    assert set(outputs["users"]) == {"ann", "bob"}
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=repo.url).code == 0
    kept = sdk.agents.blocks.retrieve("persona", agent_id=agent.id)
    assert kept.value == "I learned to help better."


def test_apply_refuses_a_plan_that_differs_from_the_review(
    repo: Repo, github: FakeGitHub, stack_name: str, sdk: Letta
) -> None:
    write_desk_stack(repo.root / PATH, stack_name, ["ann"])
    number = _pull(github)
    assert repo.plan(number).code == 0
    # The branch merged holds more than the reviewed plan (a change landed without a new plan).
    write_desk_stack(repo.root / PATH, stack_name, ["ann", "zed"])
    refused = repo.merge_and_apply(number)
    assert refused.code == 1, refused.log
    assert f"differs from the plan reviewed on pull request #{number}" in refused.log
    assert "not reviewed: create conversation/desk/zed" in refused.log
    assert "reviewed: 2 to create; now: 3 to create" in refused.log
    assert "not applied" in refused.summary
    assert list(sdk.agents.list(tags=[f"letta-apply:{stack_name}"])) == []


def test_a_pull_request_from_a_fork_is_validated_not_planned(
    repo: Repo, github: FakeGitHub, stack_name: str
) -> None:
    write_desk_stack(repo.root / PATH, stack_name, ["ann"])
    number = max(github.issues, default=0) + 1
    github.add_pull(number, head_sha="1" * 40, fork=True)
    before = len(github.requests)
    run = repo.plan(number)
    assert run.code == 0 and run.outputs["exitcode"] == "0", run.log
    assert "fork" in run.summary
    assert github.requests[before:] == []


def test_drift_opens_one_issue_keeps_it_current_and_closes_it(
    repo: Repo, github: FakeGitHub, stack_name: str, sdk: Letta
) -> None:
    path = write_desk_stack(repo.root / PATH, stack_name, ["ann"], policy="enforce")
    assert letta_apply(str(path), url=repo.url).code == 0
    assert repo.drift().outputs["exitcode"] == "0"

    (agent,) = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.blocks.update("persona", agent_id=agent.id, value="Rewritten by hand.")
    opened = repo.drift()
    assert opened.code == 0 and opened.outputs["exitcode"] == "2", opened.log
    (issue,) = _drift_issues(github, stack_name)
    assert issue["state"] == "open" and issue["labels"] == ["letta:drift"]
    assert "persona" in issue["body"] and "Rewritten by hand" not in issue["body"]  # redacted
    first_body = issue["body"]

    sdk.agents.blocks.update("persona", agent_id=agent.id, value="Rewritten again.")
    updated = repo.drift()
    assert updated.outputs["exitcode"] == "2"
    (same,) = _drift_issues(github, stack_name)
    assert same["number"] == issue["number"] and same["body"] != first_body
    issue_writes = [r for r in github.writes() if "/issues" in r.path and "comments" not in r.path]
    assert [r.method for r in issue_writes[-2:]] == ["POST", "PATCH"]

    assert letta_apply(str(path), url=repo.url).code == 0
    closed = repo.drift()
    assert closed.outputs["exitcode"] == "0", closed.log
    assert github.issues[issue["number"]]["state"] == "closed"
    last = github.comments_on(issue["number"])[-1]
    assert "matches the manifests again" in last["body"]


def _drift_issues(github: FakeGitHub, stack: str) -> list[dict[str, Any]]:
    return [i for i in github.issues.values() if "pull_request" not in i and stack in i["title"]]


def test_the_action_refuses_an_unknown_command(
    repo: Repo, github: FakeGitHub, stack_name: str
) -> None:
    write_manifest(repo.root / PATH, f"apiVersion: letta-apply/v1\nstack: {stack_name}\n")
    run = repo.action("destroy", event_name="push", event={}, sha=repo.commit())
    assert run.code == 1 and "command must be plan, apply or drift" in run.log


def test_stacks_sharing_a_users_file_run_with_the_fleet_folder_as_root(
    repo: Repo, github: FakeGitHub, stack_name: str, sdk: Letta
) -> None:
    """The fleet workflow's steps: each stack of `letta/fleet/` planned and applied by its
    own run of the action, reading `../users.csv` through the `root` input."""
    stacks = write_fleet(repo.root / "letta" / "fleet", stack_name)
    where = {"working_directory": "letta/fleet", "root": "."}
    number = _pull(github)
    refused = repo.plan(number, working_directory="letta/fleet", path=REGIONS[0])
    assert refused.code == 1 and "outside the stack's root" in refused.log, refused.log
    for region in REGIONS:
        planned = repo.plan(number, path=region, **where)
        assert planned.code == 0, planned.log
        assert planned.outputs["summary"].startswith(f"{stacks[region]}: 6 to create, 2 to attach")
    assert len(_bot_comments(github, number)) == 2

    merged = repo.commit()
    github.merge(number, merged)
    push = {"ref": "refs/heads/main"}
    for region in REGIONS:
        applied = repo.action(
            "apply", event_name="push", event=push, sha=merged, path=region, **where
        )
        assert applied.code == 0, applied.log
        owned = sdk.agents.list(tags=[f"letta-apply:{stacks[region]}"], limit=10)
        assert sorted(a.name for a in owned)[-1] == f"support-{region}"
