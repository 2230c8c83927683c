"""The dev server's local embedding model, served over HTTP; runs in the server's virtualenv.

The Letta server embeds folder files and archive passages by calling an embedding endpoint.
There is no internet in many places it runs (CI, this machine), so the dev server brings
its own model: WordLlama's `l2_supercat` at 256 dimensions, whose weights and tokenizer ship
inside the `wordllama` wheel (nothing is downloaded at run time). The Letta server reaches
it as an Ollama provider (`OLLAMA_BASE_URL`): it lists the model from `GET /api/tags` and
`POST /api/show` at start, under the handle `ollama/<MODEL>`, and embeds through the
OpenAI-compatible `POST /embeddings` (the endpoint it records is the base URL without `/v1`;
`/v1/embeddings` is answered too). Those routes are all this serves.

This file imports wordllama and numpy, which only the server's environment has; it must not
import anything from `reconciler`.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Lock
from typing import Any

MODEL = "wordllama-256"
"""The model's name as the Letta server lists it; its handle is `ollama/wordllama-256`."""
DIMENSIONS = 256
MAX_BODY = 64 * 1024 * 1024
MAX_INPUTS = 4096


class Embedder:
    """WordLlama loaded from the files its wheel carries; one caller at a time."""

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        # The wheel keeps its tokenizer under `tokenizers/`, where `load` only looks when that
        # folder is named as the cache; the weights sit where `load` looks first.
        package = Path(wordllama.__file__).parent
        self._model = WordLlama.load(
            config="l2_supercat", dim=DIMENSIONS, cache_dir=package, disable_download=True
        )
        self._lock = Lock()

    def embed(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._model.embed(texts, norm=True)
        return [[float(x) for x in row] for row in vectors]


def _inputs(body: Any) -> list[str]:
    """The texts of an OpenAI embeddings request (`input`: a string or a list of strings)."""
    found = body.get("input") if isinstance(body, dict) else None
    if isinstance(found, str):
        return [found]
    if isinstance(found, list) and all(isinstance(item, str) for item in found):
        if len(found) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} inputs per request")
        return found
    raise ValueError("'input' must be a string or a list of strings")


def _show() -> dict[str, Any]:
    """What Ollama's `/api/show` answers, reduced to what the Letta server reads."""
    return {
        "capabilities": ["embedding"],
        "model_info": {
            "general.architecture": "wordllama",
            "wordllama.embedding_length": DIMENSIONS,
        },
    }


def handler_for(embedder: Embedder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "letta-apply-embeddings"

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/api/tags":
                self._answer(200, {"models": [{"name": MODEL, "model": MODEL}]})
            elif self.path.rstrip("/") in ("/v1/models", "/health"):
                self._answer(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError as exc:
                self._answer(400, {"error": str(exc)})
                return
            route = self.path.rstrip("/")
            if route == "/api/show":
                self._answer(200, _show())
            elif route in ("/embeddings", "/v1/embeddings"):
                self._embeddings(body)
            else:
                self._answer(404, {"error": "not found"})

        def _embeddings(self, body: Any) -> None:
            try:
                texts = _inputs(body)
            except ValueError as exc:
                self._answer(400, {"error": {"message": str(exc), "type": "invalid_request"}})
                return
            vectors = embedder.embed(texts)
            tokens = sum(len(text.split()) for text in texts)
            self._answer(
                200,
                {
                    "object": "list",
                    "model": MODEL,
                    "data": [
                        {"object": "embedding", "index": i, "embedding": v}
                        for i, v in enumerate(vectors)
                    ],
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("request too large")
            raw = self.rfile.read(length) if length else b"{}"
            try:
                return json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from exc

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request would drown the log of a 1,000-file upload

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    embedder = Embedder()
    embedder.embed(["ready"])  # fail here, not on the server's first request
    server = ThreadingHTTPServer((args.host, args.port), handler_for(embedder))
    print(f"serving {MODEL} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
