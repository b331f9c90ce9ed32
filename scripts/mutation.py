#!/usr/bin/env python3
"""``make mutation``: mutmut 3 on the modules that decide what is deleted, kept, refused or cleaned.

mutmut 3 names a mutant after its file path and only strips a leading ``src/``, while the tests
import ``airflow_ops.*`` from ``plugins/``. So the run happens in ``.mutation/``, where ``src`` is
a symlink to ``plugins`` and ``tests`` one to ``tests``: mutmut copies ``src/airflow_ops`` (mutating
only the modules below) and the tests into ``.mutation/mutants/`` itself, and puts the mutated copy
first on ``sys.path``. ``plugins`` is kept off ``PYTHONPATH`` so the unmutated package cannot win.

Each mutant runs only the unit tests that reach the mutated function (mutmut's own per-test
coverage) from the files listed for its module. Writes ``mutation-results.json`` (module -> score,
killed, survived, not run, each survivor and the commit measured; a limited run updates only its
modules' entries) and prints every survivor. The score counts mutants
that no test runs as surviving. ``MUTATION_MODULES=retention.py,backup/pins.py`` limits the run.
Scores before and after, and the equivalent mutants with the reason, are in ``docs/mutation.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"

#: module (under plugins/airflow_ops) -> the unit test files that pin its decisions
MODULES: dict[str, list[str]] = {
    "backup/retention.py": ["test_backup_retention.py", "test_backup_apply_retention.py"],
    "retention.py": ["test_export_retention.py", "test_backup_retention.py"],
    "backup/pins.py": ["test_backup_pins.py", "test_backup_apply_retention.py"],
    "backup/pointer.py": ["test_backup_apply_retention.py", "test_backup_retention.py", "test_db_cleanup.py"],
    "logcleanup/roots.py": ["test_log_cleanup.py", "test_log_roots.py"],
    "logcleanup/sweep.py": ["test_log_cleanup.py", "test_log_sweep.py"],
    "dbclean/plan.py": ["test_db_cleanup.py"],
    "dbclean/backup_gate.py": ["test_db_cleanup.py"],
    "dbclean/tables.py": ["test_db_clean_tables.py", "test_db_cleanup.py"],
    "export/diff.py": ["test_export_diff.py"],
    "export/retention.py": ["test_export_retention.py"],
}

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
NOT_RUN = {"no tests", "not checked", "skipped"}
#: mutmut's exit-code meanings (mutmut.stats.status_by_exit_code, restated so a report needs no import)
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}


def _status(code: int | None) -> str:
    return "not checked" if code is None else STATUS.get(code, "suspicious")


def prepare(modules: list[str]) -> None:
    """A fresh ``.mutation/``: the two symlinks and mutmut's and pytest's configuration."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    (WORK / "src").symlink_to(ROOT / "plugins")
    (WORK / "tests").symlink_to(ROOT / "tests")
    files = {t for m in modules for t in MODULES[m] if (ROOT / "tests" / "unit" / t).exists()}
    tests = sorted(f"tests/unit/{t}" for t in files)
    lines = [
        "[mutmut]",
        "source_paths = src/airflow_ops",
        "only_mutate =",
        *[f"    src/airflow_ops/{m}" for m in modules],
        "pytest_add_cli_args_test_selection =",
        *[f"    {t}" for t in tests],
        "pytest_add_cli_args =",
        "    -p",
        "    no:cacheprovider",
        "    -m",
        "    not integration",
        "",
        # Stops pytest at .mutation/mutants: the repository's pytest settings put plugins/ first on sys.path.
        "[tool:pytest]",
        "markers =",
        "    integration: real services",
        "    airflow: the shared real Airflow",
        "    compose: the container trial",
        "",
    ]
    (WORK / "setup.cfg").write_text("\n".join(lines))


def run(max_children: int) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tools"), str(ROOT)])
    mutmut = Path(sys.executable).with_name("mutmut")
    log = WORK / "mutmut.log"
    print(f"mutmut run in {WORK} (progress in {log})", flush=True)
    with log.open("w") as out:
        code = subprocess.call(
            [str(mutmut), "run", "--max-children", str(max_children)],
            cwd=WORK,
            env=env,
            stdout=out,
            stderr=out,
        )
    if code != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
    return code


def collect(modules: list[str]) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for module in modules:
        meta = WORK / "mutants" / "src" / "airflow_ops" / f"{module}.meta"
        codes: dict[str, int | None] = {}
        if meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
        by_status: dict[str, list[str]] = {}
        for name, code in sorted(codes.items()):
            by_status.setdefault(_status(code), []).append(name)
        killed = sum(len(v) for k, v in by_status.items() if k in KILLED)
        not_run = sorted(n for k, v in by_status.items() if k in NOT_RUN for n in v)
        survived = sorted(n for k, v in by_status.items() if k not in KILLED | NOT_RUN for n in v)
        total = len(codes)
        results[module] = {
            "mutants": total,
            "killed": killed,
            "survived": len(survived),
            "not_run": len(not_run),
            "score": round(killed / total, 4) if total else None,
            "survivors": survived,
            "not_run_mutants": not_run,
        }
    return results


def _head() -> str:
    """The commit measured (``+dirty`` when the code, the tests or this script differ from it)."""
    try:
        head = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
        dirty = (
            subprocess.call(["git", "diff", "--quiet", "HEAD", "--", "plugins", "tests", "scripts"], cwd=ROOT)
            != 0
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def write_results(path: Path, results: dict[str, dict[str, object]]) -> None:
    """Write ``results`` into ``path``, keeping the entries of the modules not run this time (a run
    limited by ``MUTATION_MODULES`` updates its modules; each entry names the commit it measured)."""
    merged: dict[str, object] = {}
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict):
        merged = {m: r for m, r in old.items() if m in MODULES}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "mutation-results.json"))
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.90)
    parser.add_argument("--report-only", action="store_true", help="re-read the last run's results")
    args = parser.parse_args()
    wanted = [m for m in os.environ.get("MUTATION_MODULES", "").split(",") if m] or list(MODULES)
    unknown = sorted(set(wanted) - set(MODULES))
    if unknown:
        print(f"error: MUTATION_MODULES names {unknown}; known: {sorted(MODULES)}", file=sys.stderr)
        return 2
    if not args.report_only:
        prepare(wanted)
        code = run(args.max_children)
        if code != 0:
            print(f"error: mutmut run exited {code}", file=sys.stderr)
            return code
    results = collect(wanted)
    commit = _head()
    for r in results.values():
        r["commit"] = commit
    write_results(Path(args.output), results)
    print(f"\n{'module':28} {'mutants':>7} {'killed':>6} {'survived':>8} {'not run':>7} {'score':>6}")
    below = []
    for module, r in results.items():
        score = r["score"]
        print(
            f"{module:28} {r['mutants']:>7} {r['killed']:>6} {r['survived']:>8} {r['not_run']:>7} "
            f"{'-' if score is None else f'{score:.0%}':>6}"
        )
        if score is None or float(str(score)) < args.threshold:
            below.append(module)
    for r in results.values():
        for name in [*r["survivors"], *r["not_run_mutants"]]:  # type: ignore[misc]
            print(f"survivor: {name}")
    print(f"wrote {args.output}; inspect one with: cd .mutation && ../.venv/bin/mutmut show NAME")
    if below:
        print(f"below {args.threshold:.0%}: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
