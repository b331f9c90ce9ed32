"""Layout (a): dags/ and plugins/ mounted as the dags and plugins folders, parsed by a real dag-processor.

Layout (b), the whole repository git-synced into a dags folder, is proven in test_gitsync*.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import AirflowStack

REPO = Path(__file__).parents[2]


def test_dag_processor_parses_exactly_the_bundle_with_zero_import_errors(airflow: AirflowStack) -> None:
    dags = airflow.api().get("/api/v2/dags", params={"limit": 1000})["dags"]
    assert {d["dag_id"] for d in dags} == {p.stem for p in (REPO / "dags").glob("*.py")}
    assert airflow.import_errors() == []


def test_every_bundle_dag_carries_its_doc_and_maintenance_tag(airflow: AirflowStack) -> None:
    for dag in airflow.api().get("/api/v2/dags", params={"limit": 1000})["dags"]:
        assert "maintenance" in {t["name"] for t in dag["tags"]}, dag["dag_id"]
        detail = airflow.api().get(f"/api/v2/dags/{dag['dag_id']}/details")
        assert detail["doc_md"] and "**What it does.**" in detail["doc_md"], dag["dag_id"]
        assert detail["max_active_runs"] == 1 and detail["catchup"] is False
