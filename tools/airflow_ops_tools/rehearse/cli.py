"""Rehearse an Airflow upgrade on a verified backup, in a scratch database, before doing it for real.

    # the newest verified backup, the DAGs and the configuration of this deployment
    PGPASSWORD=... airflow-ops rehearse-upgrade --to 3.3.2 \\
        --scratch-url postgresql://rehearsal@scratch-db:5432/postgres \\
        --dags-folder /opt/airflow/dags --airflow-cfg /opt/airflow/airflow.cfg

It restores the backup into a scratch database on the --scratch-url server (the full-restore code of
the backup's verify step: sha256 and row counts checked), builds or reuses an isolated environment
of the target release (uv; never the running deployment's), and runs that release's
`airflow db migrate` on the scratch database while sampling pg_locks and pg_stat_activity. Then
`airflow db check-migrations`, the row counts of every table before and after, with --dags-folder
the DAG files that import on the current release and fail on the target (each release's own
DagBag), and with --airflow-cfg the target's `airflow config lint` and the options it no longer
knows. The scratch database is dropped at the end, unless --keep-scratch, or the migration failed
(it is kept for inspection and the report says how to drop it).

It never connects to the live metadata DB: the backup is its only source. A --scratch-url on the
backup's own PostgreSQL cluster is refused unless --allow-same-server (even then only a scratch
database of its own is created). Passwords come from PGPASSWORD or ~/.pgpass, and S3 credentials
from the AWS environment, never from the command line.

Exit codes: 0 the rehearsal passed; 1 findings (DAG files break, configuration issues, rows lost);
2 the migration failed, or the input is unusable (one line naming what and where).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from airflow_ops.backup.catalog import read_manifest
from airflow_ops.backup.dump import DEFAULT_PG_BIN_DIRS
from airflow_ops.backup.errors import BackupError
from airflow_ops.backup.identity import database_identity, describe
from airflow_ops.backup.pgtools import select_tool
from airflow_ops.backup.restore import choose_backup
from airflow_ops.backup.verify import compare_counts, create_scratch, drop_abandoned_scratch, restore_stream
from airflow_ops.connections import DatabaseConnectError, PostgresTarget
from airflow_ops.redact import redact
from airflow_ops_tools.contract import Parser, UsageError, run
from airflow_ops_tools.progress import Progress
from airflow_ops_tools.rehearse import cfgcheck, dagcheck, envs, migration
from airflow_ops_tools.rehearse.report import FAILED, Rehearsal
from airflow_ops_tools.restore_backup import parse_target, s3_client, s3_problem

#: a kept scratch database is renamed to this prefix, out of the abandoned-scratch clean-up's reach
KEPT_PREFIX = "airflow_ops_rehearsal_kept_"


def main(argv: list[str] | None = None) -> int:
    return run("rehearse-upgrade", _main, argv)


def _parser() -> Parser:
    p = Parser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, command="rehearse-upgrade"
    )
    p.add_argument(
        "--to", required=True, metavar="VERSION", help="the Airflow release to rehearse, e.g. 3.3.2"
    )
    p.add_argument(
        "--from",
        dest="from_version",
        metavar="VERSION",
        help="the current release (default: the Airflow version the backup records)",
    )
    p.add_argument(
        "--backup", metavar="STAMP", help="backup folder, e.g. 2026-11-23T000000Z (default: newest verified)"
    )
    p.add_argument(
        "--scratch-url",
        default=os.environ.get("AIRFLOW_OPS_SCRATCH_URL"),
        help="postgresql://user@host:port/maintenance_db where a scratch database may be created "
        "(role with CREATEDB; password in PGPASSWORD); default $AIRFLOW_OPS_SCRATCH_URL",
    )
    p.add_argument("--dags-folder", type=Path, help="DAG files to import with both releases")
    p.add_argument(
        "--plugins-folder",
        type=Path,
        help="the deployment's plugins folder (default: plugins/ next to --dags-folder, if any)",
    )
    p.add_argument("--airflow-cfg", type=Path, help="airflow.cfg to lint with the target release")
    p.add_argument("--keep-scratch", action="store_true", help="keep the scratch database for inspection")
    p.add_argument(
        "--allow-same-server",
        action="store_true",
        help="allow a --scratch-url on the backup's own PostgreSQL cluster",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON (no progress)")
    p.add_argument("--report", type=Path, help="also write the JSON report to this file")
    p.add_argument("--wheelhouse", type=Path, help="install from these wheels only (no package index)")
    p.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="PKG",
        help="also install PKG into the release environments (providers your DAGs import; repeatable)",
    )
    p.add_argument(
        "--env-cache", type=Path, help="where environments are kept (default ~/.cache/airflow-ops/envs)"
    )
    p.add_argument("--uv", help="the uv binary (default: $AIRFLOW_OPS_UV, uv on PATH)")
    p.add_argument("--migration-timeout", type=float, default=3600, metavar="SECONDS")
    p.add_argument("--bucket", default="airflow-ops-backups")
    p.add_argument("--prefix", default="metadata-backup")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument(
        "--checksum-when-required",
        action="store_true",
        help="botocore checksums only where required (stores without aws-chunked support)",
    )
    p.add_argument("--pg-bin-dir", action="append", help="where to look for pg_restore (repeatable)")
    return p


def _release_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def _check_inputs(args: argparse.Namespace) -> None:
    envs.check_release(args.to, "--to")
    if args.from_version:
        envs.check_release(args.from_version, "--from")
    if not args.scratch_url:
        raise UsageError(
            "--scratch-url is required (or AIRFLOW_OPS_SCRATCH_URL): the server where a scratch "
            "database may be created, e.g. postgresql://rehearsal@scratch-db:5432/postgres"
        )
    if args.dags_folder is not None and not args.dags_folder.is_dir():
        raise UsageError(f"--dags-folder {args.dags_folder} is not a directory: pass the folder of DAG files")
    if args.plugins_folder is not None and not args.plugins_folder.is_dir():
        raise UsageError(f"--plugins-folder {args.plugins_folder} is not a directory")
    if args.airflow_cfg is not None and not args.airflow_cfg.is_file():
        raise UsageError(f"--airflow-cfg {args.airflow_cfg} is not a file: pass the deployment's airflow.cfg")
    if args.wheelhouse is not None and not args.wheelhouse.is_dir():
        raise UsageError(
            f"--wheelhouse {args.wheelhouse} is not a directory: pass the folder holding the wheels"
        )
    if args.migration_timeout <= 0:
        raise UsageError("--migration-timeout must be a positive number of seconds")


def _same_cluster(server: PostgresTarget, manifest_db: dict[str, Any]) -> tuple[bool, str]:
    try:
        conn = server.connect(application_name="airflow-ops-rehearsal")  # identity uses a savepoint
    except DatabaseConnectError as exc:
        raise UsageError(
            f"--scratch-url {server!r}: {exc.reason}; check host, port, user and PGPASSWORD"
        ) from None
    try:
        with conn.cursor() as cur:
            mine = database_identity(cur)
    finally:
        conn.close()
    theirs = manifest_db.get("system_identifier")
    return bool(theirs and mine.get("system_identifier") == theirs), describe(manifest_db)


def _current_env(version: str, args: argparse.Namespace, progress: Progress) -> tuple[str, str]:
    """(python, airflow) of the current release: this interpreter if it runs that release, else built."""
    try:
        here = metadata.version("apache-airflow")
    except metadata.PackageNotFoundError:
        here = None
    if here == version:
        bindir = Path(sys.executable).parent
        return sys.executable, str(bindir / "airflow")
    env = envs.ensure_env(
        version,
        cache=args.env_cache,
        uv=args.uv,
        extra=args.extra,
        wheelhouse=args.wheelhouse,
        say=lambda m: progress.show(m, True),
    )
    return env.python, env.airflow


def _count_rows(target: PostgresTarget) -> dict[str, int]:
    from airflow_ops.backup.dump import count_rows, user_tables

    conn = target.connect(autocommit=True, application_name="airflow-ops-rehearsal")
    try:
        cur = conn.cursor()
        return dict(count_rows(cur, user_tables(cur)))
    finally:
        conn.close()


def _dag_env(target: PostgresTarget, home: str, args: argparse.Namespace) -> dict[str, str]:
    env = migration.airflow_environ(target, home)
    plugins = args.plugins_folder
    if plugins is None and args.dags_folder is not None and (args.dags_folder.parent / "plugins").is_dir():
        plugins = args.dags_folder.parent / "plugins"
    env["PYTHONPATH"] = ":".join([str(args.dags_folder.resolve()), dagcheck.probe_path(plugins)])
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(args.dags_folder.resolve())
    env["AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE"] = "False"  # every .py file, as the probe lists them
    if plugins is not None:
        env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins.resolve())
    return env


def _finish_scratch(admin: Any, holder: Any, scratch: PostgresTarget, keep: bool) -> tuple[str, str | None]:
    """Drop the scratch database, or keep it under a name the abandoned-scratch clean-up leaves alone."""
    holder.close()
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (scratch.dbname,)
        )
        if not keep:
            cur.execute(f'DROP DATABASE IF EXISTS "{scratch.dbname}"')
            return scratch.dbname, None
        kept = KEPT_PREFIX + uuid.uuid4().hex[:10]
        cur.execute(f'ALTER DATABASE "{scratch.dbname}" RENAME TO "{kept}"')
    hint = f"dropdb -h {scratch.host} -p {scratch.port} -U {scratch.user} {kept}"
    return kept, hint


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux: KiB


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    _check_inputs(args)
    server = parse_target(args.scratch_url, "--scratch-url")
    progress = Progress(enabled=False if args.json else None)
    t0 = time.monotonic()
    try:
        client = s3_client(args.endpoint_url, args.region, args.checksum_when_required)
    except ValueError as exc:
        raise UsageError(
            f"--endpoint-url {args.endpoint_url!r} is not usable ({exc}): pass http(s)://host:port"
        ) from None
    try:
        backup = choose_backup(client, args.bucket, args.prefix, args.backup, True)
        manifest = read_manifest(client, args.bucket, backup.manifest_key)
    except Exception as exc:  # a BackupError, or S3 failing: one line; anything else is unexpected
        if isinstance(exc, BackupError):
            raise UsageError(str(exc)) from None
        problem = s3_problem(exc, args.bucket, args.prefix, args.endpoint_url)
        if problem is None:
            raise
        raise UsageError(problem) from None
    from_version = args.from_version or manifest.airflow_version
    if not from_version or from_version == "unknown":
        raise UsageError(
            f"the backup s3://{args.bucket}/{manifest.key} does not record its Airflow version: "
            "pass --from with the release it was taken on"
        )
    envs.check_release(from_version, "--from")
    if _release_tuple(args.to) < _release_tuple(from_version):
        raise UsageError(
            f"--to {args.to} is older than the backup's Airflow {from_version}: "
            "a rehearsal replays an upgrade, not a downgrade"
        )
    same, which = _same_cluster(server, manifest.database)
    if same and not args.allow_same_server:
        raise UsageError(
            f"--scratch-url {server!r} is the cluster of the backed-up {which}: rehearse on another "
            "server, or pass --allow-same-server (a scratch database of its own is still used)"
        )

    report = Rehearsal(from_version, args.to, f"s3://{args.bucket}/{manifest.key}", scratch="")
    target_env = envs.ensure_env(
        args.to,
        cache=args.env_cache,
        uv=args.uv,
        extra=args.extra,
        wheelhouse=args.wheelhouse,
        say=lambda m: progress.show(m, True),
    )
    report.environment = {
        "path": str(target_env.path),
        "cached": target_env.cached,
        "seconds": target_env.seconds,
    }
    current: tuple[str, str] | None = None
    if args.dags_folder is not None or args.airflow_cfg is not None:
        current = _current_env(from_version, args, progress)
    pg_restore = select_tool(
        "pg_restore", manifest.pg_restore_major, args.pg_bin_dir or list(DEFAULT_PG_BIN_DIRS)
    )

    admin = server.connect(autocommit=True, application_name="airflow-ops-rehearsal")
    keep = args.keep_scratch
    try:
        drop_abandoned_scratch(admin)
        scratch, holder = create_scratch(admin, server)
        report.scratch = scratch.dbname
        try:
            with tempfile.TemporaryDirectory(prefix="airflow-ops-rehearsal-") as home:
                keep = (
                    _rehearse(
                        report,
                        args,
                        client,
                        manifest,
                        pg_restore,
                        scratch,
                        home,
                        target_env,
                        current,
                        progress,
                    )
                    or keep
                )
        finally:
            progress.done()
            report.scratch, report.drop_hint = _finish_scratch(admin, holder, scratch, keep)
            report.scratch_kept = keep
    finally:
        admin.close()
    report.seconds = round(time.monotonic() - t0, 1)
    report.peak_rss_mb = _peak_rss_mb()
    data = report.as_dict()
    if args.report is not None:
        args.report.write_text(json.dumps(data, indent=2) + "\n")
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(redact(line) for line in report.lines()))
    return report.exit_code


def _rehearse(
    report: Rehearsal,
    args: argparse.Namespace,
    client: Any,
    manifest: Any,
    pg_restore: Any,
    scratch: PostgresTarget,
    home: str,
    target_env: envs.AirflowEnv,
    current: tuple[str, str] | None,
    progress: Progress,
) -> bool:
    """Restore, check, migrate, check again. Returns True when the scratch database must be kept."""
    r0 = time.monotonic()
    restore_stream(
        client,
        manifest,
        pg_restore,
        scratch,
        progress=progress.bytes("restoring the backup", manifest.size_bytes),
    )
    mismatches = compare_counts(manifest, scratch)
    if mismatches:
        shown = ", ".join(f"{t}: {a} vs {b}" for t, (a, b) in list(mismatches.items())[:5])
        raise BackupError(
            f"the restored backup's row counts differ from its manifest ({shown}): do not rely on "
            f"{report.backup}"
        )
    report.restore = {
        "seconds": round(time.monotonic() - r0, 1),
        "bytes": manifest.size_bytes,
        "tables": len(manifest.table_row_counts),
        "rows": sum(manifest.table_row_counts.values()),
    }
    now_files: dict[str, str | None] = {}
    if current is not None and args.dags_folder is not None:
        now_files = dagcheck.import_all(
            current[0],
            args.dags_folder,
            _dag_env(scratch, home, args),
            progress.show,
            f"Airflow {report.from_version}: ",
        )
    before = _count_rows(scratch)
    result, _output = migration.run_migration(
        target_env.airflow, scratch, home, progress=progress.show, timeout_s=args.migration_timeout
    )
    report.migration = result
    if not result.ok:
        return True  # the failed state is the most useful thing to inspect
    ok, message = migration.check_migrations(target_env.airflow, scratch, home)
    report.check_migrations = {"ok": ok, "message": message}
    after = _count_rows(scratch)
    report.tables_compared = len(before)
    report.row_changes = {t: (n, after.get(t, -1)) for t, n in before.items() if after.get(t, -1) != n}
    if args.dags_folder is not None:
        then_files = dagcheck.import_all(
            target_env.python,
            args.dags_folder,
            _dag_env(scratch, home, args),
            progress.show,
            f"Airflow {report.to_version}: ",
        )
        report.dags = dagcheck.compare(args.dags_folder, now_files, then_files)
    if args.airflow_cfg is not None and current is not None:
        report.config = cfgcheck.check_config(
            args.airflow_cfg.resolve(),
            target_env.airflow,
            target_env.python,
            migration.airflow_environ(scratch, home),
            current[0],
            migration.airflow_environ(scratch, home),
        )
    return report.exit_code == FAILED


if __name__ == "__main__":
    sys.exit(main())
