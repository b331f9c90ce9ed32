"""Restore the Airflow metadata DB from an airflow-ops backup in S3.

    # what is there
    scripts/restore_metadata_db.py --list
    # check the newest verified backup and show what would happen
    scripts/restore_metadata_db.py --target-url postgresql://airflow@db:5432/airflow_restored --dry-run
    # restore it (the target database must exist and be empty, or pass --force)
    scripts/restore_metadata_db.py --target-url postgresql://airflow@db:5432/airflow_restored
    # keep a backup until unpinned (retention never deletes a pinned backup), and release it
    airflow-ops restore-backup --pin 2026-11-23T000000Z --reason "before the 3.3 upgrade"
    airflow-ops restore-backup --unpin 2026-11-23T000000Z

Before anything is written (and in a dry run) the command lists what the restore will do to the
target: the tables it creates, and with --force the tables it drops and replaces (pg_restore
--clean) and the ones it leaves alone. After a restore (and a dry run) the command prints the
fingerprint of the fernet key the restored DB's connections and variables need: set that key as
[core] fernet_key of the restored Airflow.

The object's sha256 is checked against its manifest in a first streamed pass before anything is
written; the restore itself streams the object into pg_restore (no local copy) and ends by
comparing every table's row count with the manifest. Passwords come from PGPASSWORD (or
~/.pgpass), never from the command line. S3 credentials come from the usual AWS environment
(AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_CA_BUNDLE, ...); --endpoint-url reaches MinIO or another S3 API.
--checksum-when-required makes botocore send and check payload checksums only where S3 requires
them (for stores that do not understand its default aws-chunked request bodies); botocore's own
AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION=when_required do the same.

Exit codes: 0 restored (or dry run passed), 1 error, 2 refused (target not empty) or S3 unusable
(missing bucket, unreachable endpoint, no credentials, access denied), 3 row counts differ.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from urllib.parse import unquote, urlsplit

from airflow_ops.backup.catalog import list_backups
from airflow_ops.backup.dump import DEFAULT_PG_BIN_DIRS
from airflow_ops.backup.errors import BackupError, RestoreRefused
from airflow_ops.backup.pins import describe, pin_backup, read_pin, unpin_backup
from airflow_ops.backup.restore import RestorePlan, choose_backup, restore_backup
from airflow_ops.connections import PostgresTarget
from airflow_ops.exceptions import AirflowOpsError
from airflow_ops.redact import redact
from airflow_ops.storage import StorageError
from airflow_ops_tools.contract import Parser, UsageError, one_line, run, warn_password_flag
from airflow_ops_tools.progress import Progress


def parse_target(url: str, flag: str = "--target-url") -> PostgresTarget:
    shape = "postgresql://user@host:5432/db (the password in PGPASSWORD or ~/.pgpass)"
    parts = urlsplit(url)
    if parts.password:
        warn_password_flag(f"the password in {flag}", unquote(parts.password), "PGPASSWORD or ~/.pgpass")
    scheme = parts.scheme.split("+", 1)[0]  # postgresql+psycopg2:// is the same server
    if scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise UsageError(f"{flag} must look like {shape} (got {redact(url)!r})")
    try:
        port = parts.port or 5432
    except ValueError:
        raise UsageError(
            f"{flag} has a port that is not a number 1-65535 (got {redact(url)!r}): use {shape}"
        ) from None
    return PostgresTarget(
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        dbname=unquote(parts.path.strip("/")),
        password=unquote(parts.password) if parts.password else os.environ.get("PGPASSWORD"),
    )


def s3_client(endpoint_url: str | None, region: str | None, checksum_when_required: bool = False) -> object:
    from airflow_ops.storage import plain_client

    return plain_client(endpoint_url, region, checksum_when_required)


def s3_problem(exc: Exception, bucket: str, prefix: str, endpoint_url: str | None) -> str | None:
    """One line naming what failed and the fix, for a botocore error; None for anything else."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    from airflow_ops.storage import StorageError

    if isinstance(exc, StorageError) and isinstance(exc.__cause__, Exception):
        exc = exc.__cause__  # the storage layer keeps botocore's error as the cause
    where = f"s3://{bucket}/{prefix.strip('/')}/"
    endpoint = endpoint_url or "AWS S3"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchBucket", "404", "NotFound"):
            return (
                f"bucket {bucket!r} does not exist at {endpoint} (or these credentials cannot see it): "
                "pass --bucket with the bucket the metadata_backup DAG writes to (its config's `bucket`)"
            )
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return (
                f"{endpoint} refused {where} ({code}): use AWS credentials (AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) allowed s3:ListBucket and s3:GetObject on it"
            )
        return f"{endpoint} answered {code or 'an error'} for {where}: {error.get('Message') or exc}"
    if isinstance(exc, EndpointConnectionError):
        # botocore names the whole request URL; the endpoint is its scheme and host.
        url = exc.kwargs.get("endpoint_url") or endpoint
        parts = urlsplit(url)
        url = f"{parts.scheme}://{parts.netloc}" if parts.netloc else url
        return (
            f"cannot reach the S3 endpoint {url}: check --endpoint-url (or AWS_ENDPOINT_URL) "
            "and that the S3 service is running"
        )
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(exc, BotoCoreError):
        return f"S3 request for {where} failed: {exc}: check --endpoint-url, --region and the AWS credentials"
    return None


