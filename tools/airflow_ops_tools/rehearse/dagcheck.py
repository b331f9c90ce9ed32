"""DAG files imported by the current and the target release's DagBag, each in its own environment."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_ops.redact import redact

PROBE = Path(__file__).with_name("dagbag_probe.py")


@dataclass
class DagFindings:
    folder: str
    checked: int = 0
    #: files that import on the current release and fail on the target: path -> first error line
    breaks: dict[str, str] = field(default_factory=dict)
    #: files that fail on the current release and import on the target
    fixed: list[str] = field(default_factory=list)
    #: files that fail on both (already broken: not the upgrade's doing)
    failing_both: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "checked": self.checked,
            "break": [{"file": f, "error": e} for f, e in sorted(self.breaks.items())],
            "fixed": sorted(self.fixed),
            "failing_both": [{"file": f, "error": e} for f, e in sorted(self.failing_both.items())],
        }


def probe_path(plugins_folder: Path | None) -> str:
    """PYTHONPATH of a probe: the package of this tool (for the seam), and the deployment's plugins."""
    import airflow_ops

    ours = Path(airflow_ops.__file__).resolve().parents[1]
    paths = [str(ours)] + ([str(plugins_folder)] if plugins_folder else [])
    return ":".join(dict.fromkeys(paths))


def import_all(
    python: str,
    folder: Path,
    env: dict[str, str],
    progress: Callable[[str], None] = lambda _m: None,
    label: str = "",
) -> dict[str, str | None]:
    """{relative path: None or the first line of its import error} under ``python``'s release."""
    with tempfile.TemporaryFile("w+") as out:  # a file, not a pipe: a large result cannot block the probe
        proc = subprocess.Popen(
            [python, str(PROBE), str(folder)],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=env.get("AIRFLOW_HOME"),
        )
        assert proc.stderr is not None
        tail: list[str] = []
        for line in proc.stderr:
            if line.startswith("imported "):
                progress(f"{label}DAG files {line.split(' ', 1)[1].strip()}")
            else:
                tail = [*tail, line.strip()][-5:]
        code = proc.wait()
        out.seek(0)
        stdout = out.read()
    if code != 0:
        raise RuntimeError(f"the DagBag probe exited {code}: {redact(' '.join(t for t in tail if t))}")
    files: dict[str, str | None] = json.loads(stdout.strip().splitlines()[-1])["files"]
    return {k: (redact(v) if v else None) for k, v in files.items()}


def compare(folder: Path, now: dict[str, str | None], then: dict[str, str | None]) -> DagFindings:
    findings = DagFindings(str(folder), checked=len(set(now) | set(then)))
    for path in sorted(set(now) | set(then)):
        before, after = now.get(path), then.get(path)
        if before is None and after is not None:
            findings.breaks[path] = after
        elif before is not None and after is None:
            findings.fixed.append(path)
        elif before is not None and after is not None:
            findings.failing_both[path] = after
    return findings
