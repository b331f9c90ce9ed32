"""``make test-compat``'s patch leg: import ``dags/`` with DagBag on every Airflow 3.1-3.3 patch on PyPI.

The newest patch of each minor is proven in full by the rest of ``make test-compat``; here every
other patch is installed over its minor's lock into one scratch environment per minor (only
Airflow's own packages change between patches, so each switch is a few seconds from uv's cache),
and a fresh interpreter imports ``dags/`` with that release's DagBag: 0 import errors expected.
Airflow 3.0's newest patch is imported too: every DAG file must fail with the one-line refusal.

Prints one line per release and writes ``compat-patches.json``; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".tools" / "bin" / "uv"
TOOLS_PY = REPO / ".tools" / "bin" / "python"  # the tool venv has pip; the project venvs do not
EXTRAS = "celery,postgres,amazon,smtp,statsd"

#: Patches that cannot import *themselves* with the lock's newer dependencies (found here, not our code):
#: 3.1.0 and 3.1.1 require structlog>=25.4 uncapped but import ``structlog.dev.Styles``, gone in 25.5.
#: Airflow's own constraint files pin those; the cap stands in for them.
UPSTREAM_CAPS: dict[str, tuple[str, ...]] = {"3.1.0": ("structlog<25.5",), "3.1.1": ("structlog<25.5",)}

IMPORT = """
import json, os, sys
from airflow_ops.compat import airflow_version, dagbag_class
bag = dagbag_class()(dag_folder=sys.argv[1])
print(json.dumps({"version": airflow_version(), "dags": sorted(bag.dag_ids),
                  "errors": {os.path.basename(k): v.strip() for k, v in bag.import_errors.items()}}))
"""


def released_patches() -> list[str]:
    """Every apache-airflow-core release on the index (``pip index versions``), newest first."""
    out = subprocess.run(
        [
            str(TOOLS_PY),
            "-m",
            "pip",
            "index",
            "versions",
            "apache-airflow-core",
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    match = re.search(r"Available versions: (.+)", out)
    if not match:
        raise SystemExit(f"error: could not read apache-airflow-core's releases from the index:\n{out}")
    return [v.strip() for v in match.group(1).split(",") if re.fullmatch(r"\d+\.\d+\.\d+", v.strip())]


def lock_pin(minor: str) -> str:
    text = (REPO / "requirements" / f"lock-{minor}.txt").read_text()
    found = re.search(r"^apache-airflow==(\S+)", text, re.M)
    assert found, minor
    return found.group(1)


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def install(venv: Path, minor_lock: str, version: str) -> str | None:
    """``version``'s Airflow over ``minor_lock`` in ``venv``; the error text on failure."""
    py = venv / "bin" / "python"
    if not py.exists():
        proc = _run([str(UV), "venv", "-q", "--python", "python3.11", str(venv)])
        if proc.returncode:
            return proc.stderr
        (venv / "lib" / "python3.11" / "site-packages" / "airflow_ops_checkout.pth").write_text(
            f"{REPO / 'plugins'}\n{REPO / 'tools'}\n"
        )
    proc = _run([str(UV), "pip", "sync", "-q", "--python", str(py), str(REPO / "requirements" / minor_lock)])
    if proc.returncode:
        return proc.stderr
    proc = _run(
        [
            str(UV),
            "pip",
            "install",
            "-q",
            "--python",
            str(py),
            f"apache-airflow[{EXTRAS}]=={version}",
            f"apache-airflow-core=={version}",
            *UPSTREAM_CAPS.get(version, ()),
        ]
    )
    return proc.stderr if proc.returncode else None


def import_dags(venv: Path) -> dict[str, object]:
    home = tempfile.mkdtemp(prefix="compat_home_")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    proc = _run([str(venv / "bin" / "python"), "-c", IMPORT, str(REPO / "dags")], env=env, timeout=600)
    if proc.returncode:
        return {"error": proc.stderr.strip()[-2000:]}
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=REPO / ".compat")
    parser.add_argument("--output", type=Path, default=REPO / "compat-patches.json")
    args = parser.parse_args(argv)

    expected_dags = sorted(p.stem for p in (REPO / "dags").glob("*.py"))
    minors = ("3.1", "3.2", "3.3")
    releases = released_patches()
    newest = {m: lock_pin(m) for m in minors}
    todo = [v for v in releases if v.rsplit(".", 1)[0] in minors and v not in newest.values()]
    oldest_refused = [v for v in releases if v.startswith("3.0.")][:1]  # 3.0's newest patch
    results: dict[str, dict[str, object]] = {}
    failures = 0
    for version in sorted(todo + oldest_refused, key=lambda v: tuple(map(int, v.split(".")))):
        minor = version.rsplit(".", 1)[0]
        lock_minor = "3.1" if minor == "3.0" else minor
        venv = args.work / f"venv-{lock_minor}"
        started = time.monotonic()
        error = install(venv, f"lock-{lock_minor}.txt", version)
        got: dict[str, object] = {"error": error} if error else import_dags(venv)
        got["seconds"] = round(time.monotonic() - started, 1)
        if minor == "3.0":
            refusal = f"airflow-ops needs Apache Airflow >= 3.1 (found {version})"
            errors = got.get("errors") or {}
            ok = (
                isinstance(errors, dict)
                and sorted(Path(k).stem for k in errors) == expected_dags
                and all(str(v).splitlines()[-1].endswith(refusal) for v in errors.values())
            )
            what = f"every DAG file refused: {refusal!r}" if ok else f"NOT refused as expected: {got}"
        else:
            ok = (
                got.get("version") == version and got.get("dags") == expected_dags and got.get("errors") == {}
            )
            n_errors = len(got.get("errors") or {}) if "errors" in got else "?"  # type: ignore[arg-type]
            what = f"{len(got.get('dags') or [])} DAGs, {n_errors} import errors"  # type: ignore[arg-type]
            if not ok:
                what += f": {json.dumps(got)[:1500]}"
        failures += not ok
        got["ok"] = ok
        results[version] = got
        print(f"Airflow {version}: {'ok' if ok else 'FAILED'}: {what} ({got['seconds']} s)", flush=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"{len(results) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
