"""`pip install .` gives the runtime library, the tools and one `airflow-ops` command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parents[2]
UV = REPO / ".tools" / "bin" / "uv"


def test_the_wheel_installs_the_library_and_the_command(tmp_path: Path) -> None:
    subprocess.run([str(UV), "build", "-q", "--wheel", "--out-dir", str(tmp_path), str(REPO)], check=True)
    [wheel] = tmp_path.glob("airflow_ops-*.whl")
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
