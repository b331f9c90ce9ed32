"""Issue 19: a config the edge accepts keeps its meaning; one it refuses gets one line, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_ops.exceptions import ConfigError
from airflow_ops.registry import load_config_file

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)

#: (YAML after "kind: log_cleanup\ndag_id: x\n", the field named, words of the reason)
HOSTILE_YAML = [
    ("retention_days: 3\nretention_days: 30\n", "retention_days", "written twice (lines 3 and 4)"),
    ("alerts: {webhook: {conn_id: a}}\nalerts: {}\n", "alerts", "written twice"),
    ("archive:\n  bucket: logs-bucket\n  bucket: other-bucket\n", "bucket", "lines 4 and 5"),
    ("retention_days: true\n", "retention_days", "valid integer"),
    ("retries: yes\n", "retries", "valid integer"),
    ("safety_window_hours: false\n", "safety_window_hours", "valid number"),
    ("safety_window_hours: .inf\n", "safety_window_hours", "finite number"),
    ("safety_window_hours: -.inf\n", "safety_window_hours", "finite number"),
    ("safety_window_hours: .nan\n", "safety_window_hours", "finite number"),
    ("retention_days: 30.5\n", "retention_days", "valid integer"),
    ("schedule: '0 0 31 2 *'\n", "schedule", "never fires"),
    ("schedule: '0 0 30 2 *'\n", "schedule", "never fires"),
    ("tags: [" + "t" * 101 + "]\n", "tags", "Airflow allows 100"),
    ("tags: ['  ']\n", "tags", "empty"),
    ("x: " + "[" * 500 + "]" * 500 + "\n", "<yaml>", "nested deeper"),
    ("x: " + "{a: " * 40 + "1" + "}" * 40 + "\n", "<yaml>", "nested deeper"),
    (_BOMB, "<yaml>", "expands to more than"),
    ("#" + "x" * 300_000 + "\n", "<file>", "larger than 256 KiB"),
    ("extra_roots: [/usr/lib]\n", "extra_roots", "system directory"),
    ("archive: {bucket: My_Bucket}\n", "archive.bucket", "S3"),
    ("archive: {bucket: logs-bucket, prefix: ../../etc}\n", "archive.prefix", ".."),
]


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    # The first validation builds the pydantic models and imports croniter: not what is timed.
    path = tmp_path_factory.mktemp("warm") / "x.yml"
    path.write_text("kind: log_cleanup\ndag_id: x\n")
    load_config_file(path)


@pytest.mark.parametrize(("body", "field", "reason"), HOSTILE_YAML, ids=[r for _, _, r in HOSTILE_YAML])
def test_hostile_yaml_is_one_line_naming_the_field_fast(
    tmp_path: Path, body: str, field: str, reason: str
) -> None:
    path = tmp_path / "x.yml"
    path.write_text("kind: log_cleanup\ndag_id: x\n" + body)
    # "Fast" is CPU time of this thread, not wall time: a loaded machine stretches the latter, not the
    # former. Unbounded, the alias bomb and the nesting run out of memory or recursion instead.
    started = time.thread_time()
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert time.thread_time() - started < 2
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.field.split(".")[0] == field.split(".")[0], message
    assert reason in message, message


def test_a_binary_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config_file(path)


def test_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    path.write_text("kind: log_cleanup\ndag_id: x\nper_dag_retention_days:\n  <<: {a: 5}\n  b: 7\n")
    cfg = load_config_file(path)
    assert cfg.per_dag_retention_days == {"a": 5, "b": 7}  # type: ignore[attr-defined]
