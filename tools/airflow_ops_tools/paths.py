"""Where the tools find the project: the checkout they live in, else the current directory."""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
#: The repository root (``config/``, ``dags/``, ``airflow.cfg.template``): the checkout this package
#: lives in, or the working directory when the package is installed elsewhere.
ROOT = _CHECKOUT if (_CHECKOUT / "airflow.cfg.template").is_file() else Path.cwd()
