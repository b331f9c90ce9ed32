"""Find pg_dump / pg_restore binaries whose major version can handle the server's."""

from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from airflow_ops.backup.errors import PgToolVersionError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class PgTool:
    name: str
    path: str
    major: int
    version: str


def tool_version(path: str) -> PgTool:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    match = _VERSION.search(out)
    if not match:
        raise PgToolVersionError(f"cannot read the version of {path} (it printed {out.strip()!r})")
    major, minor = match.group(1), match.group(2)
    return PgTool(Path(path).name, path, int(major), f"{major}.{minor}" if minor else major)


def installed_tools(name: str, search: list[str]) -> list[PgTool]:
    """Every distinct executable ``name`` found under the ``search`` globs, oldest major first."""
    seen: set[str] = set()
    tools: list[tuple[int, PgTool]] = []
    for order, pattern in enumerate(search):
        for directory in sorted(glob.glob(pattern)):
            candidate = os.path.join(directory, name)
            real = os.path.realpath(candidate)
            if real in seen or not os.access(candidate, os.X_OK) or os.path.isdir(candidate):
                continue
            if os.path.basename(real) == "pg_wrapper":  # Debian's dispatcher: its version varies per cluster
                continue
            seen.add(real)
            try:
                tools.append((order, tool_version(candidate)))
            except (OSError, subprocess.SubprocessError, PgToolVersionError):
                continue
    return [tool for _, tool in sorted(tools, key=lambda t: (t[1].major, t[0], t[1].path))]


def select_tool(name: str, server_major: int, search: list[str]) -> PgTool:
    """The oldest installed ``name`` whose major version is >= ``server_major``."""
    tools = installed_tools(name, search)
    for tool in tools:
        if tool.major >= server_major:
            return tool
    found = ", ".join(f"{t.path} ({t.version})" for t in tools) or "none"
    raise PgToolVersionError(
        f"{name} must be PostgreSQL {server_major} or newer to dump a PostgreSQL {server_major} server, "
        f"but the {name} binaries found under {', '.join(search)} are: {found}. Fix: install "
        f"postgresql-client-{server_major} (or newer) on the workers "
        f"(Debian/Ubuntu: apt-get install postgresql-client-{server_major} from apt.postgresql.org), "
        f"or add its bin directory to pg_bin_dirs in the DAG's config."
    )
