"""The log sweep on synthetic trees with traps: each trap has its expected outcome."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_ops.exceptions import ConfigError
from airflow_ops.kinds.log_cleanup.schema import LogCleanupConfig
from airflow_ops.logcleanup.roots import DangerousRootError, LogRoot, check_root
from airflow_ops.logcleanup.sweep import DAY, LogSweeper, RetentionPolicy, RootStats
from airflow_ops.registry import parse

NOW = time.time()


def touch(path: Path, age_days: float, body: bytes = b'{"event": "log line"}\n') -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    ts = NOW - age_days * DAY
    os.utime(path, (ts, ts))
    return path


def age_dirs(root: Path, age_days: float) -> None:
    """Give every directory under root (not root) an old mtime, as real old run directories have."""
    ts = NOW - age_days * DAY
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                os.utime(p, (ts, ts))


def task_log(root: Path, dag: str, run: str, task: str, attempt: int = 1) -> Path:
    return root / f"dag_id={dag}" / f"run_id={run}" / f"task_id={task}" / f"attempt={attempt}.log"


def sweep(root: Path, *, dry_run: bool = False, **policy: Any) -> RootStats:
    pol = RetentionPolicy(policy.pop("retention_days", 30), now=NOW, **policy)
    return LogSweeper(pol, dry_run=dry_run).sweep("task-logs", str(root), dag_layout=True)


def test_expired_files_are_deleted_and_recent_ones_kept(tmp_path: Path) -> None:
    old = touch(task_log(tmp_path, "d", "r1", "t"), 40)
    new = touch(task_log(tmp_path, "d", "r2", "t"), 3)
    stats = sweep(tmp_path)
    assert not old.exists() and new.exists()
    assert (stats.files_deleted, stats.files_kept) == (1, 1)
    assert stats.per_dag == {"d": [1, len(b'{"event": "log line"}\n')]}


def test_per_dag_retention_overrides_the_default(tmp_path: Path) -> None:
    kept = touch(task_log(tmp_path, "keep_me", "r", "t"), 40)
    gone = touch(task_log(tmp_path, "other", "r", "t"), 40)
    sweep(tmp_path, per_dag_days={"keep_me": 90})
    assert kept.exists() and not gone.exists()


def test_safety_window_protects_a_file_even_when_retention_is_shorter(tmp_path: Path) -> None:
    live = touch(task_log(tmp_path, "d", "r", "t"), 0.5)
    stats = sweep(tmp_path, retention_days=0.1, safety_window_hours=24)
    assert live.exists()
    assert stats.skipped["within_safety_window"] == 1


def test_old_run_directory_with_a_recent_file_keeps_that_file(tmp_path: Path) -> None:
    old = touch(task_log(tmp_path, "d", "r", "t1"), 40)
    recent = touch(task_log(tmp_path, "d", "r", "t2"), 0.1)
    age_dirs(tmp_path, 40)
    stats = sweep(tmp_path)
    assert recent.exists() and not old.exists()
    assert recent.parent.parent.is_dir()
    assert stats.dirs_removed == 1  # only task_id=t1


def test_empty_directories_are_removed_but_never_the_root(tmp_path: Path) -> None:
    touch(task_log(tmp_path, "d", "r", "t"), 40)
    age_dirs(tmp_path, 40)
    stats = sweep(tmp_path)
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []
    assert stats.dirs_removed == 3  # dag_id=, run_id=, task_id=


def test_a_recently_created_empty_directory_is_kept(tmp_path: Path) -> None:
    fresh = tmp_path / "dag_id=d" / "run_id=new"
    fresh.mkdir(parents=True)
    sweep(tmp_path)
    assert fresh.is_dir()


def test_symlink_to_a_directory_outside_the_root_leaves_the_target_untouched(tmp_path: Path) -> None:
    root, outside = tmp_path / "logs", tmp_path / "precious"
    target = touch(outside / "data.log", 400)
    touch(task_log(root, "d", "r", "t"), 40)
    (root / "dag_id=d" / "escape").symlink_to(outside, target_is_directory=True)
    stats = sweep(root)
    assert target.exists()
    assert (root / "dag_id=d" / "escape").is_symlink()
    assert stats.skipped["symlink"] == 1


def test_dag_processor_latest_symlink_is_kept(tmp_path: Path) -> None:
    day = tmp_path / "2026-01-01"
    old = touch(day / "bundle" / "dag.py.log", 40)
    (tmp_path / "latest").symlink_to(day, target_is_directory=True)
    stats = LogSweeper(RetentionPolicy(30, now=NOW), dry_run=False).sweep("dag-processor", str(tmp_path))
    assert not old.exists()
    assert (tmp_path / "latest").is_symlink()
    assert stats.skipped["symlink"] == 1


def test_unreadable_file_is_reported_and_not_deleted(tmp_path: Path) -> None:
    locked = touch(task_log(tmp_path, "d", "r", "t"), 40)
    locked.chmod(0)
    stats = sweep(tmp_path)
    assert locked.exists()
    assert stats.skipped["unreadable"] == 1


def test_non_utf8_name_is_counted_and_handled(tmp_path: Path) -> None:
    run_dir = task_log(tmp_path, "d", "r", "t").parent
    run_dir.mkdir(parents=True)
    raw = os.path.join(os.fsencode(run_dir), b"attempt=1-\xff\xfe.log")
    with open(raw, "wb") as fh:
        fh.write(b"x")
    os.utime(raw, (NOW - 40 * DAY, NOW - 40 * DAY))
    stats = sweep(tmp_path)
    assert not os.path.exists(raw)
    assert stats.non_utf8_names == 1
    assert stats.files_deleted == 1


def test_file_vanishing_mid_walk_is_counted_not_fatal(tmp_path: Path) -> None:
    a = touch(task_log(tmp_path, "d", "r", "t", 1), 40)
    b = touch(task_log(tmp_path, "d", "r", "t", 2), 40)

    class VanishingArchiver:
        """Deletes the sibling when the first file is handed over, as a concurrent cleaner would."""

        def add(self, dir_fd: int, name: str, relpath: str, st: os.stat_result) -> None:
            for p in (a, b):
                if p.name != name and p.exists():
                    p.unlink()

        def finish(self) -> None:
            pass

    pol = RetentionPolicy(30, now=NOW)
    stats = LogSweeper(pol, dry_run=False, archiver_factory=lambda path, st: VanishingArchiver()).sweep(
        "task-logs", str(tmp_path), dag_layout=True
    )
    assert stats.skipped["vanished"] == 1
    assert stats.files_deleted == 1


def test_dry_run_deletes_nothing_but_counts(tmp_path: Path) -> None:
    old = touch(task_log(tmp_path, "d", "r", "t"), 40)
    age_dirs(tmp_path, 40)
    stats = sweep(tmp_path, dry_run=True)
    assert old.exists()
    assert stats.files_deleted == 1 and stats.dirs_removed == 3 and stats.dry_run


def test_nested_root_is_left_to_its_own_sweep(tmp_path: Path) -> None:
    nested = tmp_path / "dag_processor"
    inner = touch(nested / "2026-01-01" / "x.log", 40)
    st = nested.stat()
    stats = LogSweeper(RetentionPolicy(30, now=NOW), dry_run=False, skip_dirs={(st.st_dev, st.st_ino)}).sweep(
        "task-logs", str(tmp_path), dag_layout=True
    )
    assert inner.exists()
    assert stats.skipped["nested_root"] == 1


def test_missing_root_is_reported_not_fatal(tmp_path: Path) -> None:
    stats = sweep(tmp_path / "nope")
    assert stats.error and "missing" in stats.error


@pytest.mark.parametrize(
    ("path", "match"),
    [
        pytest.param("/", "system directory", id="slash"),
        pytest.param("/var/log", "system directory", id="system-dir"),
        pytest.param("relative/logs", "not an absolute path", id="relative"),
        pytest.param("{home}", "home directory", id="home"),
        pytest.param("{dags}", "dags_folder", id="dags-folder"),
        pytest.param("{dags}/..", "dags_folder", id="parent-of-dags"),
        pytest.param("{dags}/sub", "dags_folder", id="inside-dags"),
    ],
)
def test_dangerous_roots_are_refused(tmp_path: Path, path: str, match: str) -> None:
    dags, home = tmp_path / "dags", "/nonexistent-home/alice"
    dags.mkdir()
    root = LogRoot("x", path.format(dags=dags, home=home), source="[logging] base_log_folder")
    with pytest.raises(DangerousRootError, match=match):
        check_root(root, {"[core] dags_folder": str(dags)}, homes={home})


@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib",
        "/usr/lib/",
        "/usr/local/lib/../../lib",
        "/etc/ssl",
        "/var/lib/postgresql",
        "/boot/grub",
        "/proc/self",
        "/var/log/..",
        "//usr//share",
        "{link_to_etc}",
        "{link_to_etc}/ssl",
    ],
)
def test_system_directories_and_everything_in_their_trees_are_refused_at_run_time(
    tmp_path: Path, path: str
) -> None:
    (tmp_path / "etc-link").symlink_to("/etc")
    root = LogRoot("x", path.format(link_to_etc=tmp_path / "etc-link"), source="extra_roots[0]")
    with pytest.raises(DangerousRootError, match="system directory"):
        check_root(root, {}, homes=set())


@pytest.mark.parametrize(
    "path", ["/usr/lib", "/etc", "/var/lib/docker", "/", "/usr/../etc/ssl", "/opt", "/sys/kernel"]
)
def test_system_directories_are_refused_at_generate_time(path: str) -> None:
    with pytest.raises(ConfigError, match=r"extra_roots: .*can never be a log root"):
        parse({"kind": "log_cleanup", "dag_id": "x", "extra_roots": ["/opt/airflow/logs", path]})


def test_a_file_is_not_a_log_root(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("x")
    with pytest.raises(DangerousRootError, match="not a directory"):
        check_root(LogRoot("x", str(tmp_path / "app.log")), {}, homes=set())


@pytest.mark.parametrize("path", ["/opt/airflow/logs", "/var/log/airflow", "/srv/airflow/logs"])
def test_ordinary_log_directories_pass_the_system_check(path: str) -> None:
    cfg = parse({"kind": "log_cleanup", "dag_id": "x", "extra_roots": [path]})
    assert isinstance(cfg, LogCleanupConfig) and cfg.extra_roots == [path]


def test_a_plain_log_directory_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    root = LogRoot("x", str(tmp_path / "logs"))
    assert check_root(root, {"[core] dags_folder": str(tmp_path / "dags")}, homes=set()) == str(
        tmp_path / "logs"
    )


def _cfg(**kw: Any) -> LogCleanupConfig:
    cfg = parse({"kind": "log_cleanup", "dag_id": "x", **kw})
    assert isinstance(cfg, LogCleanupConfig)
    return cfg


def test_config_refuses_slash_as_extra_root() -> None:
    with pytest.raises(ConfigError, match="extra_roots"):
        _cfg(extra_roots=["/"])


def test_config_refuses_duplicate_queues() -> None:
    with pytest.raises(ConfigError, match="worker_queues"):
        _cfg(worker_queues=["a", "a"])


def test_dag_processor_logs_go_to_the_first_queue_by_default() -> None:
    assert _cfg(worker_queues=["w1", "w2"]).effective_dag_processor_queue == "w1"


def _report_of(tmp_path: Path, stats: list[RootStats], **cfg: Any) -> Any:
    from airflow_ops.kinds.log_cleanup import tasks
    from tests.runs import make_run

    sweep_result = {
        "queue": "default",
        "host": "w1",
        "retention_days": 30,
        "cutoff": "2026-10-24T00:00:00+00:00",
        "dry_run": False,
        "roots": [s.to_dict() for s in stats],
        "free_bytes": 10**9,
        "duration_s": 0.1,
    }
    parsed = parse({"kind": "log_cleanup", "dag_id": "ops_log_cleanup", **cfg})
    return tasks.report(parsed, make_run("log_cleanup"), [sweep_result])


def test_airflow_default_layout_is_not_a_warning(tmp_path: Path) -> None:
    """Issue 14 item 3: dag_processor nested in base_log_folder and its ``latest`` symlink are facts."""
    from airflow_ops.logcleanup.service import sweep_roots

    base = tmp_path / "logs"
    touch(task_log(base, "d", "r1", "t"), 40)
    day = base / "dag_processor" / "2026-01-01"
    touch(day / "dags-folder" / "ops_x.py.log", 40)
    (base / "dag_processor" / "latest").symlink_to(day, target_is_directory=True)
    roots = [
        LogRoot("task-logs", str(base), dag_layout=True),
        LogRoot("dag-processor", str(base / "dag_processor")),
    ]
    stats = sweep_roots(roots, RetentionPolicy(30, now=NOW), dry_run=False)
    assert sum(s.skipped["nested_root"] for s in stats) == 1
    assert sum(s.skipped["symlink"] for s in stats) == 1
    rep = _report_of(tmp_path, stats)
    assert rep.warnings == [], rep.warnings
    assert rep.first_line().startswith("Log cleanup: OK |"), rep.first_line()
    assert "nested_root: dag_processor" in rep.details["layout"]
    assert "symlink: latest" in rep.details["layout"]


def test_an_unexpected_symlink_is_still_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "dag_id=d").mkdir(parents=True)
    (root / "dag_id=d" / "escape").symlink_to(outside, target_is_directory=True)
    rep = _report_of(tmp_path, [sweep(root)])
    assert any("symlink: dag_id=d/escape" in w for w in rep.warnings), rep.warnings


def test_every_log_cleanup_report_states_retention_and_cutoff(tmp_path: Path) -> None:
    rep = _report_of(tmp_path, [sweep(tmp_path)], per_dag_retention_days={"noisy": 3})
    assert rep.details["cutoff"] == "2026-10-24T00:00:00+00:00"
    assert rep.details["retention"] == "30 d, cutoff 2026-10-24T00:00:00+00:00; per-DAG: noisy=3 d"
    assert rep.metrics["retention_days"] == 30
    assert "retention 30 d (before 2026-10-24T00:00:00+00:00)" in rep.first_line()


def test_the_sweep_step_returns_the_cutoff_it_applied(tmp_path: Path, monkeypatch: Any) -> None:
    import datetime as dt

    from airflow_ops.kinds.log_cleanup import tasks
    from tests.runs import make_run

    monkeypatch.setattr(tasks, "resolve_roots", lambda cfg, queue: [LogRoot("task-logs", str(tmp_path))])
    cfg = parse({"kind": "log_cleanup", "dag_id": "ops_log_cleanup", "retention_days": 10})
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    out = tasks.sweep(cfg, make_run("log_cleanup", params={"dry_run": True}))
    cutoff = dt.datetime.fromisoformat(out["cutoff"])
    assert out["retention_days"] == 10
    assert abs((cutoff - before).total_seconds()) < 60


class _Store:
    """A bucket as a dict, with the few calls the log archiver makes (a unit-test fake)."""

    def __init__(self, objects: dict[str, bytes], uploads: list[str]) -> None:
        self.objects = objects
        self.uploads = uploads
        self.aborted: list[str] = []

    def get_paginator(self, name: str) -> Any:
        store = self

        class Pages:
            def paginate(self, Bucket: str, Prefix: str, **_: Any) -> list[dict[str, Any]]:
                if name == "list_multipart_uploads":
                    ups = [{"Key": k, "UploadId": f"u{i}"} for i, k in enumerate(store.uploads)]
                    return [{"Uploads": [u for u in ups if u["Key"].startswith(Prefix)]}]
                objs = [{"Key": k, "Size": len(v)} for k, v in sorted(store.objects.items())]
                return [{"Contents": [o for o in objs if o["Key"].startswith(Prefix)]}]

        return Pages()

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> None:
        self.aborted.append(Key)

    def upload_fileobj(self, fh: Any, bucket: str, key: str, ExtraArgs: Any = None) -> None:
        self.objects[key] = fh.read()

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"ContentLength": len(self.objects[Key])}


def test_a_retried_archive_never_overwrites_the_batches_of_an_earlier_attempt(tmp_path: Path) -> None:
    """A killed attempt uploaded batch 00000 and deleted its files: the retry must write 00001 on,
    and abort the multipart upload the killed attempt left open (issue 13, kill matrix)."""
    from airflow_ops.logcleanup.archive import S3LogArchiver

    prefix = "logs/host/task-logs/manual__x"
    store = _Store(
        {
            f"{prefix}-00000.tar.gz": b"first attempt",
            "logs/host/task-logs/manual__x_other-00007.tar.gz": b"x",
        },
        [f"{prefix}-00001.tar.gz", "logs/host/task-logs/another-run-00000.tar.gz"],
    )
    (tmp_path / "a.log").write_text("a")
    archiver = S3LogArchiver(store, "b", prefix, str(tmp_path), RootStats("task-logs", str(tmp_path), False))
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        archiver.add(fd, "a.log", "a.log", os.stat(tmp_path / "a.log"))
        archiver.finish()
    finally:
        os.close(fd)
    assert archiver.uploaded == [f"{prefix}-00001.tar.gz"]
    assert store.objects[f"{prefix}-00000.tar.gz"] == b"first attempt"
    assert store.aborted == [f"{prefix}-00001.tar.gz"]
    assert not (tmp_path / "a.log").exists()
