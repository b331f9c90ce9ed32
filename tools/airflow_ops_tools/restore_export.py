"""Restore an airflow-ops config export (Variables and Connections) into a target Airflow.

The object is decrypted and authenticated in full before anything touches the target: a wrong
key or a modified object stops here with a clear error and nothing is imported. Then the export
is compared with the target (``--dry-run`` stops after printing that diff), and the entries to
import go through ``airflow variables import`` / ``airflow connections import`` against the
target DB. Entries that already exist with another value are replaced only with ``--overwrite``.
Afterwards every imported entry is read back and compared.

The key is read from an environment variable (default ``AIRFLOW_OPS_EXPORT_KEY``) or a file,
never from the command line. ``--checksum-when-required`` (or botocore's
``AWS_REQUEST_CHECKSUM_CALCULATION=when_required``) is for stores that do not understand
botocore's default aws-chunked request bodies. The target is ``--target-db-url`` or
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``; its fernet key is ``AIRFLOW__CORE__FERNET_KEY``.

Examples::

    export AIRFLOW_OPS_EXPORT_KEY=...            # the password of connection ops_export_key
    export AIRFLOW__CORE__FERNET_KEY=...         # the target Airflow's fernet key
    restore_config_export.py s3://airflow-ops-exports/config-export/ops_config_export/2026/11/\\
        config-export-20261123T000000Z.aopscx --target-db-url postgresql+psycopg2://... --dry-run
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from airflow_ops.connections import PostgresTarget
from airflow_ops.exceptions import AirflowOpsError
from airflow_ops.export.crypto import ExportCryptoError, ExportKey
from airflow_ops.export.model import Snapshot
from airflow_ops.export.reader import read_snapshot
from airflow_ops.export.restore import Plan, RestoreError, decrypt_export, plan_restore, run_import
from airflow_ops.redact import register_secret
from airflow_ops_tools.contract import Parser, one_line, run, warn_password_flag


def target_from_url(url: str) -> PostgresTarget:
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
        port = int(u.port or 5432)
        if not 0 < port < 65536:
            raise ValueError
    except Exception:
        raise RestoreError(
            "the target DB URL is not a valid SQLAlchemy URL with a port 1-65535 (postgresql+psycopg2://...)"
        ) from None
    if not u.drivername.startswith("postgresql"):
        raise RestoreError(f"only PostgreSQL targets are supported (got driver {u.drivername!r})")
    return PostgresTarget(
        host=u.host or "localhost",
        port=port,
        user=u.username or "postgres",
        dbname=u.database or "airflow",
        password=u.password if isinstance(u.password, str) else None,
        sslmode=str(u.query.get("sslmode")) if u.query.get("sslmode") else None,
    )


def fetch(source: str, endpoint_url: str | None, checksum_when_required: bool = False) -> bytes:
    if source.startswith("s3://"):
        from airflow_ops.storage import StorageError, plain_client, read_confirmed

        bucket, _, key = source[5:].partition("/")
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        try:
            client = plain_client(endpoint, None, checksum_when_required)
        except ValueError as exc:
            raise RestoreError(
                f"--endpoint-url {endpoint!r} is not usable ({exc}): pass http(s)://host:port"
            ) from None
        try:
            return read_confirmed(client, bucket, key)
        except StorageError as exc:
            raise RestoreError(f"cannot download {source}: {exc}") from None
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise RestoreError(f"cannot read {source}: {exc.strerror}") from None


def load_key(args: argparse.Namespace) -> ExportKey:
    if args.key_file:
        try:
            secret = Path(args.key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise RestoreError(
                f"--key-file {args.key_file}: cannot read it ({reason}): pass the file holding the export key"
            ) from None
        register_secret(secret)
        where = f"key file {args.key_file}"
    else:
        secret = os.environ.get(args.key_env, "")
        register_secret(secret)
        where = f"environment variable {args.key_env}"
    if not secret:
        if args.allow_plaintext:
            return ExportKey(None)
        raise RestoreError(f"no export key: set {where} to the password of the export key connection")
    return ExportKey(secret, where)


def _names(label: str, names: list[str], limit: int = 50) -> str:
    shown = ", ".join(names[:limit]) + (f" ... (+{len(names) - limit})" if len(names) > limit else "")
    return f"  {label:<28} {len(names):>6}  {shown}"


def plan_lines(plan: Plan, overwrite: bool = False, dry_run: bool = False) -> list[str]:
    """What the import will do per kind, printed before anything is written (and in a dry run).

    With ``--overwrite`` the entries that differ are named as the ones the import replaces.
    """
    will = "would" if dry_run else "will"
    lines: list[str] = []
    for kind in ("variables", "connections"):
        lines.append(f"{kind}:")
        lines.append(_names(f"new ({will} import)", plan.new[kind]))
        differ = f"differ ({will} REPLACE)" if overwrite else "differ (need --overwrite)"
        lines.append(_names(differ, plan.changed[kind]))
        lines.append(_names("identical", plan.same[kind], limit=0))
        lines.append(_names("only in target (untouched)", plan.only_target[kind]))
    new = sum(len(v) for v in plan.new.values())
    changed = sum(len(v) for v in plan.changed.values())
    summary = f"{will} import {new} new entries"
    if overwrite:
        summary += f" and replace {changed} existing entries with the export's values"
    elif changed:
        summary += f"; {changed} differing entries stay as they are (pass --overwrite to replace them)"
    lines.append(summary)
    return lines


def print_plan(plan: Plan, overwrite: bool = False, dry_run: bool = False) -> None:
    for line in plan_lines(plan, overwrite, dry_run):
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    return run("restore-export", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = Parser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, command="restore-export"
    )
    parser.add_argument("source", help="s3://bucket/key or a local file of the export object")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (else AWS_ENDPOINT_URL / AWS default)")
    parser.add_argument(
        "--checksum-when-required",
        action="store_true",
        help="botocore request/response checksums only where required (stores without aws-chunked support)",
    )
    parser.add_argument("--key-env", default="AIRFLOW_OPS_EXPORT_KEY", help="env var holding the export key")
    parser.add_argument("--key-file", help="file holding the export key (instead of --key-env)")
    parser.add_argument(
        "--target-db-url",
        help="target metadata DB (default AIRFLOW__DATABASE__SQL_ALCHEMY_CONN; prefer the env var "
        "when the URL holds a password, since argv is visible in ps)",
    )
    parser.add_argument(
        "--target-fernet-key-env",
        default="AIRFLOW__CORE__FERNET_KEY",
        help="env var holding the target's fernet key",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the diff against the target and what would be imported or replaced, import nothing",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing entries that differ (listed before the import; see them with --dry-run)",
    )
    parser.add_argument("--allow-plaintext", action="store_true", help="accept an unencrypted export")
    parser.add_argument("--airflow-bin", default=str(Path(sys.executable).parent / "airflow"))
    args = parser.parse_args(argv)
    if args.target_db_url:
        from sqlalchemy.engine import make_url

        try:
            password = make_url(args.target_db_url).password
        except Exception:  # refused with one line by target_from_url below
            password = None
        if isinstance(password, str) and password:
            warn_password_flag(
                "the password in --target-db-url", password, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
            )

    try:
        key = load_key(args)
        export, meta = decrypt_export(
            fetch(args.source, args.endpoint_url, args.checksum_when_required), key, args.allow_plaintext
        )
        print(
            f"export {args.source}: {len(export.variables)} variables, {len(export.connections)} connections "
            f"(logical date {meta.get('logical_date', '?')}, run {meta.get('run_id', '?')})"
        )
        url = args.target_db_url or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        if not url:
            raise RestoreError("no target: pass --target-db-url or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        target = target_from_url(url)
        fernet_key = os.environ.get(args.target_fernet_key_env) or None
        plan = plan_restore(export, read_snapshot(target, fernet_key, "target"))
        print(f"target {target!r}:")
        print_plan(plan, args.overwrite, args.dry_run)
        if args.dry_run:
            print("dry run: nothing imported")
            return 0
        pick = {k: plan.new[k] + (plan.changed[k] if args.overwrite else []) for k in plan.new}
        subset = Snapshot(
            variables={k: export.variables[k] for k in pick["variables"]},
            connections={c: export.connections[c] for c in pick["connections"]},
        )
        if subset.variables or subset.connections:
            airflow_bin = args.airflow_bin if Path(args.airflow_bin).exists() else "airflow"
            run_import(subset, url, fernet_key, args.overwrite, airflow_bin)
        after = read_snapshot(target, fernet_key, "target")
        wrong = [f"variable {k}" for k, v in subset.variables.items() if after.variables.get(k) != v]
        wrong += [f"connection {c}" for c, v in subset.connections.items() if after.connections.get(c) != v]
        if wrong:
            raise RestoreError(f"{len(wrong)} entries differ after import: {', '.join(wrong[:20])}")
        skipped = sum(len(v) for v in plan.changed.values()) if not args.overwrite else 0
        print(
            f"imported and verified {len(subset.variables)} variables, {len(subset.connections)} connections"
            + (f"; {skipped} differing entries left unchanged (use --overwrite)" if skipped else "")
        )
        return 0
    except ExportCryptoError as exc:
        print(f"error: {one_line(str(exc))}; nothing was imported", file=sys.stderr)
        return 2
    except AirflowOpsError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
