"""The one way letta-apply talks to a Letta server: retries, request counting, error mapping.

Requests go through httpx with plain JSON in and out, as the Letta SDK sends them (its
headers, `LETTA_CUSTOM_HEADERS`, lists in the query repeated); the SDK itself is not imported:
its typed models, which letta-apply never uses, took longer to import than a no-op plan of a
small stack takes to read. Nor are its retries wanted: it retries POST on 5xx and timeouts
with no idempotency key, which leaves duplicate agents behind when the first attempt did
succeed. Here reads and idempotent writes are retried with backoff (honouring `Retry-After`);
a create is sent once, and after an ambiguous failure the caller's read-back decides whether
it happened before a new attempt is made.
"""

from __future__ import annotations

import json
import os
import queue
import random
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from secrets import token_hex
from types import TracebackType
from typing import Any, Self

import httpx

from reconciler.environ import EnvGrant
from reconciler.errors import (
    Cancelled,
    ConnectionFailed,
    LettaApplyError,
    ServerError,
    UnexpectedAnswer,
)
from reconciler.keys import OperatorKey
from reconciler.paging import PAGE
from reconciler.secrets import SecretAccess
from reconciler.shape import unexpected
from reconciler.text import REDACTED, redact_url
from reconciler.values import JSON

Params = Mapping[str, Any]
_PageKey = tuple[str, int, tuple[tuple[str, object], ...]]
Answer = object
"""A server's answer, decoded JSON: read through the record of the kind that asked
(`reconciler.shape`), never indexed as it is."""

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retryable failures: exponential with full jitter, capped."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(0, ceiling)


@dataclass(frozen=True)
class Target:
    """Where the server is and how to authenticate; the key is never part of any output."""

    base_url: str
    api_key: str | None = None
    project_id: str | None = None
    timeout: float = 60.0
    max_rps: float | None = None
    """At most this many requests a second (every request: pages and retries too)."""

    @property
    def label(self) -> str:
        """The base URL as it may be printed or saved: credentials in it replaced."""
        return redact_url(self.base_url)

    def __repr__(self) -> str:
        return f"Target(base_url={self.label!r}, project_id={self.project_id!r})"


class Pacer:
    """Spaces requests at least 1/rate seconds apart across threads (with a margin for the
    network's jitter), so no second ever sees more than `rate` of them arrive: a shared
    server is never flooded by one apply."""

    MARGIN = 1.05

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = self.MARGIN / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


