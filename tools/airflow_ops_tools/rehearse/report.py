"""The rehearsal's report: one fixed schema, printed as a table or written as JSON, and its headline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_ops_tools.rehearse.cfgcheck import ConfigFindings
from airflow_ops_tools.rehearse.dagcheck import DagFindings
from airflow_ops_tools.rehearse.migration import MigrationResult

REPORT_FORMAT = 1
PASSED, FINDINGS, FAILED = 0, 1, 2


@dataclass
class Rehearsal:
    from_version: str
    to_version: str
    backup: str
    scratch: str
    restore: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    migration: MigrationResult | None = None
    check_migrations: dict[str, Any] = field(default_factory=dict)
    #: tables whose row count differs after the migration: table -> (before, after; -1 = gone)
    row_changes: dict[str, tuple[int, int]] = field(default_factory=dict)
    tables_compared: int = 0
    dags: DagFindings | None = None
    config: ConfigFindings | None = None
    scratch_kept: bool = False
    drop_hint: str | None = None
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    # -- verdict ------------------------------------------------------------------------------------
    @property
    def rows_lost(self) -> dict[str, tuple[int, int]]:
        return {t: (a, b) for t, (a, b) in self.row_changes.items() if b < a}

    def config_issues(self) -> list[str]:
        if self.config is None:
            return []
        issues = list(self.config.lint)
        for key in self.config.removed:
            option = key.split(".", 1)[-1]
            if not any(f"`{option}`" in line for line in self.config.lint):
                issues.append(f"`{key}` is not an option of Airflow {self.to_version}")
        return issues

    @property
    def exit_code(self) -> int:
        if self.migration is None or not self.migration.ok or not self.check_migrations.get("ok", False):
            return FAILED
        if (self.dags and self.dags.breaks) or self.config_issues() or self.rows_lost:
            return FINDINGS
        if self.config is not None and self.config.error:
            return FINDINGS
        return PASSED

    @property
    def verdict(self) -> str:
        return {PASSED: "passed", FINDINGS: "findings", FAILED: "migration failed"}[self.exit_code]

    def headline(self) -> str:
        head = f"{self.from_version} → {self.to_version}: "
        m = self.migration
        if m is None:
            return head + "migration not run"
        if not m.ok:
            at = f" at revision {m.failed_revision}" if m.failed_revision else ""
            return head + f"migration FAILED{at} after {m.seconds:.0f} s: {m.error or 'see the output'}"
        parts = [f"migration {m.seconds:.0f} s"]
        if m.locks:
            top = max(m.locks, key=lambda lk: lk.seconds)
            n = len(m.locks)
            parts.append(f"{n} table{'s' if n != 1 else ''} locked (longest: {top.table} {top.describe()})")
        else:
            parts.append("no table locked")
        if self.dags is not None:
            n = len(self.dags.breaks)
            parts.append(f"{n} DAG file{'s' if n != 1 else ''} break{'s' if n == 1 else ''}")
        if self.config is not None:
            n = len(self.config_issues())
            parts.append(f"{n} config key{'s' if n != 1 else ''} removed")
        if self.rows_lost:
            parts.append(f"rows lost in {len(self.rows_lost)} table(s)")
        return head + ", ".join(parts)

    # -- output -------------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "headline": self.headline(),
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "backup": self.backup,
            "scratch_database": self.scratch,
            "scratch_kept": self.scratch_kept,
            "drop_scratch": self.drop_hint if self.scratch_kept else None,
            "restore": self.restore,
            "environment": self.environment,
            "migration": self.migration.as_dict() if self.migration else None,
            "check_migrations": self.check_migrations,
            "row_counts": {
                "tables_compared": self.tables_compared,
                "changed": {t: {"before": a, "after": b} for t, (a, b) in sorted(self.row_changes.items())},
            },
            "dags": self.dags.as_dict() if self.dags else None,
            "config": (
                {**self.config.as_dict(), "issues": self.config_issues()} if self.config is not None else None
            ),
            "seconds": self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
        }

    def lines(self) -> list[str]:
        out = [self.headline(), ""]

        def row(name: str, value: object) -> None:
            out.append(f"{name:<18}{value}")

        row("backup", self.backup)
        r = self.restore
        if r:
            row(
                "restore",
                f"{r.get('bytes', 0) / 1e6:.1f} MB in {r.get('seconds', 0):.0f} s, "
                f"{r.get('tables', 0)} tables, {r.get('rows', 0)} rows; row counts match the manifest",
            )
        e = self.environment
        if e:
            row(
                "environment",
                f"Airflow {self.to_version} at {e.get('path')}"
                + (" (cached)" if e.get("cached") else f" (built in {e.get('seconds', 0):.0f} s)"),
            )
        m = self.migration
        if m is not None:
            row("revision", f"{m.revision_before} -> {m.revision_after} ({len(m.steps)} migrations run)")
            row("migration", ("ok" if m.ok else "FAILED") + f" in {m.seconds:.1f} s")
            for lock in sorted(m.locks, key=lambda lk: (-lk.seconds, lk.table)):
                row("  locked", f"{lock.table}: ACCESS EXCLUSIVE for {lock.describe()}")
            if m.longest is not None:
                row("  longest stmt", f"{m.longest.seconds:.1f} s: {m.longest.sql[:120]}")
            if not m.ok:
                row("  failed at", m.failed_revision or "unknown revision")
                row("  statement", (m.failed_statement or "unknown")[:200])
                row("  error", m.error or "unknown")
                if m.detail:
                    row("  detail", m.detail)
        if self.check_migrations:
            row(
                "check-migrations",
                ("ok: " if self.check_migrations.get("ok") else "NOT OK: ")
                + str(self.check_migrations.get("message", "")),
            )
        if m is not None and m.ok:
            changed = ", ".join(f"{t} {a} -> {b}" for t, (a, b) in sorted(self.row_changes.items())) or "none"
            row("row counts", f"{self.tables_compared} tables compared; changed: {changed}")
        if self.dags is not None:
            d = self.dags
            row(
                "DAG files",
                f"{d.checked} checked, {len(d.breaks)} break, {len(d.fixed)} fixed, "
                f"{len(d.failing_both)} fail on both",
            )
            for path, error in sorted(d.breaks.items()):
                row("  breaks", f"{path}: {error}")
        if self.config is not None:
            issues = self.config_issues()
            row(
                "config",
                f"{self.config.path}: {len(issues)} issue(s)"
                + (f"; not checked: {self.config.error}" if self.config.error else ""),
            )
            for issue in issues:
                row("  config", issue)
        if self.scratch_kept:
            row("scratch kept", f"{self.scratch}; drop it with: {self.drop_hint}")
        row("took", f"{self.seconds:.0f} s, peak memory {self.peak_rss_mb:.0f} MB")
        row("verdict", f"{self.verdict} (exit {self.exit_code})")
        return out
