"""DAG parse cost: the slowest bundle DAG file against a trivial one-task DAG.

``parse_ms_max`` is the slowest file's median parse time; ``parse_ratio_vs_trivial`` divides
it by the trivial file's median parse time, measured interleaved in the same process.

``parse_cold_*`` parses each file in a fresh interpreter that has pre-imported ``airflow.sdk`` only
(nothing of the bundle): what a dag-processor child pays, since it parses every file in a process
that has not imported the bundle. Rounds interleave the trivial file and every bundle file (at least
:data:`COLD_ROUNDS`); every round is printed as it ends. Airflow's own modules are compiled as
installed (the venv is synced with ``--compile-bytecode``, as an image is) in both variants:

* ``parse_cold``: the bundle's bytecode compiled next to its sources (an image, or a writable
  dags/plugins folder after the first parse);
* ``parse_cold_nopyc``: the git-sync case. The bundle (``plugins/airflow_ops`` and ``dags/``) is copied
  to a temporary folder with no ``__pycache__`` and parsed under ``PYTHONDONTWRITEBYTECODE=1``, so each
  parse compiles the bundle's modules from source while Airflow's stay compiled.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 21
COLD_ROUNDS = 7
TRIVIAL = '''"""A trivial one-task DAG: the parse-time baseline."""
import pendulum
from airflow.sdk import DAG, task

with DAG("trivial_baseline", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False) as dag:

    @task
    def only() -> None:
        pass

    only()
'''

COLD = """
import sys, time
import airflow.sdk  # the dag-processor parent has this imported already
try:  # nothing of the bundle before the clock starts: its import is part of the parse
    from airflow.dag_processing.dagbag import DagBag  # 3.2+
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], collect_dags=False)
t = time.perf_counter()
bag.process_file(sys.argv[1], only_if_updated=False)
elapsed = (time.perf_counter() - t) * 1000
assert not bag.import_errors, bag.import_errors
bundle = sys.modules.get("airflow_ops")
print(getattr(bundle, "__file__", "-"))
print(elapsed)
"""


def _uncompiled_bundle(trivial: Path) -> tuple[Path, Path, list[Path]]:
    """A copy of the bundle as a git-sync volume holds it: sources only, no ``__pycache__``."""
    root = Path(tempfile.mkdtemp(prefix="bench_gitsync_"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "plugins" / "airflow_ops", root / "plugins" / "airflow_ops", ignore=ignore)
    shutil.copytree(ROOT / "dags", root / "dags", ignore=ignore)
    (root / "trivial").mkdir()
    shutil.copy2(trivial, root / "trivial" / trivial.name)
    return root, root / "trivial" / trivial.name, sorted((root / "dags").glob("*.py"))


def _parse_ms(bag: object, path: Path) -> float:
    started = time.perf_counter()
    found = bag.process_file(str(path), only_if_updated=False)  # type: ignore[attr-defined]
    elapsed = (time.perf_counter() - started) * 1000
    assert found and not bag.import_errors, (path, bag.import_errors)  # type: ignore[attr-defined]
    return elapsed


def _minor_pythons() -> list[tuple[str, str]]:
    """(python, minor) of each supported minor's venv: .venv is the default's, .venv-<patch> the others'."""
    import re

    out = []
    for lock in sorted((ROOT / "requirements").glob("lock-3.*.txt")):
        minor = lock.stem.removeprefix("lock-")
        pin = re.search(r"^apache-airflow==(\S+)", lock.read_text(), re.M)
        for venv in (ROOT / f".venv-{pin.group(1) if pin else ''}", ROOT / ".venv"):
            python = venv / "bin" / "python"
            probe = (
                subprocess.run(
                    [str(python), "-c", "import airflow; print(airflow.__version__)"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if python.exists()
                else None
            )
            if probe is not None and probe.stdout.strip().startswith(minor + "."):
                out.append((str(python), minor))
                break
    return out


def _cold(
    python: str, variant: str, trivial: Path, files: list[Path], base_env: dict[str, str], label: str
) -> dict[str, float]:
    env = dict(base_env)
    env.pop("PYTHONPYCACHEPREFIX", None)  # Airflow's own bytecode is read where it was installed
    bundle = ROOT / "plugins"
    if variant:  # the git-sync case: the bundle uncompiled, and nothing written back
        root, trivial, files = _uncompiled_bundle(trivial)
        bundle = root / "plugins"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = str(bundle)  # ahead of the checkout's .pth entry
    rounds: dict[Path, list[float]] = {p: [] for p in [trivial, *files]}
    print(f"  {label} rounds (ms, a fresh interpreter per parse):", flush=True)
    for number in range(1, COLD_ROUNDS + 1):
        for path in rounds:
            out = subprocess.run(
                [python, "-c", COLD, str(path)], env=env, capture_output=True, text=True, check=True
            )
            where, elapsed = out.stdout.strip().splitlines()[-2:]
            assert path == trivial or where.startswith(str(bundle)), (path, where)
            rounds[path].append(float(elapsed))
        print(
            f"    round {number}: " + "  ".join(f"{p.stem} {v[-1]:.1f}" for p, v in rounds.items()),
            flush=True,
        )
    if variant:
        written = sorted(str(p) for p in root.rglob("__pycache__"))
        assert not written, f"bytecode was written into the uncompiled bundle: {written}"
        shutil.rmtree(root)
    cold_medians = {p: statistics.median(v) for p, v in rounds.items()}
    worst = max(files, key=lambda p: cold_medians[p])
    for path, values in rounds.items():
        print(f"    {path.stem:24s} median {cold_medians[path]:6.1f}  raw {[round(v, 1) for v in values]}")
    return {
        f"parse_cold{variant}_ms_max": round(cold_medians[worst], 1),
        f"parse_cold{variant}_ms_trivial": round(cold_medians[trivial], 1),
        f"parse_cold{variant}_ratio_vs_trivial": round(cold_medians[worst] / cold_medians[trivial], 3),
    }


def run() -> dict[str, float]:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench_parse_"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow_ops.compat import dagbag_class

    DagBag = dagbag_class()

    tmp = Path(tempfile.mkdtemp(prefix="bench_trivial_"))
    trivial = tmp / "trivial_baseline.py"
    trivial.write_text(TRIVIAL)
    files = sorted((ROOT / "dags").glob("*.py"))
    bag = DagBag(dag_folder=str(tmp), collect_dags=False)
    for path in [trivial, *files]:  # warm-up: first import of airflow_ops and friends
        _parse_ms(bag, path)
    samples: dict[Path, list[float]] = {p: [] for p in [trivial, *files]}
    for _ in range(RUNS):
        for path in samples:
            samples[path].append(_parse_ms(bag, path))
    medians = {p: statistics.median(v) for p, v in samples.items()}
    slowest = max(files, key=lambda p: medians[p])
    import compileall

    compileall.compile_dir(str(ROOT / "plugins"), quiet=1)
    base_env = dict(os.environ)
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    cold_out: dict[str, float] = {}
    for variant in ("", "_nopyc"):
        cold_out.update(_cold(sys.executable, variant, trivial, files, base_env, label=f"cold{variant}"))
    # The same compiled cold parse under every other supported minor's newest patch (make bench builds
    # their venvs): parse_cold_ratio_vs_trivial_<minor>.
    for python, minor in _minor_pythons():
        key = f"parse_cold_ratio_vs_trivial_{minor.replace('.', '_')}"
        if os.path.abspath(python) == os.path.abspath(sys.executable):
            cold_out[key] = cold_out["parse_cold_ratio_vs_trivial"]  # measured above
            continue
        figures = _cold(python, "", trivial, files, base_env, label=f"cold on Airflow {minor}")
        cold_out[key] = figures["parse_cold_ratio_vs_trivial"]
    per_file = {p.stem: round(medians[p], 2) for p in files}
    print("  per-file median ms:", json.dumps(per_file), "trivial:", round(medians[trivial], 2))
    return {
        "parse_ms_max": round(medians[slowest], 2),
        "parse_ratio_vs_trivial": round(medians[slowest] / medians[trivial], 3),
        **cold_out,
    }
