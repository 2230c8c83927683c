"""The benchmark report: the machine, a table of figures beside their references, and JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import goals, process

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {
        "uname": " ".join(platform.uname()),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "letta_client": metadata.version("letta-client"),
        "commit": _commit(),
    }


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    return [round(x, 2) for x in os.getloadavg()]


def _memory_gb() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=RESULTS_DIR.parent,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def write_json(results: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def render(results: dict[str, Any]) -> str:
    lines = [_header(results)]
    if results.get("noop_plan"):
        lines += ["", *_noop_table(results["noop_plan"])]
        lines += ["", *_scoped_table(results["noop_plan"])]
    if results.get("apply"):
        lines += ["", *_apply_table(results["apply"])]
    if results.get("update"):
        lines += ["", *_update_table(results["update"])]
    if results.get("startup"):
        lines += ["", *_startup_table(results["startup"])]
    if results.get("process"):
        lines += ["", *process.render(results["process"])]
    if results.get("goals"):
        lines += ["", *goals.render(results["goals"])]
    if results.get("foreign"):
        lines += ["", *_foreign_table(results["foreign"])]
    if results.get("datasources"):
        lines += ["", *_datasources_table(results["datasources"])]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _header(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["server"]
    return (
        f"letta-apply benchmarks: Letta {s.get('version')} ({s['where']}), "
        f"{m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, "
        f"letta-client {m['letta_client']}, commit {m['commit']}, "
        f"parallelism {results['options']['parallelism']}; load average "
        f"{results['load_before'][0]} before, {results.get('load_after', ['?'])[0]} after"
    )


def _secs(sample: dict[str, Any]) -> str:
    mark = "~" if sample.get("extrapolated_from") else ""
    return f"{mark}{sample['seconds']:.2f} s / {sample['requests']} req"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def _noop_table(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        f"{'NO-OP PLAN':<10}{'users':>7}  {'letta-apply plan':<20}{'raw SDK listing':<20}"
        f"{'raw JSON listing':<20}{'plan/SDK':>9}{'plan/JSON':>10}  {'per-user lookups':<24}"
        f"{'plan process peak memory':<34}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        plan, sdk, plain = row["plan"], row["raw_listing"], row.get("json_listing")
        lookups = row["per_user_lookups"]
        memory = (
            f"{plan['rss_peak_mb']:.0f} MB RSS ({plan['rss_before_mb']:.0f} before), "
            f"{plan['tracemalloc_peak_mb']} MB traced"
        )
        plain_secs = _secs(plain) if plain else "n/a"
        plain_ratio = _ratio(plan["seconds"], plain["seconds"]) if plain else "n/a"
        lines.append(
            f"{row['stack']:<10}{row['users']:>7}  {_secs(plan):<20}{_secs(sdk):<20}"
            f"{plain_secs:<20}{_ratio(plan['seconds'], sdk['seconds']):>9}{plain_ratio:>10}  "
            f"{_secs(lookups):<24}{memory:<34}"
        )
        if plan["changes"]:
            lines.append(f"{'':<19}warning: the plan was not empty ({plan['changes']} changes)")
        if lookups.get("extrapolated_from"):
            sampled = lookups["extrapolated_from"]
            lines.append(f"{'':<19}~ lookups timed for {sampled} users, extrapolated linearly")
    return lines


def _scoped_table(rows: list[dict[str, Any]]) -> list[str]:
    """`plan --users <one user>` beside the whole stack's no-op plan, measured in the same run."""
    head = (
        f"{'SCOPED PLAN':<12}{'users':>7}  {'plan --users one':<20}{'whole plan':<20}"
        f"{'scoped/whole':>13}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        scoped, whole = row.get("scoped_plan"), row["plan"]
        if not scoped:
            continue
        lines.append(
            f"{row['stack']:<12}{row['users']:>7}  {_secs(scoped):<20}{_secs(whole):<20}"
            f"{_ratio(scoped['seconds'], whole['seconds']):>13}"
        )
    return lines


def _apply_table(apply: dict[str, Any]) -> list[str]:
    users = apply["users"]
    mine, raw = apply["letta_apply"], apply["raw_create"]
    apply_rate = users / mine["apply"]["seconds"]
    raw_rate = users / raw["seconds"]
    both = mine["plan"]["seconds"] + mine["apply"]["seconds"]
    return [
        f"APPLY FROM EMPTY, {users} dedicated users, parallelism {apply['parallelism']}",
        f"  letta-apply apply_plan   {apply_rate:6.1f} users/s  ({_secs(mine['apply'])}, "
        f"{mine['changes']} changes, {mine['failed']} failed)",
        f"  raw agents.create        {raw_rate:6.1f} agents/s ({_secs(raw)}, "
        f"{raw['failed']} failed)",
        f"  apply / raw create       {apply_rate / raw_rate:6.0%}",
        f"  plan from empty          {_secs(mine['plan'])}; plan + apply "
        f"{users / both:.1f} users/s",
    ]


def _update_table(update: dict[str, Any]) -> list[str]:
    plan, apply = update["plan"], update["apply"]
    changed = update["changes"]
    per_change = apply["requests"] / changed if changed else 0.0
    return [
        f"UPDATE, tags of {update['changed_users']} of {update['users']} users",
        f"  plan                     {_secs(plan)}",
        f"  apply                    {_secs(apply)} for {changed} changed resources "
        f"({per_change:.2f} req per change, {update['failed']} failed)",
    ]


def _startup_table(startup: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, Any, str, float]] = [
        ("letta-apply --help", startup["help"], "python -c 'import click, yaml'", 3.0),
        ("letta-apply validate examples/mixed", startup["validate"], "the same", 2.5),
        (
            f"letta-apply plan, {startup['plan']['users']:,} users, no-op",
            startup["plan"],
            "JSON listing (httpx, at once)",
            1.1,
        ),
    ]
    if "plan_sdk" in startup:
        rows.append(("  the same rounds", startup["plan_sdk"], "SDK listing (what users write)", 0))
    head = f"{'WHOLE PROCESSES':<44}{'time':>8}  {'reference':<34}{'time':>8}{'ratio':>8}  target"
    lines = [
        f"START-UP, median of {startup['reps']} interleaved pairs; ratio = median of pair ratios",
        head,
        "-" * len(head),
    ]
    for name, pair, reference, target in rows:
        status = "met" if process.within(pair, target) else "NOT met"
        goal = f"<= {target:g}x {status}" if target else "(none)"
        lines.append(
            f"{name:<44}{pair['seconds']:>7.3f}s  {reference:<34}"
            f"{pair['reference_seconds']:>7.3f}s{pair['ratio']:>7.2f}x  {goal}"
        )
        if target:
            lines.extend(process.spread(pair))
    return lines


