"""Render config/*.yml into dags/*.py. ``--check`` exits 1 when dags/ has drifted.

A generated DAG file whose config is not in --config-dir is listed and left in place; only
``--prune`` deletes it (``make generate`` passes it for the repository's own config/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_ops.exceptions import ConfigError
from airflow_ops_tools.generator import render_all, stale_files
from airflow_ops_tools.paths import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    parser.add_argument("--dags-dir", type=Path, default=ROOT / "dags")
    parser.add_argument("--check", action="store_true", help="only report drift; write nothing")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete generated DAG files in --dags-dir that have no config in --config-dir "
        "(without it they are listed and kept)",
    )
    args = parser.parse_args(argv)
    try:
        rendered = render_all(args.config_dir, args.dags_dir, ROOT)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    args.dags_dir.mkdir(parents=True, exist_ok=True)
    for r in rendered:
        if r.dag_path in differ:
            r.dag_path.write_text(r.text)
            print(f"wrote {r.dag_path}")
    for path in orphans:
        if args.prune:
            path.unlink()
            print(f"removed {path} (no config in {args.config_dir})")
        else:
            print(
                f"kept {path}: generated, but no config in {args.config_dir} renders it; "
                "pass --prune to delete it",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
