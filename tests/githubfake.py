"""A local HTTP server answering like GitHub's REST API for the endpoints the GitHub jobs use,
keeping issues, pull requests, comments and labels in memory and recording every request.

Endpoints (under /repos/{owner}/{repo}): issues (list with state/labels/creator filters,
create, read, edit), an issue's comments (list, paginated with a `Link` header, create),
a comment (edit), an issue's labels (add, remove), a commit and the pull requests it belongs
to. Requests without the expected token are answered 401, as GitHub does.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT = "github-actions[bot]"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeGitHub:
    """The repository's state; `url` is the API's base URL."""

    repository: str
    token: str
    url: str = ""
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1000

    # Setting the scene.

    def add_pull(self, number: int, head_sha: str, *, fork: bool = False) -> dict[str, Any]:
        head_repo = "someone/fork" if fork else self.repository
        issue = self._issue(number, f"Pull request {number}", "", "someone")
        issue["pull_request"] = {"url": f"{self.url}/repos/{self.repository}/pulls/{number}"}
        issue["head"] = {"sha": head_sha, "repo": {"full_name": head_repo}}
        return issue

    def merge(self, number: int, merge_sha: str) -> None:
        self.issues[number]["merge_commit_sha"] = merge_sha
        self.issues[number]["merged_at"] = "2026-01-01T00:00:00Z"
        self.commit_pulls.setdefault(merge_sha, []).append(number)

    def comment(self, number: int, body: str, user: str) -> dict[str, Any]:
        """A comment by anyone (a pull request's author posting a fake plan, say)."""
        with self.lock:
            return self._comment(number, body, user)

    def event(self, number: int) -> dict[str, Any]:
        """The `pull_request` event payload of pull request `number`."""
        issue = self.issues[number]
        return {
            "action": "synchronize",
            "number": number,
            "pull_request": {"number": number, "head": issue["head"]},
            "repository": {"full_name": self.repository},
        }

    # Reading what happened.

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    # The API.

    def answer(
        self, method: str, target: str, body: Any, token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        with self.lock:
            self.requests.append(Request(method, path, query, body))
            if token != self.token:
                return 401, {"message": "Bad credentials"}, {}
            prefix = f"/repos/{self.repository}"
            if not path.startswith(prefix + "/"):
                return 404, {"message": "Not Found"}, {}
            return self._route(method, path[len(prefix) :], query, body)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        routes = [
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._create_issue),
            ("GET", r"/issues/(\d+)", self._get_issue),
            ("PATCH", r"/issues/(\d+)", self._edit_issue),
            ("GET", r"/issues/(\d+)/comments", self._list_comments),
            ("POST", r"/issues/(\d+)/comments", self._create_comment),
            ("PATCH", r"/issues/comments/(\d+)", self._edit_comment),
            ("POST", r"/issues/(\d+)/labels", self._add_labels),
            ("DELETE", r"/issues/(\d+)/labels/(.+)", self._remove_label),
            ("GET", r"/commits/([0-9a-f]+)", self._get_commit),
            ("GET", r"/commits/([0-9a-f]+)/pulls", self._commit_pulls),
        ]
        for verb, pattern, handler in routes:
            found = re.fullmatch(pattern, path)
            if verb == method and found:
                return handler(*found.groups(), query=query, body=body)
        return 404, {"message": "Not Found"}, {}

    def _list_issues(
        self, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", ["open"])[0]
        labels = set(query.get("labels", [""])[0].split(",")) - {""}
        creator = query.get("creator", [None])[0]
        found = [
            self._issue_json(i)
            for i in self.issues.values()
            if (state == "all" or i["state"] == state)
            and labels <= {label for label in i["labels"]}
            and (creator is None or i["user"] == creator)
        ]
        return self._page(found, query, "/issues")

    def _create_issue(
        self, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        number = max(self.issues, default=0) + 1
        issue = self._issue(number, body["title"], body.get("body", ""), BOT)
        issue["labels"] = list(body.get("labels", []))
        return 201, self._issue_json(issue), {}

    def _get_issue(
        self, number: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self.issues.get(int(number))
        return (200, self._issue_json(issue), {}) if issue else (404, {"message": "Not Found"}, {})

    def _edit_issue(
        self, number: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self.issues[int(number)]
        for key in ("title", "body", "state", "state_reason"):
            if key in body:
                issue[key] = body[key]
        return 200, self._issue_json(issue), {}

    def _list_comments(
        self, number: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        found = [self._comment_json(c) for c in self.comments_on(int(number))]
        return self._page(found, query, f"/issues/{number}/comments")

    def _create_comment(
        self, number: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        return 201, self._comment_json(self._comment(int(number), body["body"], BOT)), {}

    def _edit_comment(
        self, comment_id: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        comment = self.comments.get(int(comment_id))
        if comment is None:
            return 404, {"message": "Not Found"}, {}
        if comment["user"] != BOT:
            return 403, {"message": "Resource not accessible by integration"}, {}
        comment["body"] = body["body"]
        return 200, self._comment_json(comment), {}

    def _add_labels(
        self, number: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self.issues[int(number)]
        names = body["labels"] if isinstance(body, dict) else body
        issue["labels"].extend(n for n in names if n not in issue["labels"])
        return 200, [self._label(n) for n in issue["labels"]], {}

    def _remove_label(
        self, number: str, name: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self.issues[int(number)]
        if name not in issue["labels"]:
            return 404, {"message": "Label does not exist"}, {}
        issue["labels"].remove(name)
        return 200, [self._label(n) for n in issue["labels"]], {}

    def _get_commit(
        self, sha: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        return 200, {"sha": sha, "url": f"{self.url}/repos/{self.repository}/commits/{sha}"}, {}

    def _commit_pulls(
        self, sha: str, *, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        pulls = [self._pull_json(self.issues[n]) for n in self.commit_pulls.get(sha, [])]
        return self._page(pulls, query, f"/commits/{sha}/pulls")

    # Objects as GitHub writes them (the fields PyGithub reads, with their URLs).

    def _issue(self, number: int, title: str, body: str, user: str) -> dict[str, Any]:
        issue = {"number": number, "title": title, "body": body, "user": user}
        issue.update(state="open", state_reason=None, labels=[])
        self.issues[number] = issue
        return issue

    def _comment(self, number: int, body: str, user: str) -> dict[str, Any]:
        self._next_id += 1
        comment = {"id": self._next_id, "issue": number, "body": body, "user": user}
        self.comments[self._next_id] = comment
        return comment

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        base = f"{self.url}/repos/{self.repository}/issues/{issue['number']}"
        data = {
            "id": issue["number"] + 500,
            "number": issue["number"],
            "title": issue["title"],
            "body": issue["body"],
            "state": issue["state"],
            "state_reason": issue["state_reason"],
            "user": self._user(issue["user"]),
            "labels": [self._label(n) for n in issue["labels"]],
            "url": base,
            "comments_url": f"{base}/comments",
            "html_url": f"https://github.example/{self.repository}/issues/{issue['number']}",
        }
        if "pull_request" in issue:
            data["pull_request"] = issue["pull_request"]
        return data

    def _pull_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        number = issue["number"]
        return {
            "id": number + 900,
            "number": number,
            "url": f"{self.url}/repos/{self.repository}/pulls/{number}",
            "state": "closed",
            "merged_at": issue.get("merged_at"),
            "merge_commit_sha": issue.get("merge_commit_sha"),
            "head": issue["head"],
        }

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": comment["id"],
            "body": comment["body"],
            "user": self._user(comment["user"]),
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{comment['id']}",
            "html_url": f"https://github.example/{self.repository}/pull/{comment['issue']}"
            f"#issuecomment-{comment['id']}",
        }

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}

    def _label(self, name: str) -> dict[str, Any]:
        return {"name": name, "url": f"{self.url}/repos/{self.repository}/labels/{name}"}

    def _page(
        self, items: list[Any], query: dict[str, list[str]], path: str
    ) -> tuple[int, Any, dict[str, str]]:
        """One page of a listing, with GitHub's `Link` header pointing to the next."""
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            kept = {k: v[0] for k, v in query.items() if k not in ("page", "per_page")}
            extra = "".join(f"&{k}={v}" for k, v in kept.items())
            where = f"{self.url}/repos/{self.repository}{path}"
            link = f"{where}?per_page={per_page}&page={page + 1}{extra}"
            headers["Link"] = f'<{link}>; rel="next"'
        return 200, chunk, headers


@contextmanager
def fake_github(
    repository: str = "acme/letta-config", token: str = "ghs_test"
) -> Iterator[FakeGitHub]:
    """A running fake GitHub API; `.url` is its base URL."""
    state = FakeGitHub(repository, token)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization", "")
            token = auth.split(" ", 1)[1] if " " in auth else None
            status, data, headers = state.answer(self.command, self.path, body, token)
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
