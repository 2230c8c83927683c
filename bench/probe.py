"""Peak memory of one no-op plan, in a process of its own so nothing else is counted.

`python -m bench.probe URL STACK KIND SIZE PARALLELISM` prints JSON with three figures:
`rss_before_mb`, the process's peak resident set once the interpreter, the libraries and the
desired state are loaded; `rss_peak_mb`, the same after one plan, measured without tracing
(what the operating system sees `letta-apply plan` use at most); and `tracemalloc_peak_mb`,
the peak of Python allocations during a second plan under tracemalloc.

The peak resident set is read from `VmHWM` in /proc/self/status where there is one: unlike
`ru_maxrss`, which Linux carries over from the parent across fork and exec, it starts afresh
in each new program.
"""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc
from pathlib import Path

from bench.measure import new_api
from bench.stacks import StackShape
from reconciler.planning import make_plan


def _maxrss_mb() -> float:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes / KiB
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # "VmHWM:  123456 kB"


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
