"""The table of kinds: every row's parts exist and every shipped config validates through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_ops.registry import KINDS, load_config_file

pytestmark = pytest.mark.process

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_has_a_folder_with_schema_dag_tasks_and_doc(name: str) -> None:
    kind = KINDS[name]
    folder = kind.folder
    assert folder.name == name
    assert {p.name for p in folder.iterdir()} >= {"kind.py", "schema.py", "dag.py", "tasks.py", "doc.md.j2"}
    assert kind.doc_template.is_file()
    schema = kind.schema()
    assert schema.model_fields["kind"].annotation.__args__ == (name,)  # type: ignore[union-attr]


def test_every_shipped_config_is_a_registered_kind() -> None:
    kinds = {getattr(load_config_file(p), "kind") for p in (REPO / "config").glob("*.yml")}  # noqa: B009
    assert kinds == set(KINDS)


def test_parsing_a_dag_file_builds_no_pydantic_model() -> None:
    """The cold parse pays for what it imports: the schema modules stay out of it."""
    import subprocess
    import sys

    code = (
        "import sys, airflow.sdk\n"
        "from airflow_ops.compat import dagbag_class\nDagBag = dagbag_class()\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('airflow_ops') and m.endswith('schema'))\n"
        "print('loaded:' + ','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "loaded:"
