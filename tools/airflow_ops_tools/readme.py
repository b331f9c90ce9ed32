"""``airflow-ops readme [--check]``: write the README.md sections generated from code.

Today: the metrics table and the db-clean excluded-table list. The metrics table comes from the
registry (every kind's ``METRICS`` rows) and ``airflow_ops.metrics.RUN_METRICS``, so the
documented names, types and units are the emitted ones.
``--check`` exits 1 when README.md differs from what would be written (a unit test runs it too).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from airflow_ops_tools.paths import ROOT

readme_md = ROOT / "README.md"

_INTRO = """\
Every run report also goes out through **Airflow's own metrics facade**
(its StatsD/OpenTelemetry facade, set up by the task runner from `[metrics]`), so the numbers land
wherever Airflow's metrics go: StatsD (`statsd_on`), Datadog (`statsd_datadog_enabled`) or
OpenTelemetry (`otel_on`), with Airflow's prefix (`statsd_prefix` / `otel_prefix`, default
`airflow`) and its allow/block lists. With no metrics backend configured nothing is sent.

- **Names.** Backends that keep tags (OpenTelemetry, Datadog, StatsD with `statsd_influxdb_enabled`):
  `airflow_ops.<kind>.<metric>` with tags `dag_id` and `mode` (`apply`/`dry_run`). Plain StatsD
  drops tags, so the DAG id is part of the name: `airflow_ops.<kind>.<dag_id>.<metric>` (a `.` in a
  DAG id becomes `__`). On the wire both carry Airflow's prefix, e.g.
  `airflow.airflow_ops.log_cleanup.ops_log_cleanup.bytes_freed:1048576|c`.
- **Types.** Gauges are gauges, timers are timers (milliseconds on the wire; the report keeps
  seconds), counters are increments by the run's value. A bool is 0/1; a figure the run did not
  measure (`null` in the report) is not sent.
- **Dry runs** delete nothing, so a kind's counters are not sent for them; gauges, timers and the
  run metrics are.
- **Failures to emit never fail a run**: they are logged at WARNING in the report task's log.
- The age of the latest verified backup: `health_probe.backup_age_hours` is read from the
  latest-verified pointer on every probe run (every 5 minutes by default): alert on that one.
  `metadata_backup.backup_age_hours` is sent at verify time (about 0), and
  `db_cleanup.backup_age_hours` is the age of the backup a purge relied on.
"""

_EXAMPLES = """\
**Grafana** on Prometheus fed by OpenTelemetry (dots become underscores, counters get `_total`):

```promql
# panel "metadata DB backup size", one series per DAG
airflow_airflow_ops_metadata_backup_backup_bytes{dag_id="ops_metadata_backup"}
# panel "log bytes freed per day"
sum by (dag_id) (increase(airflow_airflow_ops_log_cleanup_bytes_freed_total[1d]))
```

Graphite / plain StatsD: `airflow.airflow_ops.log_cleanup.*.free_bytes_min` (one series per DAG).
Prometheus `statsd_exporter` turns the plain names back into a `dag_id` label with one mapping:

```yaml
mappings:
  - match: "airflow.airflow_ops.*.*.*"
    name: "airflow_ops_${1}_${3}"
    labels: {dag_id: "$2"}
```

**Datadog** monitors (DogStatsD, `statsd_datadog_enabled = True`):

```text
max(last_30m):max:airflow.airflow_ops.health_probe.verdict{dag_id:ops_health_probe} >= 2
min(last_1h):min:airflow.airflow_ops.health_probe.backup_age_hours{*} > 26
sum(last_1d):sum:airflow.airflow_ops.metadata_backup.runs_failed{*}.as_count() > 0
min(last_15m):min:airflow.airflow_ops.health_probe.log_volume_free_pct{*} < 10
```

Add a "no data for 26 h" condition on `airflow.airflow_ops.metadata_backup.backup_bytes` to catch a
backup DAG that silently stopped running.
"""


def metrics_table() -> str:
    from airflow_ops.metrics import metric_rows
    from airflow_ops.registry import KINDS

    rows = metric_rows({name: kind.metrics for name, kind in KINDS.items()})
    lines = [
        "| Metric (tagged: `dag_id`, `mode`) | Plain StatsD name | Type | Unit | Meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r['name']}` | `{r['statsd']}` | {r['type']} | {r['unit']} | {r['help'].replace('|', '/')} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def metrics_section() -> str:
    return f"{_INTRO}\n{metrics_table()}\n{_EXAMPLES}"


def excluded_tables_section() -> str:
    from airflow_ops.dbclean.tables import EXCLUDED_TABLES

    lines = ["| table | Airflow | why it is left out |", "|---|---|---|"]
    lines += [f"| `{t}` | {', '.join(e.minors)} | {e.reason} |" for t, e in EXCLUDED_TABLES.items()]
    return "\n".join(lines) + "\n"


def support_matrix_section() -> str:
    """Release x feature, from the one seam's list of differences (``airflow_ops.compat``)."""
    from airflow_ops.compat import DIFFERENCES, SUPPORTED_MINORS, minor

    def has(since: str, release: str) -> bool:
        return minor(release) >= minor(since)

    lines = [
        "| feature | " + " | ".join(f"Airflow {m}" for m in SUPPORTED_MINORS) + " | without it |",
        "|---|" + "---|" * len(SUPPORTED_MINORS) + "---|",
    ]
    for d in DIFFERENCES:
        cells = " | ".join("yes" if has(d.since, m) else "no" for m in SUPPORTED_MINORS)
        lines.append(f"| {d.what} | {cells} | {d.without} |")
    return "\n".join(lines) + "\n"


SECTIONS = {
    "metrics": metrics_section,
    "excluded-tables": excluded_tables_section,
    "support-matrix": support_matrix_section,
}


def render(text: str) -> str:
    """``text`` with every generated section's body replaced (the markers must already be there)."""
    for name, body in SECTIONS.items():
        pattern = re.compile(rf"(<!-- section:{name} -->\n).*?(<!-- /section:{name} -->)", flags=re.DOTALL)
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"README.md has no <!-- section:{name} --> ... <!-- /section:{name} --> markers")
        text = text[: match.end(1)] + body() + text[match.start(2) :]
    return text


def main(argv: list[str] | None = None) -> int:
    from airflow_ops_tools.contract import run

    return run("readme", _main, argv)


def _main(argv: list[str] | None) -> int:
    from airflow_ops_tools.contract import Parser

    parser = Parser(prog="airflow-ops readme", description=__doc__, command="readme")
    parser.add_argument("--check", action="store_true", help="fail if README.md is out of date")
    parser.add_argument("--path", type=Path, default=readme_md)
    args = parser.parse_args(argv)
    current = args.path.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{args.path}: generated sections are stale; run `airflow-ops readme`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        args.path.write_text(wanted)
        print(f"{args.path}: updated")
    return 0
