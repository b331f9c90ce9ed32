"""Issue 19: any config the schema accepts renders to a DAG file that Airflow imports, and the spec
in that file equals the validated config (drawn by Hypothesis for every kind, loaded by a real DagBag)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_ops.exceptions import ConfigError
from airflow_ops.registry import parse
from airflow_ops_tools.generator import render_dag_file, render_doc, spec_of

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
_TAG = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=100
)
_BUCKET = st.from_regex(r"[a-z0-9][a-z0-9\-]{1,20}[a-z0-9]", fullmatch=True)
_PREFIX = st.from_regex(r"/?[A-Za-z0-9_\-]{1,10}(/[A-Za-z0-9_\-]{1,10}){0,2}/?", fullmatch=True)

_KIND_FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "health_probe": st.fixed_dictionaries(
        {}, optional={"freshness_tag": st.none() | _TAG, "maintenance_dag_files": st.lists(_TAG, max_size=3)}
    ),
    "metadata_backup": st.fixed_dictionaries({"bucket": _BUCKET, "prefix": _PREFIX}),
    "log_cleanup": st.fixed_dictionaries(
        {},
        optional={
            "retention_days": st.integers(1, 3650),
            "safety_window_hours": st.floats(1, 1e6, allow_nan=False, allow_infinity=False),
            "extra_roots": st.lists(st.sampled_from(["/opt/airflow/logs", "/var/log/airflow", "/data/x y"])),
            "archive": st.fixed_dictionaries({"bucket": _BUCKET, "prefix": _PREFIX}),
        },
    ),
    "db_cleanup": st.fixed_dictionaries(
        {},
        optional={
            "archive_bucket": _BUCKET,
            "archive_prefix": _PREFIX,
            "retention_days": st.integers(1, 3650),
        },
    ),
    "config_export": st.fixed_dictionaries({"bucket": _BUCKET, "prefix": _PREFIX}),
}

_COMMON = st.fixed_dictionaries(
    {"dag_id": st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,40}", fullmatch=True)},
    optional={
        "description": _TEXT,
        "owner": _TAG,
        "tags": st.lists(_TAG, max_size=4),
        "schedule": st.sampled_from(
            ["@daily", "@hourly", "0 3 * * *", "*/5 * * * *", "0 0 29 2 *", " @weekly "]
        ),
        "start_date": st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)),
        "retries": st.integers(1, 10),
        "dagrun_timeout_minutes": st.integers(1, 60),
    },
)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(_KIND_FIELDS)))
    return {"kind": kind, **draw(_COMMON), **draw(_KIND_FIELDS[kind])}


@pytest.fixture(scope="module")
def dags_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dags")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=configs())
def test_every_accepted_config_imports_under_airflow_and_round_trips(
    dags_dir: Path, raw: dict[str, Any]
) -> None:
    from airflow_ops.compat import dagbag_class

    DagBag = dagbag_class()

    try:
        cfg = parse(raw)
    except ConfigError:
        assume(False)
        return
    text = render_dag_file(cfg, "config/generated.yml")
    path = dags_dir / f"{cfg.dag_id}.py"
    path.write_text(text, encoding="utf-8")
    try:
        bag = DagBag(dag_folder=str(path), include_examples=False) if _takes_examples() else DagBag(str(path))
        assert bag.import_errors == {}, bag.import_errors
        dag = bag.dags[cfg.dag_id]
        module = ast.parse(text)
        [call] = [
            n
            for n in ast.walk(module)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "build_dag"
        ]
        spec = ast.literal_eval(call.args[1])
        assert spec == spec_of(cfg)
        assert parse(spec) == cfg
        assert dag.description == (cfg.description or None)
        assert sorted(dag.tags) == sorted(cfg.tags)
        assert dag.doc_md == f"\n{render_doc(cfg)}\n"
    finally:
        path.unlink()


def _takes_examples() -> bool:
    import inspect

    from airflow_ops.compat import dagbag_class

    DagBag = dagbag_class()

    return "include_examples" in inspect.signature(DagBag.__init__).parameters
