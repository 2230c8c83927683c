"""The dev server's embedding service, answering as the Letta server's Ollama provider reads it.

The model itself lives in the server's virtualenv; here a stand-in returns fixed vectors so the
routes and the shapes of their answers are checked over real HTTP. The real model is exercised
by the server tests (uploads and searches go through it).
"""

from __future__ import annotations

import ast
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.devserver import embedding_service, embeddings


class Vectors:
    """Stands in for WordLlama: the text's length, then zeros."""

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[float(len(text)), *([0.0] * (embeddings.DIMENSIONS - 1))] for text in texts]


@pytest.fixture
def url() -> Iterator[str]:
    handler = embedding_service.handler_for(Vectors())  # type: ignore[arg-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _call(url: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_model_is_listed_as_an_ollama_embedding_model_with_its_dimension(url: str) -> None:
    status, tags = _call(url, "/api/tags")
    assert status == 200 and [m["name"] for m in tags["models"]] == [embeddings.MODEL]
    status, shown = _call(url, "/api/show", {"name": embeddings.MODEL})
    info = shown["model_info"]
    assert status == 200 and "embedding" in shown["capabilities"]
    assert info[f"{info['general.architecture']}.embedding_length"] == embeddings.DIMENSIONS
    assert embeddings.answers(url, timeout=5)


@pytest.mark.parametrize("path", ["/embeddings", "/v1/embeddings"])
def test_embeddings_answer_in_the_openai_shape_in_input_order(url: str, path: str) -> None:
    status, answer = _call(url, path, {"model": embeddings.MODEL, "input": ["a", "abc", ""]})
    assert status == 200
    assert [item["index"] for item in answer["data"]] == [0, 1, 2]
    assert [item["embedding"][0] for item in answer["data"]] == [1.0, 3.0, 0.0]
    assert {len(item["embedding"]) for item in answer["data"]} == {embeddings.DIMENSIONS}
    _, single = _call(url, path, {"input": "abcd"})
    assert single["data"][0]["embedding"][0] == 4.0


@pytest.mark.parametrize("body", [{"input": 3}, {"input": [1, 2]}, {}, [1]])
def test_bad_requests_are_refused_with_a_reason(url: str, body: Any) -> None:
    status, answer = _call(url, "/embeddings", body)
    assert status == 400 and "input" in answer["error"]["message"]


def test_the_service_and_the_manager_agree_on_the_model() -> None:
    tree = ast.parse(Path(embedding_service.__file__).read_text())
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }
    assert (constants["MODEL"], constants["DIMENSIONS"]) == (
        embeddings.MODEL,
        embeddings.DIMENSIONS,
    )
    assert f"ollama/{embeddings.MODEL}" == embeddings.HANDLE


def test_a_kept_port_is_reused_and_a_taken_one_replaced(tmp_path: Path) -> None:
    first = embeddings.choose_port(tmp_path, "127.0.0.1")
    assert embeddings.choose_port(tmp_path, "127.0.0.1") == first
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", first))
        holder.listen()
        moved = embeddings.choose_port(tmp_path, "127.0.0.1")
    assert moved != first
    assert embeddings.choose_port(tmp_path, "127.0.0.1") == moved