class LettaApi:
    """Thread-safe access to the server's REST API with plain JSON in and out.

    A context manager: leaving the `with` block closes the connections.
    """

    def __init__(
        self,
        target: Target,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        secrets: SecretAccess | None = None,
    ) -> None:
        self.target = target
        self.secrets = secrets or SecretAccess(EnvGrant(), OperatorKey(target.api_key))
        """The variables the operator lets the stack's secrets be read from, and the key."""
        self.retry = retry or RetryPolicy()
        self._cancelled = threading.Event()
        self._sleep = sleep or self._cancelled.wait
        """Waits between retries; by default cut short by `cancel`."""
        self._lock = threading.Lock()
        self._requests = 0
        self._answered = False
        """Whether the server ever answered: until it has, a refused connection means nobody
        listens there, and retrying would only delay saying so."""
        self._pacer = Pacer(target.max_rps) if target.max_rps else None
        self._asked: dict[_PageKey, Future[list[Answer]]] = {}
        """First pages asked for ahead (`ask_first_page`), each until `paginate` takes it."""
        self._ahead: ThreadPoolExecutor | None = None
        self._base = _base_url(target.base_url)
        self.http = httpx.Client(
            headers=_headers(target),
            timeout=target.timeout,
            verify=_certificates(self._base),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            event_hooks={"request": [self._count]},
        )

    @property
    def requests(self) -> int:
        """How many HTTP requests this client has sent, retries included."""
        return self._requests

    def _count(self, _request: httpx.Request) -> None:
        if self._pacer is not None:
            self._pacer.wait()
        with self._lock:
            self._requests += 1

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.shutdown(wait=True, cancel_futures=True)
        self.http.close()

    def cancel(self) -> None:
        """Send nothing more: every request not sent yet, retries included, raises
        `Cancelled` (reads whose answers are no longer wanted end at their next request);
        a wait before a retry ends at once. Requests already sent are answered as usual."""
        self._cancelled.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Reads and idempotent writes: retried.

    def get(self, path: str, params: Params | None = None, *, address: str = "") -> Answer:
        return self._retrying(lambda: self._send("get", path, params=params), address or path)

    def paginate(
        self,
        path: str,
        params: Params | None = None,
        page_size: int = PAGE,
        *,
        start: str | None = None,
    ) -> Iterator[Answer]:
        """Every item of a cursor-paginated listing, oldest first, one page per request (the
        first after the cursor `start`, if given).

        The pages are read on a thread of their own, and each is asked for by the thread that
        received the one before it, as soon as it came (its last item is the cursor): the
        server answers the next page while the caller goes through one, and no request waits
        for the caller's thread to get its turn (a thread busy with a page keeps Python's
        interpreter for up to 5 ms before another thread may run). At most two pages are held
        at once, the one the caller goes through and the next: the reading thread waits for
        the caller to finish a page before asking for another. As many requests are sent as
        one page after another would.
        """
        slots = threading.Semaphore(2)  # pages asked for and not yet gone through
        pages: queue.SimpleQueue[list[Answer] | BaseException] = queue.SimpleQueue()
        stopped = threading.Event()

        def read() -> None:
            after = start
            try:
                while True:
                    slots.acquire()
                    if stopped.is_set():
                        return
                    page = self._page_or_asked(path, params, page_size, after)
                    last = len(page) < page_size
                    if not last:  # worked out before the caller has the page
                        after = _cursor(page[-1], path)
                    pages.put(page)
                    if last:
                        return
            except BaseException as exc:  # the caller's to raise, whatever it is
                pages.put(exc)

        # A daemon: a listing nobody finished going through (its caller gone without closing
        # it) must not keep the process from ending, its thread waiting for a page slot.
        reader = threading.Thread(target=read, name=f"pages {path}", daemon=True)
        reader.start()
        try:
            while True:
                page = pages.get()
                if isinstance(page, BaseException):
                    raise page
                last = len(page) < page_size
                # Each record handed over is let go of here: a page of 200 agents with their
                # blocks is megabytes of objects, gone as the caller converts them.
                page.reverse()
                while page:
                    yield page.pop()
                if last:
                    return
                slots.release()
        finally:  # the caller stopped early, or an error: no page more is asked for
            stopped.set()
            slots.release()
            reader.join()  # its request on the way, if any, answered or failed

    def ask_first_page(self, path: str, params: Params | None, page_size: int) -> None:
        """Send the first page's request of a listing now, on a thread of its own, for the
        `paginate` of the same listing (same path, query and page size) that comes later:
        a read's longest chains of pages start while the code that reads them is still
        loading. A page nobody takes is dropped when the client closes."""
        key = _page_key(path, params, page_size)
        with self._lock:
            if key in self._asked:
                return
            if self._ahead is None:
                self._ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="first-page")
            self._asked[key] = self._ahead.submit(self._page, path, params, page_size, None)

    def _page_or_asked(
        self, path: str, params: Params | None, page_size: int, after: str | None
    ) -> list[Answer]:
        """A listing's page after `after`; its first page is the one asked for ahead, if it
        was."""
        if after is None and self._asked:
            with self._lock:
                asked = self._asked.pop(_page_key(path, params, page_size), None)
            if asked is not None:
                return asked.result()
        return self._page(path, params, page_size, after)

    def _page(
        self, path: str, params: Params | None, page_size: int, after: str | None
    ) -> list[Answer]:
        """One page of a listing: `page_size` items (fewer on the last) after `after`."""
        query = {**(params or {}), "limit": page_size, "order": "asc"}
        if after is not None:
            query["after"] = after
        page = self.get(path, query)
        if not isinstance(page, list):
            label = self.target.label
            message = f"the answer is not a list: {label} does not look like a Letta server"
            raise UnexpectedAnswer(path, message)
        return page

    def search(self, path: str, body: JSON, *, address: str = "") -> Answer:
        """A POST that only reads (a search): retried like a GET."""
        return self._retrying(lambda: self._send("post", path, body=body), address or path)

    def patch(self, path: str, body: JSON | None = None, *, address: str = "") -> Answer:
        return self._retrying(lambda: self._send("patch", path, body=body), address or path)

    def put(self, path: str, body: JSON, *, address: str = "") -> Answer:
        """Replace a resource's part whole (idempotent, so retried)."""
        return self._retrying(lambda: self._send("put", path, body=body), address or path)

    def delete(self, path: str, *, address: str = "") -> None:
        """Delete, treating 404 after a retry as done (the earlier attempt got through)."""
        attempts = [0]

        def once() -> Answer:
            attempts[0] += 1
            try:
                return self._send("delete", path)
            except _Failure as exc:
                if exc.status == 404 and attempts[0] > 1:
                    return None
                raise

        self._retrying(once, address or path)

    # Creates: sent once; an ambiguous failure is resolved by reading back.

    def create(
        self,
        path: str,
        body: JSON,
        *,
        address: str,
        find_existing: Callable[[], Answer | None],
        params: Params | None = None,
    ) -> Answer:
        """POST a new resource without blind retries.

        After a failure that may have happened after the server acted (timeout, dropped
        connection, 5xx), `find_existing` looks for the resource; if found it is the result,
        otherwise the create is attempted again, up to the retry policy's attempts.
        """
        for attempt in range(self.retry.attempts):
            try:
                return self._send("post", path, body=body, params=params)
            except _Failure as exc:
                if not exc.retryable or attempt + 1 >= self.retry.attempts:
                    raise exc.final(address) from exc
                self._sleep(self.retry.delay(attempt, exc.retry_after))
                existing = self._retrying(find_existing, address)
                if existing is not None:
                    return existing
        raise AssertionError("unreachable: the loop returns or raises")

    def upload(
        self,
        path: str,
        name: str,
        content: bytes,
        *,
        address: str,
        find_existing: Callable[[], Answer | None],
        params: Params | None = None,
    ) -> Answer:
        """POST one file as `multipart/form-data` (field `file`), like `create`: sent once, an
        ambiguous failure resolved by `find_existing`."""
        for attempt in range(self.retry.attempts):
            try:
                return self._send("post", path, params=params, file=(name, content))
            except _Failure as exc:
                if not exc.retryable or attempt + 1 >= self.retry.attempts:
                    raise exc.final(address) from exc
                self._sleep(self.retry.delay(attempt, exc.retry_after))
                existing = self._retrying(find_existing, address)
                if existing is not None:
                    return existing
        raise AssertionError("unreachable: the loop returns or raises")

    # Plumbing.

    def _retrying(self, call: Callable[[], Answer], address: str) -> Answer:
        for attempt in range(self.retry.attempts):
            try:
                return call()
            except _Failure as exc:
                if not exc.retryable or attempt + 1 >= self.retry.attempts:
                    raise exc.final(address) from exc
                self._sleep(self.retry.delay(attempt, exc.retry_after))
        raise AssertionError("unreachable: the loop returns or raises")

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: JSON = None,
        params: Params | None = None,
        file: tuple[str, bytes] | None = None,
    ) -> Answer:
        if self._cancelled.is_set():
            raise Cancelled(f"{method.upper()} {path}: not sent, the client was cancelled")
        url = self._base.copy_with(raw_path=self._base.raw_path + _relative(path))
        query = dict(params) if params else None
        try:
            if file is not None:
                form, content = _multipart(*file)
                headers = {"Content-Type": form}
                answer = self.http.request(
                    "POST", url, params=query, content=content, headers=headers
                )
            else:
                answer = self.http.request(method.upper(), url, params=query, json=body)
        except httpx.TransportError as exc:
            message = _connection_message(exc, self.target.label)
            never_reached = isinstance(exc, httpx.ConnectError) and not self._answered
            failure = _Failure(None, message, never_reached=never_reached)
            if isinstance(exc, httpx.LocalProtocolError):
                raise failure from None  # not even under --debug: it quotes the header
            raise failure from exc
        self._answered = True
        try:
            if not answer.is_success:
                raise _from_status(answer, self._unsayable())
            return _decode(answer, self.target.label)
        finally:
            # httpx's response and its stream refer to each other: only Python's cyclic
            # collector would free the two, with the answer's body, and it seldom runs once a
            # large live state is held. The body was read whole; the stream is no longer needed.
            answer.stream = httpx.ByteStream(b"")

    def _unsayable(self) -> tuple[str, ...]:
        """What an answer may quote but no message may print: the API key and the secrets'
        values sent (a server or a proxy before it may repeat what it was sent)."""
        key = (self.target.api_key,) if self.target.api_key else ()
        return (*key, *self.secrets.sent())


