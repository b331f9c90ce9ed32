"""Which directories a log cleanup may touch, and the refusal of dangerous ones."""

from __future__ import annotations

import contextlib
import os
import pwd
from dataclasses import dataclass

from airflow_ops.exceptions import AirflowOpsError

#: System directories that are never a log root (nor the parent of one we would walk).
SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",  # noqa: S108 - a path we refuse, not use
        "/usr",
        "/usr/local",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",  # noqa: S108 - a path we refuse, not use
    }
)


#: System trees: neither they nor anything inside them is ever a log root (``/usr/lib``, ``/etc/ssl``,
#: ``/var/lib/postgresql``...). The directories above (``/opt``, ``/var/log``, ``/tmp``) only refuse
#: themselves: ``/opt/airflow/logs`` and ``/var/log/airflow`` are where logs live.
SYSTEM_TREES = frozenset(
    {
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/proc",
        "/sbin",
        "/snap",
        "/sys",
        "/usr",
        "/var/cache",
        "/var/lib",
        "/var/mail",
        "/var/spool",
    }
)


def system_dir_problem(path: str) -> str | None:
    """Why ``path`` (absolute) can never be a log root, or None. Symlinks are resolved first, and the
    lexical path is checked too, so neither ``/usr/lib/../lib`` nor a link into ``/etc`` gets through."""
    for candidate in dict.fromkeys((os.path.normpath(path), os.path.realpath(path))):
        if candidate in SYSTEM_DIRS:
            return f"it is the system directory {candidate!r}"
        for tree in SYSTEM_TREES:
            if _inside(candidate, tree):
                return f"it is inside the system directory {tree!r} ({candidate!r})"
    return None


class DangerousRootError(AirflowOpsError):
    """A log root would put files other than logs at risk (``/``, a home, the dags folder...)."""


@dataclass(frozen=True)
class LogRoot:
    """One directory to clean. ``dag_layout``: first level is ``dag_id=<id>`` (task logs)."""

    label: str
    path: str
    dag_layout: bool = False
    #: Where the path came from, for error messages (``[logging] base_log_folder``, ``extra_roots[0]``).
    source: str = ""


def home_directories() -> set[str]:
    homes = {os.path.realpath(os.path.expanduser("~"))}
    with contextlib.suppress(OSError):
        homes |= {os.path.realpath(p.pw_dir) for p in pwd.getpwall() if p.pw_dir not in ("", "/")}
    return homes


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def check_root(root: LogRoot, protected: dict[str, str], homes: set[str] | None = None) -> str:
    """Return the resolved path of ``root`` or raise :class:`DangerousRootError` saying why and how to fix.

    This is the check that counts: it runs on the worker, against the paths as they are there, before
    anything is deleted. A missing root passes (the sweep reports it as missing); a file does not.
    ``protected`` maps a description (``[core] dags_folder``) to a path that must be neither the
    root, inside it, nor contain it.
    """
    fix = f"set {root.source or root.label} to the directory that holds only Airflow logs"
    raw = root.path
    if not raw or not os.path.isabs(raw):
        raise DangerousRootError(f"log root {raw!r} ({root.source}) is not an absolute path; {fix}")
    real = os.path.realpath(raw)
    system = system_dir_problem(raw)
    if system:
        raise DangerousRootError(f"refusing log root {raw!r} ({root.source}): {system}; {fix}")
    if os.path.lexists(real) and not os.path.isdir(real):
        raise DangerousRootError(f"refusing log root {raw!r} ({root.source}): it is not a directory; {fix}")
    for home in homes if homes is not None else home_directories():
        if real == home or _inside(home, real):
            raise DangerousRootError(
                f"refusing log root {raw!r} ({root.source}): it is or contains the home directory "
                f"{home!r}; {fix}"
            )
    for what, path in protected.items():
        if not path:
            continue
        p = os.path.realpath(path)
        if _inside(real, p) or _inside(p, real):
            raise DangerousRootError(
                f"refusing log root {raw!r} ({root.source}): it overlaps the {what} {p!r}; {fix}"
            )
    return real


def airflow_roots(task_logs: bool, dag_processor_logs: bool, extra_roots: list[str]) -> list[LogRoot]:
    """The roots from the Airflow configuration of *this* worker, read at run time, plus extras."""
    from airflow_ops import compat

    conf = compat.conf()

    roots: list[LogRoot] = []
    if task_logs:
        roots.append(
            LogRoot(
                "task-logs",
                str(conf.get("logging", "base_log_folder")),
                dag_layout=True,
                source="[logging] base_log_folder",
            )
        )
    if dag_processor_logs:
        roots.append(
            LogRoot(
                "dag-processor",
                str(conf.get("logging", "dag_processor_child_process_log_directory")),
                source="[logging] dag_processor_child_process_log_directory",
            )
        )
    for i, path in enumerate(extra_roots):
        roots.append(LogRoot(f"extra-{i}", path, source=f"extra_roots[{i}]"))
    return roots


def protected_paths() -> dict[str, str]:
    from airflow_ops import compat

    conf = compat.conf()

    return {
        "[core] dags_folder": str(conf.get("core", "dags_folder", fallback="") or ""),
        "[core] plugins_folder": str(conf.get("core", "plugins_folder", fallback="") or ""),
    }