def fernet_line(needed: str | None, env: dict[str, str] | None = None) -> str:
    """Which fernet key the restored DB needs, and whether this shell's AIRFLOW__CORE__FERNET_KEY is it."""
    from airflow_ops.backup.sidecars import fingerprint

    if not needed:
        return "unknown: the backup predates fingerprints or its worker had no [core] fernet_key"
    line = f"the restored DB needs the fernet key {needed}: set it as [core] fernet_key of that Airflow"
    local = (os.environ if env is None else env).get("AIRFLOW__CORE__FERNET_KEY", "")
    if local:
        keys = [k.strip() for k in local.split(",") if k.strip()]
        ok = any(fingerprint(k) == needed for k in keys)
        line += (
            " (AIRFLOW__CORE__FERNET_KEY here matches)"
            if ok
            else f" (AIRFLOW__CORE__FERNET_KEY here is {fingerprint(keys[0])}: another key)"
        )
    return line


def _names(names: list[str], limit: int = 20) -> str:
    return ", ".join(names[:limit]) + (f" ... (+{len(names) - limit})" if len(names) > limit else "")


def describe_restore(plan: RestorePlan, bucket: str) -> list[str]:
    """What the restore will do, printed before it writes anything (the same lines in a dry run)."""
    m = plan.manifest
    will = "would" if plan.dry_run else "will"
    lines = [
        f"backup      s3://{bucket}/{m.key}",
        f"sha256      {m.sha256} (verified)",
        f"taken       {m.started_at} from PostgreSQL {m.server_version}, Airflow {m.airflow_version}",
        f"alembic     {m.alembic_revision}",
        f"target      {plan.target!r} ({plan.target_tables} tables before)",
    ]
    if plan.replaced:
        lines.append(
            f"replace     {will} DROP and replace {len(plan.replaced)} tables of the target (--force): "
            + _names(plan.replaced)
        )
    if plan.created:
        lines.append(f"create      {will} create {len(plan.created)} tables: {_names(plan.created)}")
    if plan.kept:
        lines.append(
            f"keep        {will} leave {len(plan.kept)} tables the backup does not hold: {_names(plan.kept)}"
        )
    return lines


