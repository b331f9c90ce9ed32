#!/usr/bin/env python3
"""Run every benchmark module in bench/ (`python -m bench`) and write one JSON object of metric -> number.

Each ``bench/<area>.py`` exposes ``run() -> dict[str, float]``. Ratios are measured against a
baseline run in the same process (the machine is shared and noisy); figures are medians.
``--only AREA`` runs one module.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _write_results_md(results: dict[str, float], only: list[str] | None = None) -> None:
    """bench/RESULTS.md: the one human-readable copy of the last run's figures (the docs point here)."""
    import datetime as dt
    import platform

    lines = [
        "# Benchmark figures",
        "",
        f"Written by `make bench` on {dt.date.today().isoformat()} ({platform.machine()}, "
        f"{os.cpu_count()} cores, shared). Medians; ratios are against a baseline measured in the same "
        "run, interleaved; every round's raw figures are in the run's output."
        + (
            f" This run re-measured only bench/{', bench/'.join(only)} (`--only`); the other figures are"
            " the previous run's."
            if only
            else ""
        ),
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {v} |" for k, v in sorted(results.items())]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results.json")
    parser.add_argument("--only", action="append", help="run only this bench module (repeatable)")
    args = parser.parse_args(argv)
    modules = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))
    if args.only:
        modules = [m for m in modules if m in args.only]
    results: dict[str, float] = {}
    if args.output.exists() and args.only:
        results.update(json.loads(args.output.read_text()))
    for name in modules:
        started = time.monotonic()
        print(f"bench/{name}.py ...", flush=True)
        metrics = importlib.import_module(f"bench.{name}").run()
        for key, value in metrics.items():
            print(f"  {key} = {value}")
        results.update(metrics)
        print(f"  ({time.monotonic() - started:.0f}s)")
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.output}")
    _write_results_md(results, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
