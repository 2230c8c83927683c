"""Ask the knowledge base a question through the server's own search: the FAQ passage that
answers it comes first. `make demo` runs it after applying the example.

    python examples/knowledge-base/ask.py "Can I get my money back on a yearly plan?"
"""

import os
import sys

import httpx

url = os.environ.get("LETTA_BASE_URL", "http://localhost:8283").rstrip("/")
question = " ".join(sys.argv[1:]) or "Can I get my money back on a yearly plan?"
found = httpx.get(f"{url}/v1/archives/", params={"name": "acme-faq"}).json()
archive = next(a for a in found if a["name"] == "acme-faq")
answer = httpx.post(
    f"{url}/v1/passages/search",
    json={"archive_id": archive["id"], "query": question, "limit": 1},
)
answer.raise_for_status()
print(f"Q: {question}")
print("A: " + answer.json()[0]["passage"]["text"].replace("\n", "\n   "))