def _pin_command(client: object, args: argparse.Namespace) -> int:
    import getpass

    if args.pin:
        record = pin_backup(client, args.bucket, args.prefix, args.pin, args.reason, by=getpass.getuser())
        print(f"pinned      s3://{args.bucket}/{record['folder']}/ {describe(record)}")
        print("            retention keeps it until `airflow-ops restore-backup --unpin` removes the pin")
        return 0
    if unpin_backup(client, args.bucket, args.prefix, args.unpin):
        print(f"unpinned    {args.unpin}: retention applies to it again")
    else:
        print(f"unpinned    {args.unpin} was not pinned: nothing to do")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("restore-backup", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = Parser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, command="restore-backup"
    )
    parser.add_argument("--bucket", default="airflow-ops-backups")
    parser.add_argument("--prefix", default="metadata-backup")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--list", action="store_true", help="list the backups and exit")
    parser.add_argument("--backup", metavar="STAMP", help="folder name to restore, e.g. 2026-11-23T000000Z")
    parser.add_argument("--allow-unverified", action="store_true", help="consider backups not yet verified")
    parser.add_argument("--target-url", help="postgresql://user@host:port/dbname (password in PGPASSWORD)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="verify checksum and archive, list what would be replaced, write nothing",
    )
    parser.add_argument("--force", action="store_true", help="restore into a non-empty database (--clean)")
    parser.add_argument("--pg-bin-dir", action="append", help="where to look for pg_restore (repeatable)")
    parser.add_argument(
        "--checksum-when-required",
        action="store_true",
        help="botocore request/response checksums only where required (stores without aws-chunked support)",
    )
    pins = parser.add_mutually_exclusive_group()
    pins.add_argument("--pin", metavar="STAMP", help="keep this backup until unpinned (needs --reason)")
    pins.add_argument("--unpin", metavar="STAMP", help="remove the pin: retention may delete it again")
    parser.add_argument("--reason", help="why the backup is pinned (with --pin)")
    args = parser.parse_args(argv)
    if args.pin and not (args.reason or "").strip():
        parser.error("--pin needs --reason, e.g. --reason 'before the 3.3 upgrade'")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        client = s3_client(args.endpoint_url, args.region, args.checksum_when_required)
    except ValueError as exc:
        print(
            f"error: {one_line(f'--endpoint-url {args.endpoint_url!r} is not usable ({exc})')}: "
            "pass http(s)://host:port",
            file=sys.stderr,
        )
        return 2
    try:
        if args.pin or args.unpin:
            return _pin_command(client, args)
        if args.list:
            backups = list_backups(client, args.bucket, args.prefix)
            print(f"{'backup':<20}  {'size MB':>10}  {'verified':<8}  {'complete':<8}  pinned")
            for b in backups:
                name = b.folder.rsplit("/", 1)[-1]
                verified = "yes" if b.verified else "no"
                pin = describe(read_pin(client, args.bucket, b.folder)) if b.pinned else "no"
                print(f"{name:<20}  {b.size_bytes / 1e6:>10.1f}  {verified:<8}  {b.complete!s:<8}  {pin}")
            print(f"{len(backups)} backup(s) under s3://{args.bucket}/{args.prefix}/")
            return 0
        if not args.target_url:
            parser.error("--target-url is required unless --list")
        target = parse_target(args.target_url)
        backup = choose_backup(client, args.bucket, args.prefix, args.backup, not args.allow_unverified)

        def announce(plan: RestorePlan) -> None:
            for line in describe_restore(plan, args.bucket):
                print(line, flush=True)

        bar = Progress()
        try:
            plan = restore_backup(
                client,
                args.bucket,
                backup,
                target,
                pg_bin_dirs=args.pg_bin_dir or list(DEFAULT_PG_BIN_DIRS),
                force=args.force,
                dry_run=args.dry_run,
                announce=announce,
                progress=bar.bytes("restoring", backup.size_bytes),
            )
        finally:
            bar.done()
    except UsageError:
        raise
    except RestoreRefused as exc:
        print(f"refused: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except StorageError as exc:
        problem = s3_problem(exc, args.bucket, args.prefix, args.endpoint_url)
        print(f"error: {one_line(problem or str(exc))}", file=sys.stderr)
        return 2 if problem else 1
    except (BackupError, AirflowOpsError) as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:
        problem = s3_problem(exc, args.bucket, args.prefix, args.endpoint_url)
        if problem is None:
            raise
        print(f"error: {one_line(problem)}", file=sys.stderr)
        return 2
    m = plan.manifest
    print(f"fernet key  {fernet_line(m.fernet_fingerprint)}")
    if plan.dry_run:
        print(f"dry run: would restore {len(m.table_row_counts)} tables; nothing was written")
        return 0
    if plan.mismatches:
        for table, (want, got) in plan.mismatches.items():
            print(f"MISMATCH    {table}: {want} rows in backup, {got} restored", file=sys.stderr)
        return 3
    rows = sum(m.table_row_counts.values())
    print(f"restored    {len(m.table_row_counts)} tables, {rows} rows; every row count matches")
    print("next        point [database] sql_alchemy_conn at it, run `airflow db check`, start Airflow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
