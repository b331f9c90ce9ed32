"""``airflow-ops``: one command for the bundle's tools.

airflow-ops generate        render config/*.yml into dags/*.py (--check: fail on drift)
airflow-ops render-cfg      render airflow.cfg for a profile (local, celery, kubernetes)
airflow-ops probe           external health probe (exit 0 ok, 1 warning, 2 critical)
airflow-ops restore-backup  list or restore a metadata DB backup
airflow-ops restore-export  restore a Variables/Connections export
airflow-ops rehearse-upgrade
                            replay an Airflow upgrade on a verified backup: migration, locks, DAGs, config
airflow-ops docs            write the generated sections of README.md and docs/ (--check: fail on drift;
                            `readme` is the same command's former name)
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from airflow_ops.compat import quiet_airflow_import

quiet_airflow_import()  # before any subcommand imports Airflow

from airflow_ops_tools import (  # noqa: E402
    generate,
    probe,
    readme,
    render_cfg,
    restore_backup,
    restore_export,
)
from airflow_ops_tools.contract import say  # noqa: E402
from airflow_ops_tools.rehearse import cli as rehearse_upgrade  # noqa: E402

COMMANDS: dict[str, Callable[[list[str] | None], int]] = {
    "generate": generate.main,
    "render-cfg": render_cfg.main,
    "probe": probe.main,
    "restore-backup": restore_backup.main,
    "restore-export": restore_export.main,
    "rehearse-upgrade": rehearse_upgrade.main,
    "docs": readme.main,
    "readme": readme.main,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        say(f"airflow-ops: unknown command {args[0]!r}; one of: {', '.join(COMMANDS)}")
        return 2
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