def _page_key(path: str, params: Params | None, page_size: int) -> _PageKey:
    """What makes two first pages the same request (a list in the query kept in order)."""
    query = sorted(
        (name, tuple(v) if isinstance(v, list) else v) for name, v in (params or {}).items()
    )
    return (path, page_size, tuple(query))


def _cursor(last: object, path: str) -> str:
    """The id of a page's last item, where the next page starts (an item of a listing of
    ids, such as a folder's agents, is its id)."""
    found = last.get("id") if isinstance(last, dict) else last
    if not isinstance(found, str):
        raise unexpected(f"GET {path}", "an item of the listing has no `id`")
    return found


def _multipart(name: str, content: bytes) -> tuple[str, bytes]:
    """One file as a whole `multipart/form-data` body (field `file`) and its content type."""
    boundary = token_hex(16)
    base = name.rsplit("/", 1)[-1]
    filename = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in base)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def _base_url(url: str) -> httpx.URL:
    """The server's URL ending in `/`, so that API paths go below it (a URL with a path
    prefix, behind a proxy, keeps it)."""
    base = httpx.URL(url)
    return base if base.raw_path.endswith(b"/") else base.copy_with(raw_path=base.raw_path + b"/")


def _certificates(base: httpx.URL) -> ssl.SSLContext | bool:
    """What the server's certificate is checked against: the default certificate store, except
    for a server reached over plain http with no proxy in between (a dev server, one in the
    same cluster). That one never presents a certificate, so the store, which takes tens of
    milliseconds of every command to load, is not loaded: the context given trusts no
    certificate at all, so a TLS connection, were one ever made, fails rather than going
    unchecked."""
    proxied = any(
        scheme in ("http", "all") for scheme, proxy in urllib.request.getproxies().items() if proxy
    )
    if base.scheme == "http" and not proxied:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def _relative(path: str) -> bytes:
    return httpx.URL(path).raw_path.lstrip(b"/")


