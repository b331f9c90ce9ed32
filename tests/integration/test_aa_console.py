"""The Maintenance page (issue 11 part 1) against the shared real Airflow: auth, seeded history, browser.

History is seeded through Airflow's own REST API (a DAG run per point with its ``report`` XCom,
marked success/failed through the API), next to one real run of ``ops_health_probe`` under the
real scheduler. The browser test drives Debian's headless Chromium with selenium: it logs in on
Airflow's login page, opens the Maintenance nav entry inside the UI, and reads the embedded page.

The file name sorts it before every other test of the shared Airflow: its seeded history must be
the newest there (a real backup run by another test would be newer than the seeded 5-day-old one).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.console_seed import (
    BACKUP,
    DBCLEAN,
    EXPORT,
    HEALTH,
    LOGS,
    REPORT_TASK,
    clone_runs,
    drop_clones,
    make_report,
    seed_run,
    set_paused,
)
from tests.harness import NOACCESS_USER, AirflowStack, wait_for

PAGE = "/maintenance/"


@dataclass
class Seeded:
    backup_runs: dict[str, float]  # run_id -> backup MB
    old_schema_run: str
    export_failed_run: str
    export_runs: dict[str, int]
    logs_no_xcom_run: str
    health_real_run: str
    health_real_report: Any


@pytest.fixture(scope="module")
def seeded(airflow: AirflowStack) -> Iterator[Seeded]:
    real = airflow.run_dag(HEALTH, timeout=300)  # a real run under the real scheduler first
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    for dag in (BACKUP, EXPORT, LOGS, DBCLEAN):
        set_paused(airflow, dag, True)  # seeded runs must not be picked up by the scheduler
    try:
        backups: dict[str, float] = {}
        for i, mb in enumerate((11.0, 12.5, 14.0, 15.5)):
            when = now - dt.timedelta(days=20 - 5 * i, minutes=i)  # the newest is 5 days old
            run = seed_run(
                airflow,
                BACKUP,
                when,
                backup_bytes=int(mb * 1e6),
                dump_seconds=4.0 + i,
                db_size_bytes=50_000_000,
                verified=True,
            )
            backups[run] = mb
        old = make_report(BACKUP, "x", now - dt.timedelta(days=2), backup_bytes=99_000_000)
        old["schema_version"] = 0
        old_run = seed_run(airflow, BACKUP, now - dt.timedelta(days=2), report=old)
        exports = {
            seed_run(airflow, EXPORT, now - dt.timedelta(days=d), changes=c): c for d, c in ((9, 3), (6, 5))
        }
        failed = seed_run(airflow, EXPORT, now - dt.timedelta(days=1), state="failed", changes=None)
        no_xcom = seed_run(airflow, LOGS, now - dt.timedelta(days=3), report=None)
        seed_run(
            airflow, LOGS, now - dt.timedelta(days=2), bytes_freed=3_000_000, free_bytes_min=40_000_000_000
        )
        for dag in (BACKUP, EXPORT, LOGS):
            set_paused(airflow, dag, False)
        real_report = airflow.xcom(HEALTH, real.run_id, REPORT_TASK[HEALTH], "report")
        yield Seeded(backups, old_run, failed, exports, no_xcom, real.run_id, real_report)
    finally:
        for dag in (BACKUP, EXPORT, LOGS, DBCLEAN):
            set_paused(airflow, dag, False)


def _token(airflow: AirflowStack, user: str, password: str) -> str:
    resp = requests.post(
        f"{airflow.base_url}/auth/token", json={"username": user, "password": password}, timeout=30
    )
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["access_token"])


def test_page_requires_an_authenticated_user_with_dag_read_access(airflow: AirflowStack) -> None:
    url = airflow.base_url + PAGE
    anonymous = requests.get(url, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    assert requests.get(airflow.base_url + "/maintenance/health", timeout=30).status_code == 401

    bogus = requests.get(url, headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
    assert bogus.status_code in (401, 403)

    no_role = _token(airflow, NOACCESS_USER, airflow.noaccess_password)
    forbidden = requests.get(url, headers={"Authorization": f"Bearer {no_role}"}, timeout=30)
    assert forbidden.status_code == 403, forbidden.text
    cookie_forbidden = requests.get(url, cookies={"_token": no_role}, timeout=30)
    assert cookie_forbidden.status_code == 403

    admin = _token(airflow, "admin", airflow.password)
    ok = requests.get(url, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
    assert ok.status_code == 200, ok.text
    # The UI's JWT cookie works too: that is what the embedded page gets.
    by_cookie = requests.get(url, cookies={"_token": admin}, timeout=60)
    assert by_cookie.status_code == 200
    assert 'id="attention"' in by_cookie.text
    # The release it runs on, read by the api-server itself (airflow_ops.compat), on every release.
    from airflow_ops.compat import airflow_version

    assert f'<span id="airflow-version">Airflow {airflow_version()}</span>' in by_cookie.text

    plugins = airflow.api().get("/api/v2/plugins")["plugins"]
    ops = next(p for p in plugins if p["name"] == "airflow_ops")
    assert any(v["name"] == "Maintenance" and v["href"] == PAGE for v in ops["external_views"])
    assert any(a["url_prefix"] == "/maintenance" for a in ops["fastapi_apps"])


def test_page_shows_seeded_history_without_secrets(airflow: AirflowStack, seeded: Seeded) -> None:
    admin = _token(airflow, "admin", airflow.password)
    resp = requests.get(airflow.base_url + PAGE, cookies={"_token": admin}, timeout=60)
    assert resp.status_code == 200
    html = resp.text
    queries = int(resp.headers["X-Ops-Queries"])
    assert 0 < queries <= 10, queries
    timing = dict(part.strip().split(";dur=") for part in resp.headers["Server-Timing"].split(","))
    assert set(timing) == {"page", "db", "render", "gc"} and float(timing["page"]) > 0, timing
    for run, mb in seeded.backup_runs.items():
        assert f'data-run="{run}" data-value="{mb:g}"' in html
    assert f'class="point nodata" data-run="{seeded.old_schema_run}"' in html
    assert f'class="point nodata" data-run="{seeded.logs_no_xcom_run}"' in html
    assert f"{EXPORT}: last run {seeded.export_failed_run} failed: upload: seeded failure" in html
    assert 'data-problem="backup_age"' in html  # newest verified backup is 5 days old (limit 36 h)
    assert f'data-dag="{DBCLEAN}" data-problem="paused"' in html
    # The real run's report (pushed by the probe whether it passes or fails), read back from its XCom.
    assert isinstance(seeded.health_real_report, dict), seeded.health_real_report
    verdict = "critical" if seeded.health_real_report["metrics"].get("critical") else None
    real_point = html.split(f'data-run="{seeded.health_real_run}" data-verdict="', 1)[1].split('"')[0]
    assert real_point in ("ok", "warning", "critical"), (real_point, seeded.health_real_report)
    assert verdict is None or real_point == verdict
    for secret in (airflow.password, airflow.noaccess_password, "ops-test-export-key-6f1c2b9e8d7a4c3b5e"):
        assert secret not in html
    assert "http://" not in html.replace(airflow.base_url, "") and "https://" not in html

    week = requests.get(airflow.base_url + PAGE + "?days=7", cookies={"_token": admin}, timeout=60)
    assert week.status_code == 200
    assert next(iter(seeded.backup_runs)) not in week.text  # 20 days old: outside a 7-day window
    assert int(week.headers["X-Ops-Queries"]) == queries  # bounded: independent of the runs shown
    bad = requests.get(airflow.base_url + PAGE + "?days=bogus", cookies={"_token": admin}, timeout=60)
    assert bad.status_code == 200


def ensure_chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver, installed when missing (never skipped)."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        subprocess.run([*sudo, "apt-get", "update", "-q"], check=False, timeout=600)
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], check=True, timeout=1200
        )
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium / chromedriver not installed"
    return chromium, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = ensure_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        opts.add_argument(arg)
    opts.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    drv = webdriver.Chrome(
        service=Service(driver, log_output=str(tmp_path / "chromedriver.log")), options=opts
    )
    drv.set_page_load_timeout(120)
    try:
        yield drv
    finally:
        drv.quit()


def test_maintenance_page_in_a_real_browser(
    airflow: AirflowStack, seeded: Seeded, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = airflow.base_url
    browser.get(base + "/")  # the UI sends an anonymous user to the login page
    user = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "input[name=username]"), 90, "login form")
    user.send_keys("admin")
    pw = browser.find_element(By.CSS_SELECTOR, "input[name=password]")
    pw.send_keys(airflow.password, Keys.ENTER)
    wait_for(lambda: any(c["name"] == "_token" for c in browser.get_cookies()), 60, "the UI's JWT cookie")

    # The nav entry inside the UI, rendering the plugin page in an iframe with the UI's cookie.
    browser.get(base + "/plugin/maintenance")
    frame = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "iframe"), 90, "embedded Maintenance page")
    assert PAGE in (frame.get_attribute("src") or "")
    browser.switch_to.frame(frame)
    attention = wait_for(lambda: browser.find_element(By.ID, "attention"), 60, "attention list")
    items = attention.find_elements(By.CSS_SELECTOR, "li.attention-item")
    texts = [i.text for i in items]
    assert any(seeded.export_failed_run in t and "failed" in t for t in texts), texts
    assert any(i.get_attribute("data-problem") == "paused" for i in items), texts
    assert any(i.get_attribute("data-problem") == "backup_age" for i in items), texts

    size = browser.find_element(By.ID, "chart-backup-size")
    values = {
        c.get_attribute("data-run"): float(c.get_attribute("data-value") or "nan")
        for c in size.find_elements(By.CSS_SELECTOR, "circle.point")
    }
    for run, mb in seeded.backup_runs.items():
        assert values.get(run) == pytest.approx(mb)
    assert size.find_elements(By.CSS_SELECTOR, f'.nodata[data-run="{seeded.old_schema_run}"]')
    changes = browser.find_element(By.ID, "chart-export-changes")
    assert {c.get_attribute("data-value") for c in changes.find_elements(By.CSS_SELECTOR, "circle")} >= {
        "3",
        "5",
    }
    rows = {r.get_attribute("data-dag-id") for r in browser.find_elements(By.CSS_SELECTOR, "#dags tbody tr")}
    assert {BACKUP, EXPORT, LOGS, DBCLEAN, HEALTH} <= rows
    browser.switch_to.default_content()
    shot = tmp_path / "maintenance-page.png"
    assert browser.save_screenshot(str(shot))

    # The page itself, full size, for a readable screenshot of every chart.
    browser.get(base + PAGE)
    wait_for(lambda: browser.find_element(By.ID, "chart-health-verdicts"), 60, "health timeline")
    assert browser.save_screenshot(str(tmp_path / "maintenance-page-direct.png"))
    print(f"screenshots: {shot} {tmp_path / 'maintenance-page-direct.png'}")


def test_a_frequent_schedule_is_sampled_in_sql_keeping_every_critical_verdict(
    airflow: AirflowStack, seeded: Seeded
) -> None:
    """2,000 probe runs (a run every 2 h for 167 days, far older than the other tests' windows),
    cloned in SQL from the real run with its report as a task stores it: the page reads at most two
    runs per time bucket of that DAG (the latest and the latest failed), and every critical (failed)
    run still shows; reports that are not reports show as no data."""
    import psycopg2

    from airflow_ops.console.data import MAX_POINTS

    n, prefix = 2000, "sampled__"
    critical_at, garbage_at = (100, 500, 900, 1300, 1700), (50, 1000, 1500)
    conn = psycopg2.connect(airflow.sql_alchemy_conn.replace("+psycopg2", ""), connect_timeout=10)
    conn.autocommit = True
    cur = conn.cursor()
    try:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=360)
        clone_runs(cur, HEALTH, seeded.health_real_run, prefix, start, dt.timedelta(hours=2), n)
        ids = tuple(f"{prefix}{i:06d}" for i in critical_at)
        updates = {  # every clone ok; then 5 critical; then values no query may fail on
            "jsonb_set(jsonb_set(jsonb_set(jsonb_set(value, '{metrics,critical}', '0'), '{metrics,warning}',"
            " '0'), '{ok}', 'true'), '{failure}', 'null')": tuple(f"{prefix}{i:06d}" for i in range(n)),
            "jsonb_set(value, '{metrics,critical}', '1')": ids,
            "'\"not a report\"'::jsonb": (f"{prefix}{garbage_at[0]:06d}",),
            "jsonb_set(value, '{metrics,critical}', '\"lots\"')": (f"{prefix}{garbage_at[1]:06d}",),
            "jsonb_set(value, '{schema_version}', '\"x\"')": (f"{prefix}{garbage_at[2]:06d}",),
        }
        for expr, run_ids in updates.items():
            cur.execute(
                f"UPDATE xcom SET value = {expr} WHERE dag_id = %s AND run_id IN %s", (HEALTH, run_ids)
            )
            assert cur.rowcount == len(run_ids), expr
        # A critical verdict fails the probe's run (fail_on: critical): that is what sampling keeps.
        cur.execute(
            "UPDATE dag_run SET state = CASE WHEN run_id IN %s THEN 'failed' ELSE 'success' END"
            " WHERE dag_id = %s AND starts_with(run_id, %s)",
            (ids, HEALTH, prefix),
        )
        admin = _token(airflow, "admin", airflow.password)
        resp = requests.get(airflow.base_url + PAGE + "?days=365", cookies={"_token": admin}, timeout=120)
        assert resp.status_code == 200, resp.text[:500]
        window_runs = int(resp.headers["X-Ops-Window-Runs"])
        cur.execute(
            "SELECT count(*) FROM dag_run WHERE run_after >= now() - interval '365 days'"
            " AND NOT starts_with(run_id, %s) AND dag_id IN %s",
            (prefix, (BACKUP, EXPORT, LOGS, DBCLEAN, HEALTH)),
        )
        others = cur.fetchone()[0]  # the window's other runs of the page's DAGs
        shown = set(re.findall(rf'data-run="({prefix}\d+)"', resp.text))
        buckets = math.ceil(n * 2 / (365 * 24 / MAX_POINTS))  # time buckets the clones fall in, +-1
        # The latest run of each bucket, plus the latest failed one where it differs (5 critical).
        assert buckets - 1 <= len(shown) <= 2 * (buckets + 1), (len(shown), buckets)
        assert len(shown) <= window_runs <= len(shown) + others, (window_runs, others)
        timeline = resp.text.split('id="chart-health-verdicts"', 1)[1]
        for run_id in ids:
            assert f'data-run="{run_id}" data-verdict="critical"' in timeline, run_id
        print(f"{n} probe runs in 365 days: {window_runs} runs read, {resp.headers['Server-Timing']}")
    finally:
        drop_clones(cur, HEALTH, prefix)
        conn.close()
