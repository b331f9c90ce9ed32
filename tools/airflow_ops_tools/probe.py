"""External Airflow health probe for cron, Docker HEALTHCHECK and Kubernetes probes.

Checks the same things as the ``ops_health_probe`` DAG from outside Airflow, so it notices when
the scheduler itself is down. Exit codes: 0 ok, 1 warning, 2 critical (api-server unreachable
included), 64 a bad argument, 70 an unexpected error (codes no verdict uses). Every request has a
total deadline (--timeout) and a body cap.

    scripts/health_probe.py --url http://airflow-api-server:8080 [--json] [--timeout 5]
    AIRFLOW_OPS_PROBE_USERNAME / AIRFLOW_OPS_PROBE_PASSWORD enable the checks that need auth
    (import errors, stuck tasks, maintenance DAG freshness, the scheduler's "stuck in queued"
    events); without them only /api/v2/monitor/health is read.
    --components scheduler,dag_processor  limits the component checks (e.g. one container's own).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from urllib.parse import urlsplit

from pydantic import ValidationError

from airflow_ops.api_client import AirflowApi, ApiUnreachableError
from airflow_ops.health import (
    MAINTENANCE_DAG_FILES,
    CheckResult,
    Verdict,
    check_components,
    check_disk,
    check_stuck_tasks,
    guarded,
    import_errors_check,
    run_freshness_checks,
    worst,
)
from airflow_ops.kinds.health_probe.schema import ALL_COMPONENTS, HealthThresholds
from airflow_ops.redact import redact
from airflow_ops_tools.contract import PROBE_UNEXPECTED, PROBE_USAGE, Parser, run, warn_password_flag


def main(argv: list[str] | None = None) -> int:
    return run("probe", _main, argv, usage_code=PROBE_USAGE, unexpected_code=PROBE_UNEXPECTED)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 3600 seconds")
    return value


def _main(argv: list[str] | None) -> int:
    parser = Parser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        command="probe",
        usage_code=PROBE_USAGE,
    )
    parser.add_argument("--url", default=os.environ.get("AIRFLOW_OPS_PROBE_URL", "http://127.0.0.1:8080"))
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=5.0,
        help="total seconds per request: connecting, headers and body (default 5)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--components", default=",".join(ALL_COMPONENTS))
    parser.add_argument("--log-path", help="also check free space on this volume")
    parser.add_argument("--heartbeat-warning-seconds", type=int, default=60)
    parser.add_argument("--heartbeat-critical-seconds", type=int, default=180)
    parser.add_argument("--stuck-task-minutes", type=int, default=30)
    parser.add_argument(
        "--freshness-tag",
        default="maintenance",
        help="DAGs with this tag must be unpaused and recently successful ('' skips; default maintenance)",
    )
    parser.add_argument("--freshness-warning-intervals", type=float, default=2.0)
    parser.add_argument("--freshness-critical-intervals", type=float, default=4.0)
    parser.add_argument(
        "--expected-interval",
        action="append",
        default=[],
        metavar="DAG_ID=HOURS",
        help="expected interval of a DAG without a cron schedule (repeatable)",
    )
    parser.add_argument("--stuck-in-queued-window-minutes", type=int, default=60)
    parser.add_argument(
        "--maintenance-files",
        default=",".join(MAINTENANCE_DAG_FILES),
        help="file-name patterns of the maintenance DAGs; an import error in one is critical "
        "(default %(default)s)",
    )
    args = parser.parse_args(argv)

    components = [c.strip() for c in args.components.split(",") if c.strip()]
    patterns = [p.strip() for p in args.maintenance_files.split(",") if p.strip()]
    unknown = set(components) - set(ALL_COMPONENTS)
    if unknown:
        parser.error(f"--components: unknown {sorted(unknown)}; choose from {', '.join(ALL_COMPONENTS)}")
    if not components:
        parser.error(
            f"--components is empty, so nothing would be checked; list some of {', '.join(ALL_COMPONENTS)}"
        )
    url = urlsplit(args.url)
    try:
        url.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parser.error(f"--url {args.url!r} has a port that is not a number 1-65535: pass http(s)://host:port")
    if url.scheme not in ("http", "https") or not url.hostname:
        parser.error(f"--url {args.url!r} is not an http(s) URL: pass e.g. http://airflow-api-server:8080")
    if url.password:
        warn_password_flag("--url", url.password, "AIRFLOW_OPS_PROBE_USERNAME/AIRFLOW_OPS_PROBE_PASSWORD")
    intervals: dict[str, float] = {}
    for item in args.expected_interval:
        dag_id, _, hours = item.partition("=")
        try:
            intervals[dag_id.strip()] = float(hours)
        except ValueError:
            parser.error(f"--expected-interval {item!r}: expected DAG_ID=HOURS")
        if not dag_id.strip() or not 0 < intervals[dag_id.strip()] < float("inf"):
            parser.error(f"--expected-interval {item!r}: expected DAG_ID=HOURS with HOURS a positive number")
    try:
        thresholds = HealthThresholds(
            heartbeat_warning_seconds=args.heartbeat_warning_seconds,
            heartbeat_critical_seconds=args.heartbeat_critical_seconds,
            stuck_task_minutes=args.stuck_task_minutes,
            freshness_warning_intervals=args.freshness_warning_intervals,
            freshness_critical_intervals=args.freshness_critical_intervals,
            stuck_in_queued_window_minutes=args.stuck_in_queued_window_minutes,
        )
    except ValidationError as exc:  # thresholds out of range or out of order
        first = exc.errors()[0]
        where = (
            "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-") if first["loc"] else "thresholds"
        )
        parser.error(f"{where}: {first['msg']}")
    user, password = (
        os.environ.get("AIRFLOW_OPS_PROBE_USERNAME"),
        os.environ.get("AIRFLOW_OPS_PROBE_PASSWORD"),
    )
    api = AirflowApi(
        args.url,
        user,
        password,
        timeout=args.timeout,
        credentials_hint="AIRFLOW_OPS_PROBE_USERNAME/AIRFLOW_OPS_PROBE_PASSWORD",
        url_hint="--url",
    )
    results: list[CheckResult] = []
    try:
        body = api.health()
    except ApiUnreachableError as exc:
        results.append(
            CheckResult(
                "api_server", None, "reachable", Verdict.CRITICAL, f"{exc}; is the api-server running?"
            )
        )
    except Exception as exc:
        # An answer that is not Airflow's health body: the message names the URL and what answered.
        results.append(CheckResult("api_server", None, "reachable", Verdict.CRITICAL, str(exc)))
    else:
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        results += check_components(body, components, thresholds, now)
        if user:
            results.append(guarded("import_errors", lambda: import_errors_check(api, thresholds, patterns)))
            results.append(
                guarded(
                    "stuck_task_instances",
                    lambda: check_stuck_tasks(api.task_instances(["queued", "scheduled"]), thresholds, now),
                )
            )
            # Here the probe's own DAG is included: from outside, a silent ops_health_probe shows.
            results += run_freshness_checks(
                api, args.freshness_tag or None, thresholds, intervals=intervals, now=now
            )
    if args.log_path:
        results.append(check_disk(args.log_path, thresholds))

    verdict = worst(results)
    secrets = [password, url.password]
    if args.json:
        text = json.dumps(
            {"verdict": verdict.name.lower(), "checks": [r.to_dict() for r in results]}, indent=2
        )
        print(redact(text, secrets))
    else:
        for r in results:
            line = f"{r.verdict.name:<8} {r.name}: {r.value}"
            print(redact(line + (f" -- {r.detail}" if r.detail else ""), secrets))
        print(f"overall: {verdict.name}")
    return int(verdict)


if __name__ == "__main__":
    sys.exit(main())