def _foreign_table(foreign: dict[str, Any]) -> list[str]:
    """The same stack's plans before and after others' identities and agents arrived."""
    before, after = foreign["before"], foreign["after"]
    rows = (
        ("no-op plan", "plan"),
        ("no-op plan, prune on", "plan_prune"),
        ("stack's own listing (reference)", "stack_listing"),
    )
    head = f"{'':<34}{'before':<20}{'after':<20}{'time after/before':>18}{'requests':>12}"
    lines = [
        f"FOREIGN RESOURCES: {foreign['shared_users']:,} shared and "
        f"{foreign['identity_users']:,} identity users; then {foreign['foreign_identities']:,} "
        f"identities and {foreign['foreign_agents']:,} agents of others were added "
        f"({foreign['seed_seconds']:.0f} s, {foreign['foreign_failed']} failed)",
        head,
        "-" * len(head),
    ]
    for name, key in rows:
        was, now = before[key], after[key]
        lines.append(
            f"{name:<34}{_secs(was):<20}{_secs(now):<20}"
            f"{_ratio(now['seconds'], was['seconds']):>18}"
            f"{was['requests']:>6} -> {now['requests']:<4}"
        )
    for when, side in (("before", before), ("after", after)):
        if side["plan"].get("changes"):
            lines.append(f"  warning: the plan {when} was not empty ({side['plan']['changes']})")
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _upload_share(files: int, round_: dict[str, Any]) -> tuple[float, dict[str, Any], Any]:
    """(letta-apply's upload rate / the raw uploads', the raw figures, letta-apply's)."""
    raw, applied = round_["raw_upload"], round_["apply_files"]
    raw_rate = files / raw["seconds"] if raw["seconds"] else 0.0
    apply_rate = files / applied["seconds"] if applied["seconds"] else 0.0
    return (apply_rate / raw_rate if raw_rate else 0.0), raw, applied


