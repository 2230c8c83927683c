"""Peak memory of one no-op plan, in a process of its own so nothing else is counted.

`python -m bench.probe URL STACK KIND SIZE PARALLELISM` prints JSON with three figures:
`rss_before_mb`, the process's peak resident set (ru_maxrss) once the interpreter, the
libraries and the desired state are loaded; `rss_peak_mb`, the same after one plan, measured
without tracing (what the operating system sees `letta-apply plan` use at most); and
`tracemalloc_peak_mb`, the peak of Python allocations during a second plan under tracemalloc.
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
    before = _maxrss_mb()
    make_plan(api, desired, prune=None, parallelism=int(parallelism))
    peak = _maxrss_mb()
    tracemalloc.start()
    make_plan(api, desired, prune=None, parallelism=int(parallelism))
    _current, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "tracemalloc_peak_mb": round(traced / 2**20, 1),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
