"""Run inside a release's environment: import each DAG file with that release's DagBag.

``python dagbag_probe.py FOLDER`` prints one JSON object on stdout: ``{"airflow": version, "files":
{relative path: null | first line of the error}}``; ``imported N/M`` progress lines go to stderr.
Only the standard library, Airflow and ``airflow_ops.compat`` (the one seam for what moved between
releases, found through PYTHONPATH) are imported here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys


def _first_line(trace: str) -> str:
    """The exception line of a traceback (its last non-empty line), else its first."""
    lines = [ln.strip() for ln in str(trace).splitlines() if ln.strip()]
    if not lines:
        return "import failed"
    return lines[-1][:500]


def main(folder: str) -> int:
    import airflow

    from airflow_ops.compat import dagbag_class

    files = sorted(
        os.path.join(root, name)
        for root, dirs, names in os.walk(folder)
        for name in names
        if name.endswith(".py") and "__pycache__" not in root
    )
    dagbag_cls = dagbag_class()
    result: dict[str, str | None] = {}
    for n, path in enumerate(files, 1):
        with contextlib.redirect_stdout(io.StringIO()):  # a DAG file's prints stay out of the JSON
            bag = dagbag_cls(dag_folder=path)  # examples and safe mode: off in the environment
        errors = dict(bag.import_errors)
        rel = os.path.relpath(path, folder)
        result[rel] = _first_line(next(iter(errors.values()))) if errors else None
        print(f"imported {n}/{len(files)}", file=sys.stderr, flush=True)
    json.dump({"airflow": airflow.__version__, "files": result}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