def _summed(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds' figures as one: their seconds and requests added (a rate over all)."""
    total = dict(figures[0])
    for key in ("seconds", "requests", "errors", "failed"):
        if key in total:
            total[key] = sum(f[key] for f in figures)
    if "files" in total:
        total["files"] = sum(f["files"] for f in figures)
    if "changes" in total:
        total["changes"] = sum(f["changes"] for f in figures)
    return total


def _rate(figures: dict[str, Any], noun: str) -> str:
    changes = figures["changes"] - 1  # the archive's own create
    return f"{changes / figures['seconds']:.1f} {noun}/s" if figures["seconds"] else "-"


def _datasources_table(ds: dict[str, Any]) -> list[str]:
    """Each figure beside its reference, measured in the same run, and its target."""
    plan, listing = ds["noop_plan"], ds["plain_listing"]
    rounds = ds.get("upload_rounds") or [ds]
    share = statistics.median(_upload_share(ds["files"], r)[0] for r in rounds)
    raw, files = (
        _summed([r["raw_upload"] for r in rounds]),
        _summed([r["apply_files"] for r in rounds]),
    )
    passages, again = ds["apply_passages"], ds["reapply"]
    time_ratio = plan["seconds"] / listing["seconds"] if listing["seconds"] else 0.0
    request_ratio = plan["requests"] / listing["requests"] if listing["requests"] else 0.0
    apply_rate = ds["files"] * len(rounds) / files["seconds"] if files["seconds"] else 0.0
    raw_rate = raw["files"] / raw["seconds"] if raw["seconds"] else 0.0
    uploads = f"{again['uploads']} upload(s)"
    requests = f"{again['plan_requests']} + {again['apply_requests']} requests sent"
    head = f"{'':<34}{'letta-apply':<26}{'reference':<34}{'ratio':>8}  target"
    lines = [
        f"DATA SOURCES: a folder of {ds['files']:,} files, an archive of {ds['passages']:,} "
        f"passages, parallelism {ds['parallelism']}",
        head,
        "-" * len(head),
        f"{'no-op plan, time':<34}{_secs(plan):<26}{'plain httpx listing ' + _secs(listing):<34}"
        f"{time_ratio:>7.2f}x  <= 1.2x {_met(time_ratio <= 1.2)}",
        f"{'no-op plan, requests':<34}{plan['requests']:<26}{listing['requests']:<34}"
        f"{request_ratio:>7.2f}x  <= 1.2x {_met(request_ratio <= 1.2)}",
        f"{'upload throughput':<34}{f'{apply_rate:.1f} files/s':<26}"
        f"{f'raw uploads {raw_rate:.1f} files/s':<34}{share:>8.0%}  >= 80% {_met(share >= 0.8)}",
        f"{'re-apply, one file changed':<34}{uploads:<26}{requests:<34}{'':>8}  "
        f"exactly 1 {_met(again['uploads'] == 1)}",
        f"  apply of the files: {_secs(files)}, {files['changes']} changes, "
        f"{files['failed']} failed; raw uploads: {_secs(raw)}, {raw['errors']} not processed",
        f"  apply of the passages: {_secs(passages)}, {passages['changes']} changes, "
        f"{passages['failed']} failed ({_rate(passages, 'passages')})",
    ]
    if len(rounds) > 1:
        listed = ", ".join(f"{_upload_share(ds['files'], r)[0]:.0%}" for r in rounds)
        order = "raw first, then letta-apply first, ..."
        lines.insert(6, f"  upload rounds ({order}): {listed}; the ratio is their median")
    if plan["changes"]:
        lines.append(f"  warning: the no-op plan was not empty ({plan['changes']} changes)")
    if len(again["changes"]) != 1:
        lines.append(f"  warning: the re-apply planned {len(again['changes'])} changes")
    return lines
