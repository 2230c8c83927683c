"""Peak memory of one no-op plan, in a process of its own so nothing else is counted.

`python -m bench.probe URL STACK KIND SIZE PARALLELISM` prints JSON with two figures:
`rss_delta_mb`, the growth of the process's peak resident set (ru_maxrss) over one plan,
measured first and without tracing; and `tracemalloc_peak_mb`, the peak of Python
allocations during a second plan run under tracemalloc.
"""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc

from bench.measure import new_api
from bench.stacks import StackShape
from reconciler.workflow import make_plan


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> None:
    url, stack, kind, size, parallelism = argv
    desired = StackShape(kind, int(size)).build(stack)
    api = new_api(url)
    api.get("/v1/health/")  # connection set up before the baseline
    baseline = _maxrss_mb()
    make_plan(api, desired, prune=None, parallelism=int(parallelism))
    rss_delta = _maxrss_mb() - baseline
    tracemalloc.start()
    make_plan(api, desired, prune=None, parallelism=int(parallelism))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {"rss_delta_mb": round(rss_delta, 1), "tracemalloc_peak_mb": round(peak / 2**20, 1)}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
