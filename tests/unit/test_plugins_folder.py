"""Airflow's own plugin walk over the real plugins/ folder executes only the plugin entry module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

REPO = Path(__file__).parents[2]

WALK = """
import json, sys
before = set(sys.modules)
try:  # 3.2+
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory
    plugins, errors = _load_plugins_from_plugin_directory(
        plugins_folder=sys.argv[1], ignore_file_syntax="glob"
    )
except ImportError:  # 3.1: the same walk over [core] plugins_folder, into module globals
    import os
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = sys.argv[1]
    from airflow import plugins_manager as pm
    from airflow.configuration import conf
    conf.set("core", "plugins_folder", sys.argv[1])
    pm.settings.PLUGINS_FOLDER = sys.argv[1]
    pm.plugins, pm.import_errors, pm.loaded_plugins = [], {}, set()
    before = set(sys.modules)
    pm.load_plugins_from_plugin_directory()
    plugins, errors = pm.plugins, pm.import_errors
new = sorted(m for m in set(sys.modules) - before if m.startswith(("airflow_ops", "localenv", "cfgrender",
    "generator", "report", "settings", "health", "__init__")))
print(json.dumps({"plugins": [p.name for p in plugins], "errors": errors, "new": new}))
"""


def _walk(folder: Path) -> dict[str, object]:
    import json

    out = subprocess.run(
        [sys.executable, "-c", WALK, str(folder)], capture_output=True, text=True, check=True, cwd="/"
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_plugin_walk_executes_only_the_entry_module() -> None:
    result = _walk(REPO / "plugins")
    assert result["errors"] == {}
    assert result["plugins"] == ["airflow_ops"]
    # The entry module and the plugin module run; nothing else of the runtime package does.
    assert result["new"] == ["airflow_ops", "airflow_ops.plugin", "airflow_ops_plugin"]


def test_without_the_ignore_file_the_walk_would_execute_the_package(tmp_path: Path) -> None:
    """Guards the guard: the .airflowignore is what keeps the loader out of airflow_ops/."""
    import shutil

    copy = tmp_path / "plugins"
    shutil.copytree(REPO / "plugins", copy, ignore=shutil.ignore_patterns("__pycache__", ".airflowignore"))
    result = _walk(copy)
    assert len(result["new"]) > 10  # type: ignore[arg-type]


def test_the_plugins_folder_holds_runtime_code_only() -> None:
    names = {p.name for p in (REPO / "plugins").iterdir() if p.name != "__pycache__"}
    assert names == {".airflowignore", "airflow_ops_plugin.py", "airflow_ops"}
    runtime = {p.stem for p in (REPO / "plugins" / "airflow_ops").glob("*.py")}
    assert not runtime & {"localenv", "cfgrender", "generator", "settings", "cli"}


def test_a_whole_repository_sync_parses_only_dags() -> None:
    """git-sync of the whole repository into a dags folder: every other folder with Python is ignored."""
    ignored = {
        line.strip().removesuffix("/**")
        for line in (REPO / ".airflowignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    with_python = {
        p.name
        for p in REPO.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != "dags" and any(p.rglob("*.py"))
    }
    assert with_python <= ignored, with_python - ignored
