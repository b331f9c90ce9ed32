"""`pip install .` gives the runtime library, the tools and one `airflow-ops` command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parents[2]
UV = REPO / ".tools" / "bin" / "uv"


def _build_wheel(out: Path) -> Path:
    """Build the wheel from a copy of the sources: setuptools writes an ``*.egg-info`` next to the
    packages it builds, and one inside the checkout's plugins/ (on every Airflow process's path) would
    make the checkout look pip-installed to the plugins-folder entry."""
    import shutil

    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("plugins", "tools"):
        shutil.copytree(
            REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    subprocess.run([str(UV), "build", "-q", "--wheel", "--out-dir", str(out), str(src)], check=True)
    [wheel] = out.glob("airflow_ops-*.whl")
    return wheel


def test_the_wheel_installs_the_library_and_the_command(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "airflow_ops/registry.py" in names and "airflow_ops_tools/cli.py" in names
    assert "airflow_ops_tools/templates/dag_file.py.j2" in names
    assert all(f"airflow_ops/kinds/{k}/doc.md.j2" in names for k in ("health_probe", "db_cleanup"))
    assert not any(n.startswith(("tests/", "airflow_ops/localenv")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "airflow-ops = airflow_ops_tools.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    # Installed alone (no checkout on the path), the command runs from the installed files.
    target = tmp_path / "site"
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, airflow_ops_tools; print(airflow_ops_tools.__file__); "
            "from airflow_ops_tools.cli import main; sys.exit(main(['--help']))",
        ],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "restore-export" in out.stdout
    assert out.stdout.splitlines()[0].startswith(str(target))
    assert (target / "bin" / "airflow-ops").is_file()


def test_pip_install_into_an_airflow_environment_registers_the_plugin_and_generates_dags(
    tmp_path: Path,
) -> None:
    """The image path: a fresh venv with only Airflow, its providers and the built wheel (no checkout on
    the path, no plugins folder). The Maintenance page registers through the ``airflow.plugins`` entry
    point, ``airflow-ops generate`` writes DAG files into the user's own folder, and they import."""
    import json
    import os
    import re

    wheel = _build_wheel(tmp_path)
    lock = (REPO / "requirements" / "lock-3.3.txt").read_text()
    airflow = re.search(r"^apache-airflow==(\S+)", lock, re.M).group(1)  # type: ignore[union-attr]
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(lock)
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "--constraint",
            str(constraints),
            f"apache-airflow[celery,postgres,amazon,smtp,statsd]=={airflow}",
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    home, dags, empty = tmp_path / "home", tmp_path / "my_dags", tmp_path / "no_plugins"
    empty.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(empty),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    assert "PYTHONPATH" not in env

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)

    plugins = run(str(venv / "bin" / "airflow"), "plugins", "--output", "json")
    assert plugins.returncode == 0, plugins.stderr[-2000:]
    [ours] = [p for p in json.loads(plugins.stdout) if p["name"] == "airflow_ops"]
    assert "airflow_ops.plugin" in json.dumps(ours) and "Maintenance" in json.dumps(ours)

    gen = run(
        str(venv / "bin" / "airflow-ops"),
        "generate",
        "--config-dir",
        str(REPO / "config"),
        "--dags-dir",
        str(dags),
    )
    assert gen.returncode == 0, gen.stderr
    assert sorted(p.stem for p in dags.glob("*.py")) == sorted(p.stem for p in (REPO / "dags").glob("*.py"))

    bag = run(
        str(venv / "bin" / "python"),
        "-c",
        "import json, sys, airflow_ops; from airflow_ops.compat import dagbag_class; "
        f"b = dagbag_class()(dag_folder={str(dags)!r}); "
        "print(json.dumps([airflow_ops.__file__, sorted(b.dag_ids), b.import_errors]))",
    )
    assert bag.returncode == 0, bag.stderr[-2000:]
    location, dag_ids, errors = json.loads(bag.stdout.strip().splitlines()[-1])
    assert location.startswith(str(venv)) and not location.startswith(str(REPO)), location
    assert errors == {} and len(dag_ids) == len(list(dags.glob("*.py")))
    assert os.access(venv / "bin" / "airflow-ops", os.X_OK)