SDK_VERSION_HEADER, SDK_VERSION = "X-Stainless-Package-Version", "1.12.1"
"""The header and version of the Letta SDK whose requests letta-apply's are."""


def _headers(target: Target) -> dict[str, str]:
    """What every request carries: JSON, the key, the project, and the lines `Name: value`
    of `LETTA_CUSTOM_HEADERS` (which the Letta SDK honours too)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        # What tells a Letta server a client of the 1.x API is asking: without it the server
        # takes the client for a legacy SDK and loads every relationship of every agent it
        # answers (tags, blocks, tools...), whatever `include` asks.
        SDK_VERSION_HEADER: SDK_VERSION,
    }
    for line in os.environ.get("LETTA_CUSTOM_HEADERS", "").split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip()] = value.strip()
    if target.api_key is not None:
        headers["Authorization"] = f"Bearer {target.api_key}"
    if target.project_id is not None:
        headers["X-Project-Id"] = target.project_id
    return headers


class _Failure(Exception):
    """A failed request inside the client; `final` turns it into the error the user sees.

    A status of None means no answer at all (connection failed or timed out); `never_reached`
    that the connection could not even be opened to a server that never answered this client
    (nothing listens there: not retried).
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        retry_after: float | None = None,
        *,
        unexpected: bool = False,
        never_reached: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.unexpected = unexpected
        self.never_reached = never_reached

    @property
    def retryable(self) -> bool:
        if self.status is None:
            return not self.never_reached
        return self.status in _RETRYABLE_STATUS

    def final(self, address: str) -> LettaApplyError:
        if self.status is None:
            return ConnectionFailed(f"{address}: {self.message}")
        if self.unexpected:
            return UnexpectedAnswer(address, self.message, self.status)
        return ServerError(address, self.message, self.status)


