"""The short soak (issue 13, part 6): `make soak` for 3 minutes instead of 30, inside `make test`.

The whole bundle on compressed schedules under the real scheduler, with aged Airflow ``log`` rows and
aged task log files written meanwhile (tests/soak.py): zero failed runs, flat RSS, the aged history
purged as fast as it is written, every backup verified.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.soak import run_soak

MINUTES = 3.0


def test_short_soak_ends_with_no_failed_run_flat_rss_and_history_kept_bounded(tmp_path: Path) -> None:
    result = run_soak(MINUTES, tmp_path)
    (tmp_path / "soak-results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    assert result["problems"] == [], "\n".join(result["problems"])
    runs = result["runs"]
    # Three minutes of a probe every minute, a log cleanup every two, a backup every three.
    assert runs["ops_health_probe"]["success"] >= 2, runs
    assert runs["ops_log_cleanup"]["success"] >= 1, runs
    assert runs["ops_db_cleanup"]["success"] >= 1, runs
    assert result["aged_log_rows"]["written"] > result["aged_log_rows"]["left"], result
    assert result["aged_log_files"]["written"] > result["aged_log_files"]["left"], result
    assert result["backups"]["total"] == result["backups"]["verified"] >= 1, result
    assert {"scheduler", "dag-processor", "triggerer", "api-server"} <= set(result["rss"]), result["rss"]
