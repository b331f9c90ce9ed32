"""Render airflow.cfg.template into an airflow.cfg for the local, celery or kubernetes profile.

Values come from AIRFLOW_OPS_* environment variables (defaults in the template; `--list` prints them).
Refuses, before writing anything, a bad profile, missing values, SQLite with a non-Local executor and
weak or placeholder secrets outside the local profile. Never replaces an existing file without --force,
and keeps a timestamped backup when it does.

  scripts/render_cfg.py --profile celery --out $AIRFLOW_HOME/airflow.cfg
  scripts/render_cfg.py --profile kubernetes --stdout
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from airflow_ops_tools.cfgrender import (
    PROFILES,
    RenderRefused,
    is_unchanged,
    render,
    validate_profiles,
    write_config,
    write_passwords_file,
)
from airflow_ops_tools.contract import Parser, one_line, run
from airflow_ops_tools.paths import ROOT

K8S_PROVIDER_KEYS = ROOT / "tests" / "fixtures" / "cncf_kubernetes_config_keys.json"


def main(argv: list[str] | None = None) -> int:
    return run("render-cfg", _main, argv)


def _main(argv: list[str] | None) -> int:
    parser = Parser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, command="render-cfg"
    )
    parser.add_argument(
        "--profile",
        default=os.environ.get("AIRFLOW_OPS_PROFILE", "local"),
        help=f"one of {', '.join(PROFILES)} (default: $AIRFLOW_OPS_PROFILE or local)",
    )
    parser.add_argument("--template", type=Path, default=ROOT / "airflow.cfg.template")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, help="file to write (default: $AIRFLOW_HOME/airflow.cfg)")
    target.add_argument("--stdout", action="store_true", help="print the rendered file instead of writing it")
    parser.add_argument("--force", action="store_true", help="replace an existing file (a backup is kept)")
    parser.add_argument(
        "--list", action="store_true", help="list the variables the profile reads, with defaults"
    )
    parser.add_argument(
        "--passwords-file",
        type=Path,
        help="also write SimpleAuthManager's passwords file for the admin from AIRFLOW_OPS_ADMIN_PASSWORD",
    )
    parser.add_argument(
        "--no-run-secret-cmds",
        action="store_true",
        help="do not run *_CMD commands to check the secrets they print (e.g. rendering off the target host)",
    )
    parser.add_argument(
        "--validate-all",
        action="store_true",
        help="render every profile with throwaway strong secrets, run `airflow config lint` on each and "
        "check every section/option against Airflow's config schema; exit 1 on any finding",
    )
    args = parser.parse_args(argv)
    if args.validate_all:
        return _validate_all()

    try:
        rendered = render(
            args.profile, os.environ, args.template, run_secret_cmds=not args.no_run_secret_cmds
        )
    except RenderRefused as exc:
        if args.list and args.profile in PROFILES:
            print(
                f"note: the current environment is incomplete for '{args.profile}': {one_line(str(exc))}",
                file=sys.stderr,
            )
            rendered = None
        else:
            print(f"error: {one_line(str(exc))}", file=sys.stderr)
            return 2
    if args.list:
        listing = render(args.profile, _listing_env(), args.template, run_secret_cmds=False)
        for var in listing.variables:
            default = {
                "secret": "(secret: NAME, NAME_CMD or NAME_SECRET)",
                "admin": "(admin password for the init step; never written to airflow.cfg)",
            }.get(var.kind, var.default)
            print(f"{var.name:48} {default if default is not None else '(required)'}")
        return 0
    assert rendered is not None
    for warning in rendered.warnings:
        print(f"warning: {one_line(warning)}", file=sys.stderr)
    if args.stdout:
        sys.stdout.write(rendered.text)
        return 0
    out = args.out or Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))) / "airflow.cfg"
    try:
        unchanged = is_unchanged(rendered, out)
        backup = write_config(rendered, out, force=args.force)
        if args.passwords_file:
            write_passwords_file(os.environ, args.passwords_file)
    except RenderRefused as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or out
        print(
            f"error: cannot write {where}: {exc.strerror or exc}; pass --out (or --passwords-file) "
            "with a path in a directory you can write",
            file=sys.stderr,
        )
        return 2
    if backup:
        print(f"kept the previous file as {backup}", file=sys.stderr)
    if unchanged:
        print(
            f"unchanged {out} (profile {rendered.profile}): it already holds this rendering", file=sys.stderr
        )
    else:
        print(
            f"wrote {out} (profile {rendered.profile}); restart the Airflow components to apply it",
            file=sys.stderr,
        )
    if args.passwords_file:
        print(f"wrote {args.passwords_file} (mode 0600)", file=sys.stderr)
    return 0


def _validate_all() -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="airflow-ops-cfg-") as tmp:
        results = validate_profiles(Path(tmp), K8S_PROVIDER_KEYS)
    for profile, findings in results.items():
        print(f"{profile}: {'ok' if not findings else f'{len(findings)} finding(s)'}")
        for finding in findings:
            print(f"  - {finding}")
    return 1 if any(results.values()) else 0


def _listing_env() -> dict[str, str]:
    """An environment that satisfies every check, so that the listing walks the whole template."""
    from cryptography.fernet import Fernet

    strong = "Zq8vR3nT6wK1pL5mX9cB2hJ7dF4gS0aY"
    return {
        "AIRFLOW_OPS_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_OPS_SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow@postgres:5432/airflow",
        "AIRFLOW_OPS_API_SECRET_KEY": strong,
        "AIRFLOW_OPS_JWT_SECRET": strong,
        "AIRFLOW_OPS_ADMIN_PASSWORD": strong,
        "AIRFLOW_OPS_CELERY_BROKER_URL": "redis://redis:6379/0",
        "AIRFLOW_OPS_CELERY_RESULT_BACKEND": "db+postgresql://airflow@postgres:5432/airflow",
    }


if __name__ == "__main__":
    sys.exit(main())
