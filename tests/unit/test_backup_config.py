"""The metadata_backup config schema and the DAG's scheduling decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_ops.exceptions import ConfigError
from airflow_ops.kinds.metadata_backup.schema import MetadataBackupConfig
from airflow_ops.kinds.metadata_backup.tasks import full_restore_due
from airflow_ops.registry import parse
from tests.runs import make_run


def cfg(**kw: Any) -> MetadataBackupConfig:
    model = parse({"kind": "metadata_backup", "dag_id": "ops_metadata_backup", **kw})
    assert isinstance(model, MetadataBackupConfig)
    return model


def test_defaults_match_the_documented_deployment() -> None:
    c = cfg()
    assert (c.bucket, c.aws_conn_id, c.metadata_db_conn_id) == (
        "airflow-ops-backups",
        "aws_default",
        "airflow_metadata_db",
    )
    assert c.full_restore_days == ["sun"] and c.fernet_key_backup is None


def test_sse_kms_requires_a_key_id() -> None:
    with pytest.raises(ConfigError, match="kms_key_id"):
        cfg(sse="aws:kms")


def test_fernet_key_may_not_live_under_the_backup_prefix() -> None:
    with pytest.raises(ConfigError, match="must not live under the backup prefix"):
        cfg(
            fernet_key_backup={
                "type": "s3",
                "bucket": "airflow-ops-backups",
                "key": "metadata-backup/fernet.json",
            }
        )


def test_fernet_key_in_secrets_manager_needs_a_secret_id() -> None:
    with pytest.raises(ConfigError, match="secret_id"):
        cfg(fernet_key_backup={"type": "secretsmanager"})


def test_unknown_weekday_is_rejected() -> None:
    with pytest.raises(ConfigError, match="full_restore_days"):
        cfg(full_restore_days=["sunday"])


@pytest.mark.parametrize(
    ("day", "forced", "due"),
    [
        pytest.param(dt.datetime(2026, 11, 22, tzinfo=dt.UTC), False, True, id="sunday"),
        pytest.param(dt.datetime(2026, 11, 23, tzinfo=dt.UTC), False, False, id="monday"),
        pytest.param(dt.datetime(2026, 11, 23, tzinfo=dt.UTC), True, True, id="monday-forced"),
    ],
)
def test_full_restore_runs_weekly_or_when_forced(day: dt.datetime, forced: bool, due: bool) -> None:
    assert full_restore_due(cfg(), day, forced) is due


def test_backup_is_keyed_on_the_logical_date() -> None:
    run = make_run(logical_date=dt.datetime(2026, 1, 2, tzinfo=dt.UTC), run_after=dt.datetime.now(dt.UTC))
    assert run.when == dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def test_manual_runs_without_logical_date_are_keyed_on_run_after() -> None:
    after = dt.datetime(2026, 1, 2, 13, 5, tzinfo=dt.UTC)
    assert make_run(logical_date=None, run_after=after).when == after
