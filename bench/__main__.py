"""`python -m bench`: run the benchmarks, print the table, save the results as JSON."""

from __future__ import annotations

import sys
from dataclasses import asdict

from bench import goals, report
from bench.options import Options, parse
from bench.run import Run, execute, say
from bench.server import bench_server


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    if options.parts == ("goals",):  # no server needed
        return _goals_only(options)
    with bench_server() as server:
        run = Run(options, server)
        where = "throwaway local server" if server.throwaway else server.url
        run.results.update(
            machine=report.machine(),
            server={"version": server.version, "where": where},
            options=asdict(options),
            load_before=report.load(),
        )
        execute(run)
        run.results["load_after"] = report.load()
    path = report.write_json(run.results)
    sys.stdout.write(report.render(run.results))
    say(f"results saved to {path}")
    return 0


def _goals_only(options: Options) -> int:
    results = {
        "machine": report.machine(),
        "server": {"version": None, "where": "none"},
        "options": asdict(options),
        "load_before": report.load(),
    }
    results["goals"] = goals.run()
    results["load_after"] = report.load()
    path = report.write_json(results)
    sys.stdout.write(report.render(results))
    say(f"results saved to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
