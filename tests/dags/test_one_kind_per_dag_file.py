"""Parsing a DAG file loads its own kind and the shared base of ``airflow_ops``, and nothing else.

The dag-processor parses each file in a fresh child, so whatever a file imports is paid on every
parse. Each file is executed here in a fresh interpreter, as the dag-processor does, and the
``airflow_ops`` modules it left in ``sys.modules`` are checked: its kind's row, DAG shape and task
glue; no other kind; nothing above the kinds (the registry, the Maintenance page, the plugin); no
config schema (building pydantic models is the largest part of a cold parse), and no report schema
(a step needs it when it runs, not when its DAG is parsed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_import_layers import LAYERS

REPO = Path(__file__).parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))

LOAD = """
import json, runpy, sys
runpy.run_path(sys.argv[1], run_name="dag_file")
print(json.dumps(sorted(m for m in sys.modules if m == "airflow_ops" or m.startswith("airflow_ops."))))
"""
#: Below the kinds in tests/unit/test_import_layers.LAYERS: what any DAG file may share.
SHARED = {name for layer in LAYERS[: LAYERS.index(("kinds",))] for name in layer}


def _loaded(dag_file: Path, home: Path) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AIRFLOW_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, str(dag_file)],
        env={**env, "PYTHONPATH": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


def _kind_of(dag_file: Path) -> str:
    for line in dag_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("from airflow_ops.kinds.") and line.split()[3] == "KIND":
            return line.split()[1].split(".")[2]
    raise AssertionError(f"{dag_file.name} imports no kind row")


@pytest.mark.process
@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_a_dag_file_loads_only_its_kind_and_the_shared_base(dag_file: Path, tmp_path: Path) -> None:
    kind = _kind_of(dag_file)
    loaded = _loaded(dag_file, tmp_path)
    own = f"airflow_ops.kinds.{kind}"
    assert {f"{own}.kind", f"{own}.dag", f"{own}.tasks"} <= set(loaded)
    others = [m for m in loaded if m.startswith("airflow_ops.kinds.") and not m.startswith(own)]
    assert others == [], f"{dag_file.name} loads other kinds"
    not_shared = [
        m
        for m in loaded
        if m not in ("airflow_ops", "airflow_ops.kinds") and not m.startswith(own)
        if m.split(".")[1] not in SHARED
    ]
    assert not_shared == [], f"{dag_file.name} loads modules above the shared base"
    assert not [m for m in loaded if m.endswith(".schema") or m == "airflow_ops.config"]
    assert "airflow_ops.report" not in loaded
