"""ops_log_cleanup under the real Airflow: a log tree produced by real runs, plus traps."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.harness import AirflowStack

pytestmark = pytest.mark.airflow
DAG_ID = "ops_log_cleanup"
DAY = 86_400


def _age(path: Path, days: float) -> None:
    ts = time.time() - days * DAY
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in [*filenames, *dirnames]:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.utime(p, (ts, ts))
    os.utime(path, (ts, ts))


@pytest.fixture(scope="module")
def produced(airflow: AirflowStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished real run whose logs are aged 40 days, and a traps tree inside the same root."""
    first = airflow.run_dag(DAG_ID, conf={"dry_run": True})
    assert first.state == "success", first.log_text()
    logs = airflow.home / "logs"
    run_dir = logs / f"dag_id={DAG_ID}" / f"run_id={first.run_id}"
    _age(run_dir, 40)
    traps = logs / "dag_id=traps"
    outside = tmp_path_factory.mktemp("outside")
    (outside / "precious.log").write_text("keep me")
    _age(outside, 400)
    old_run = traps / "run_id=old"
    (old_run / "task_id=done").mkdir(parents=True)
    (old_run / "task_id=done" / "attempt=1.log").write_text("old")
    (old_run / "task_id=live").mkdir(parents=True)
    (traps / "run_id=locked" / "task_id=t").mkdir(parents=True)
    locked = traps / "run_id=locked" / "task_id=t" / "attempt=1.log"
    locked.write_text("locked")
    raw_dir = os.fsencode(traps / "run_id=bytes")
    os.makedirs(raw_dir)
    raw = os.path.join(raw_dir, b"attempt=1-\xff.log")
    with open(raw, "wb") as fh:
        fh.write(b"latin-1 name")
    _age(traps, 40)
    locked.chmod(0)
    live = old_run / "task_id=live" / "attempt=1.log"
    live.write_text("still being written")  # recent file in an old run directory
    (traps / "escape").symlink_to(outside, target_is_directory=True)
    return {
        "run_dir": run_dir,
        "outside": outside,
        "live": live,
        "locked": locked,
        "raw": Path(os.fsdecode(raw)),
        "old_done": old_run / "task_id=done" / "attempt=1.log",
        "escape": traps / "escape",
    }


@pytest.fixture(scope="module")
def dry(airflow: AirflowStack, produced: dict[str, Path]) -> dict[str, object]:
    res = airflow.run_dag(DAG_ID, conf={"dry_run": True, "retention_days": 30})
    assert res.state == "success", res.log_text()
    return {"report": airflow.xcom(DAG_ID, res.run_id, "report"), "result": res}


@pytest.fixture(scope="module")
def real(airflow: AirflowStack, produced: dict[str, Path], dry: dict[str, object]) -> dict[str, object]:
    res = airflow.run_dag(DAG_ID, conf={"retention_days": 30})
    assert res.state == "success", res.log_text()
    return {"report": airflow.xcom(DAG_ID, res.run_id, "report"), "result": res}


def test_dry_run_deletes_nothing(produced: dict[str, Path], dry: dict[str, object]) -> None:
    report = dry["report"]
    assert isinstance(report, dict)
    assert report["mode"] == "dry_run" and report["metrics"]["files_deleted"] >= 3
    assert produced["old_done"].exists() and any(produced["run_dir"].rglob("*.log"))


def test_logs_of_real_runs_past_retention_are_deleted(
    produced: dict[str, Path], real: dict[str, object]
) -> None:
    assert not produced["run_dir"].exists()
    assert not produced["old_done"].exists()


def test_symlink_target_outside_the_root_is_untouched(
    produced: dict[str, Path], real: dict[str, object]
) -> None:
    assert (produced["outside"] / "precious.log").read_text() == "keep me"
    assert produced["escape"].is_symlink()


def test_recent_file_in_old_run_directory_survives(
    produced: dict[str, Path], real: dict[str, object]
) -> None:
    assert produced["live"].read_text() == "still being written"


def test_unreadable_file_is_reported(produced: dict[str, Path], real: dict[str, object]) -> None:
    report = real["report"]
    assert isinstance(report, dict)
    assert produced["locked"].exists()
    assert "unreadable=1" in report["details"]["skipped"]


def test_non_utf8_name_is_handled_and_reported(produced: dict[str, Path], real: dict[str, object]) -> None:
    report = real["report"]
    assert isinstance(report, dict)
    assert not os.path.lexists(os.fsencode(produced["raw"]))
    assert any("non-UTF-8" in w for w in report["warnings"])


def test_report_gives_files_and_bytes_per_root_and_per_dag(real: dict[str, object]) -> None:
    report = real["report"]
    assert isinstance(report, dict)
    roots = {r["root"] for r in report["rows"]}
    assert any(r.endswith("/logs") for r in roots) and any(r.endswith("dag_processor") for r in roots)
    assert report["details"]["per_dag"][DAG_ID]["files"] >= 1
    assert report["metrics"]["bytes_freed"] > 0
