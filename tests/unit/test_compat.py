"""The one seam between releases: each difference it handles, detected on the Airflow installed here.

``make test-compat`` runs this module under the newest patch of every supported minor, so the table
below (worked out by hand from each release) is checked against 3.1, 3.2 and 3.3 alike.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_ops import compat

REPO = Path(__file__).parents[2]
HERE = "{}.{}".format(*compat.minor(compat.airflow_version()))

#: Every difference the seam handles -> the minors that have the capability.
EXPECTED = {
    "sdk_exceptions": {"3.2", "3.3"},
    "sdk_conf": {"3.2", "3.3"},
    "sdk_stats": {"3.2", "3.3"},
    "stats_functions": {"3.3"},
    "callback_module": {"3.2", "3.3"},
    "deadline_name": {"3.3"},
    "dagbag_module": {"3.2", "3.3"},
    "db_clean_error_flag": {"3.2", "3.3"},
    "state_store_clean": {"3.3"},
    "nav_top_level": {"3.3"},
}


def test_the_seam_lists_every_difference_once() -> None:
    names = [d.name for d in compat.DIFFERENCES]
    assert sorted(names) == sorted(EXPECTED) and len(set(names)) == len(names)
    for d in compat.DIFFERENCES:
        assert {m for m in compat.SUPPORTED_MINORS if compat.minor(m) >= compat.minor(d.since)} == EXPECTED[
            d.name
        ]


def test_each_capability_is_detected_as_this_release_has_it() -> None:
    assert HERE in compat.SUPPORTED_MINORS
    assert compat.capabilities() == {name: HERE in minors for name, minors in EXPECTED.items()}


def test_degraded_names_exactly_what_this_release_lacks() -> None:
    lacking = [name for name, minors in EXPECTED.items() if HERE not in minors]
    lines = compat.degraded()
    assert len(lines) == len(lacking)
    for line in lines:
        assert "needs Airflow 3." in line


def test_the_names_that_moved_resolve_here() -> None:
    assert issubclass(compat.fail_exception(), Exception)
    assert issubclass(compat.not_found_exception(), Exception)
    assert compat.conf().get("core", "dags_folder")
    assert compat.dagbag_class().__name__ == "DagBag"


def test_the_stats_facade_reaches_airflows_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The facade calls the release's metric object with keyword tags (3.2 would drop module calls)."""
    sent: list[tuple[str, object, dict[str, str]]] = []

    class Recorder:
        def incr(self, name: str, count: int, *, tags: dict[str, str]) -> None:
            sent.append(("incr", count, tags))

        def gauge(self, name: str, value: float, *, tags: dict[str, str]) -> None:
            sent.append(("gauge", value, tags))

        def timing(self, name: str, value: dt.timedelta, *, tags: dict[str, str]) -> None:
            sent.append(("timing", value, tags))

    facade = compat.stats()
    monkeypatch.setattr(facade, "_target", Recorder())
    facade.incr("a", 2, tags={"k": "v"})
    facade.gauge("b", 1.5)
    facade.timing("c", dt.timedelta(seconds=1))
    assert sent == [("incr", 2, {"k": "v"}), ("gauge", 1.5, {}), ("timing", dt.timedelta(seconds=1), {})]
    # And the real target is the release's own facade, with the three calls.
    real = compat.stats()._target
    assert all(callable(getattr(real, f, None)) for f in ("incr", "gauge", "timing"))


def test_a_deadline_alert_builds_on_this_release() -> None:
    async def cb(**_: object) -> None:
        return None

    alert = compat.deadline_alert("queued_at", dt.timedelta(minutes=5), cb, {"x": 1}, "d deadline")
    assert alert.interval == dt.timedelta(minutes=5)
    assert (getattr(alert, "name", None) == "d deadline") is (HERE == "3.3")


@pytest.mark.parametrize(
    ("version", "ok"),
    [("3.0.6", False), ("2.11.0", False), ("3.1.0", True), ("3.3.2", True), ("4.0.0", True)],
)
def test_the_minimum_release_check(version: str, ok: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "airflow_version", lambda: version)
    if ok:
        compat.require_supported_airflow()
    else:
        with pytest.raises(
            ImportError, match=rf"^airflow-ops needs Apache Airflow >= 3\.1 \(found {version}\)$"
        ):
            compat.require_supported_airflow()


@pytest.mark.process
def test_the_seam_is_the_only_place_that_names_release_specific_modules() -> None:
    """No ``try: import`` or moved name outside compat: the rest of the package calls the seam."""
    moved = (
        "airflow.sdk.exceptions",
        "airflow.sdk.configuration",
        "airflow.sdk.observability",
        "airflow.sdk.definitions.callback",
        "airflow.sdk.definitions.deadline",
        "airflow.dag_processing.dagbag",
        "airflow.models.dagbag",
        "airflow.stats",
        "--error-on-cleanup-failure",
    )
    out = subprocess.run(
        ["grep", "-rlF", *[arg for m in moved for arg in ("-e", m)], "plugins", "tools"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    files = {f for f in out.stdout.split() if f.endswith(".py")}
    assert files == {"plugins/airflow_ops/compat.py"}, files
    assert sys.version_info >= (3, 11)
