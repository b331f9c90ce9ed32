"""The configuration a deployment runs with, read by the target release.

Two findings: what ``airflow config lint`` of the target release reports (options removed or
renamed in Airflow 3), and the options of the file that the current release knows and the target
release no longer does (read from each release's own configuration description).
"""

from __future__ import annotations

import configparser
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_ops.redact import redact

#: prints the release's known ``section.option`` names (core and providers) as a JSON list
_KNOWN = (
    "import json\n"
    "from airflow.configuration import conf\n"
    "try:\n"
    "    conf.load_providers_configuration()\n"
    "except Exception:\n"
    "    pass\n"
    "print(json.dumps(sorted(f'{s}.{o}' for s, v in conf.configuration_description.items()"
    " for o in (v.get('options') or {}))))\n"
)


@dataclass
class ConfigFindings:
    path: str
    lint: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "lint": self.lint, "removed": self.removed, "error": self.error}


def file_options(path: Path) -> set[str]:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.read(path)
    return {f"{s}.{o}" for s in parser.sections() for o in parser.options(s)}


def known_options(python: str, env: dict[str, str]) -> set[str]:
    proc = subprocess.run(
        [python, "-c", _KNOWN], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"cannot read the release's configuration options: {redact(tail)}")
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def lint(airflow: str, cfg: Path, env: dict[str, str]) -> list[str]:
    """The issues ``airflow config lint`` prints for ``cfg`` (one string each)."""
    run_env = {**env, "AIRFLOW_CONFIG": str(cfg), "COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run(
        [airflow, "config", "lint"], capture_output=True, text=True, env=run_env, timeout=300, check=False
    )
    if proc.returncode != 0:
        tail = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"airflow config lint exited {proc.returncode}: {redact(tail)}")
    return [
        redact(line.strip()[2:].strip()) for line in proc.stdout.splitlines() if line.strip().startswith("- ")
    ]


def check_config(
    cfg: Path,
    target_airflow: str,
    target_python: str,
    target_env: dict[str, str],
    current_python: str,
    current_env: dict[str, str],
) -> ConfigFindings:
    findings = ConfigFindings(str(cfg))
    try:
        findings.lint = lint(target_airflow, cfg, target_env)
        mine = file_options(cfg)
        before = known_options(current_python, current_env)
        after = known_options(target_python, target_env)
        findings.removed = sorted((mine & before) - after)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
        findings.error = redact(str(exc))
    return findings
