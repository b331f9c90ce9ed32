"""Render config/*.yml into dags/*.py. ``--check`` exits 1 when dags/ has drifted.

A generated DAG file whose config is not in --config-dir is listed and left in place; only
``--prune`` deletes it (``make generate`` passes it for the repository's own config/), and it
refuses a --config-dir that is missing or holds no config: a mistyped path would otherwise delete
every generated DAG. Every file is named before it is written or deleted; ``--dry-run`` stops there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from airflow_ops_tools.contract import Parser, UsageError, run
from airflow_ops_tools.generator import config_files, render_all, stale_files
from airflow_ops_tools.paths import ROOT


def _directory(flag: str, path: Path, *, must_exist: bool) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a directory: pass the directory")
    if must_exist and not path.is_dir():
        raise UsageError(f"{flag} {path} does not exist: check the path")


def _main(argv: list[str] | None) -> int:
    parser = Parser(description=__doc__, command="generate")
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    parser.add_argument("--dags-dir", type=Path, default=ROOT / "dags")
    parser.add_argument("--check", action="store_true", help="only report drift; write nothing")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete generated DAG files in --dags-dir that have no config in --config-dir "
        "(without it they are listed and kept; refused when --config-dir is missing or empty)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be written and deleted; change nothing"
    )
    args = parser.parse_args(argv)
    _directory("--config-dir", args.config_dir, must_exist=True)
    _directory("--dags-dir", args.dags_dir, must_exist=False)
    if args.prune and not config_files(args.config_dir):
        raise UsageError(
            f"--config-dir {args.config_dir} holds no *.yml config, so --prune would delete every "
            "generated DAG in --dags-dir: check the path (nothing was deleted)"
        )
    rendered = render_all(args.config_dir, args.dags_dir, ROOT)
    differ, orphans = stale_files(rendered, args.dags_dir)
    if args.check:
        for path in differ:
            print(f"drift: {path} differs from what {path.stem} config renders; run `make generate`")
        for path in orphans:
            print(
                f"drift: {path} was generated but its config is gone; run `make generate` "
                "(which deletes it: airflow-ops generate --prune)"
            )
        return 1 if differ or orphans else 0
    would = "would " if args.dry_run else ""
    if not args.dry_run:
        args.dags_dir.mkdir(parents=True, exist_ok=True)
    for r in rendered:
        if r.dag_path in differ:
            print(f"{would}write {r.dag_path}")
            if not args.dry_run:
                r.dag_path.write_text(r.text)
    for path in orphans:
        if args.prune:
            print(f"{would}remove {path} (generated; no config in {args.config_dir})")
            if not args.dry_run:
                path.unlink()
        else:
            print(
                f"kept {path}: generated, but no config in {args.config_dir} renders it; "
                "pass --prune to delete it",
                file=sys.stderr,
            )
    if args.dry_run:
        print("dry run: nothing was written or deleted")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run("generate", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