MAX_MESSAGE_CHARS = 500
"""Characters of a server's error message kept in the error shown."""


def _decode(answer: httpx.Response, label: str) -> Answer:
    """A successful answer's JSON; an empty one is None. Anything else did not come from a
    Letta server (a web page at that address, a proxy's login form)."""
    if not answer.content:
        return None
    if not _is_json(answer):
        kind = _content_type(answer) or "no content type"
        message = f"the answer is {kind}, not JSON: {label} does not look like a Letta server"
        raise _Failure(answer.status_code, message, unexpected=True)
    try:
        return answer.json()
    except (ValueError, RecursionError) as exc:
        message = f"the answer is not valid JSON ({_shortened(str(exc))})"
        raise _Failure(answer.status_code, message, unexpected=True) from exc


def _content_type(answer: httpx.Response) -> str:
    kind: str = answer.headers.get("content-type", "")
    return kind.partition(";")[0].strip().lower()


def _is_json(answer: httpx.Response) -> bool:
    kind = _content_type(answer)
    return kind == "application/json" or kind.endswith("+json")


def _from_status(answer: httpx.Response, unsayable: Iterable[str] = ()) -> _Failure:
    message = _shortened(_unsaid(_server_message(answer), unsayable))
    return _Failure(answer.status_code, message, _retry_after(answer))


def _server_message(answer: httpx.Response) -> str:
    """The server's own explanation; of an answer that is not JSON only its type, because a
    web page (a proxy's, another server's) is no explanation."""
    text = answer.text.strip()
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, Mapping):
        detail = body.get("detail") or body.get("message") or body.get("error")
        if detail:
            return detail if isinstance(detail, str) else str(detail)
    if not _is_json(answer) and answer.content:
        kind = _content_type(answer) or "no content type"
        return f"{answer.reason_phrase or 'failed'} (the answer is {kind}, not JSON)"
    return text or answer.reason_phrase


def _unsaid(message: str, unsayable: Iterable[str]) -> str:
    """`message` with each of `unsayable` replaced by `***`, also as Python or JSON quotes it
    (a detail that is a list is shown as Python writes it), before it is shortened, so no
    part of one is left."""
    forms = {
        form
        for value in unsayable
        if value
        for form in (value, repr(value)[1:-1], json.dumps(value)[1:-1])
    }
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(form, REDACTED)
    return message


def _shortened(text: str) -> str:
    extra = len(text) - MAX_MESSAGE_CHARS
    return f"{text[:MAX_MESSAGE_CHARS]}... ({extra} more characters)" if extra > 0 else text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _connection_message(exc: httpx.TransportError, label: str) -> str:
    if isinstance(exc, httpx.LocalProtocolError):
        # Its text quotes the header it refused, which may be the API key.
        return (
            f"the request to {label} could not be sent: a header is not valid (check "
            "LETTA_API_KEY, LETTA_PROJECT_ID and LETTA_CUSTOM_HEADERS for a stray character, "
            "such as a newline at the end)"
        )
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return f"{kind} talking to {label}" + (f" ({exc})" if str(exc) else "")
