"""An isolated environment of one Airflow release, built with uv and kept in a cache.

The environment is never the deployment's own: it lives under the cache directory
(``$XDG_CACHE_HOME/airflow-ops/envs`` by default), one folder per release and requirement set, built
in a temporary folder and renamed into place only when complete, so an interrupted build is never
reused. Where the checkout holds the bundle's hashed lock for that exact release
(``requirements/lock-<minor>.txt``), the environment is that lock (the bundle's own DAGs import in
it); otherwise it is ``apache-airflow[postgres]==<release>`` resolved by uv, plus ``--with``
packages (the providers your DAGs import).

uv reads its own index settings (``UV_DEFAULT_INDEX``, ``UV_INDEX``, ``uv.toml``); pip's
``PIP_INDEX_URL`` / ``PIP_EXTRA_INDEX_URL`` are passed on to it when uv's are unset. A wheelhouse
(``--wheelhouse DIR``) installs with no index at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from airflow_ops.exceptions import AirflowOpsError
from airflow_ops_tools.contract import UsageError
from airflow_ops_tools.paths import ROOT

#: Releases this tool can rehearse: Airflow 3 (its CLI has db migrate, check-migrations, config lint).
_RELEASE = re.compile(r"^3\.\d+\.\d+$")
_COMPLETE = ".airflow-ops-env"


class EnvironmentBuildError(AirflowOpsError):
    """uv could not build the environment; the message is uv's last lines and the fix."""


@dataclass(frozen=True)
class AirflowEnv:
    version: str
    path: Path
    #: True when it came from the cache (no build this run)
    cached: bool
    seconds: float

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @property
    def airflow(self) -> str:
        return str(self.path / "bin" / "airflow")


def check_release(version: str, flag: str = "--to") -> str:
    version = version.strip()
    if not _RELEASE.match(version):
        raise UsageError(f"{flag} must be an Airflow 3 release like 3.3.2 (got {version!r})")
    return version


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-ops" / "envs"


def find_uv(explicit: str | None = None) -> str:
    """``--uv``, ``$AIRFLOW_OPS_UV``, ``uv`` on PATH, or the checkout's own (``.tools/bin/uv``)."""
    if explicit is not None:
        if os.access(explicit, os.X_OK) and not os.path.isdir(explicit):
            return explicit
        raise UsageError(f"--uv {explicit} is not an executable file: pass the path of the uv binary")
    for candidate in (
        explicit,
        os.environ.get("AIRFLOW_OPS_UV"),
        shutil.which("uv"),
        str(ROOT / ".tools/bin/uv"),
    ):
        if candidate and os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise UsageError(
        "rehearse-upgrade builds the target release's environment with uv, and none was found: "
        "install it (pip install uv) or pass --uv /path/to/uv"
    )


def lock_for(version: str, root: Path = ROOT) -> Path | None:
    """The checkout's hashed lock whose Airflow pin is exactly ``version``, if there is one."""
    minor = ".".join(version.split(".")[:2])
    lock = root / "requirements" / f"lock-{minor}.txt"
    try:
        text = lock.read_text()
    except OSError:
        return None
    return lock if re.search(rf"^apache-airflow=={re.escape(version)}\b", text, re.M) else None


def uv_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """uv's environment: the caller's, with pip's index settings passed on where uv has none."""
    env = dict(os.environ if environ is None else environ)
    if "UV_DEFAULT_INDEX" not in env and "UV_INDEX_URL" not in env and env.get("PIP_INDEX_URL"):
        env["UV_DEFAULT_INDEX"] = env["PIP_INDEX_URL"]
    if "UV_INDEX" not in env and "UV_EXTRA_INDEX_URL" not in env and env.get("PIP_EXTRA_INDEX_URL"):
        env["UV_INDEX"] = env["PIP_EXTRA_INDEX_URL"]
    env.pop("VIRTUAL_ENV", None)
    return env


def plan(version: str, extra: list[str], wheelhouse: Path | None, root: Path = ROOT) -> tuple[list[str], str]:
    """(uv pip arguments after ``--python``, a key naming this requirement set)."""
    lock = lock_for(version, root)
    if lock is not None:
        args = ["sync", "--require-hashes", str(lock)]
        basis = lock.read_text()
    else:
        args = ["install", f"apache-airflow[postgres]=={version}", f"apache-airflow-core=={version}"]
        basis = " ".join(args)
    if lock is not None and extra:
        # a lock is synced exactly; extra packages go on top in a second step (see build)
        basis += "\n+" + " ".join(sorted(extra))
    elif extra:
        args += sorted(extra)
        basis += " " + " ".join(sorted(extra))
    if wheelhouse is not None:
        args += ["--no-index", "--find-links", str(wheelhouse)]
        basis += f"\nwheelhouse={wheelhouse}"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256(f"{py}\n{basis}".encode()).hexdigest()[:12]
    return args, key


def _uv(uv: str, args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run([uv, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise EnvironmentBuildError(
            f"uv {args[0]} {args[1] if len(args) > 1 else ''} exited {proc.returncode}: {tail}"
        )


def ensure_env(
    version: str,
    *,
    cache: Path | None = None,
    uv: str | None = None,
    extra: list[str] | None = None,
    wheelhouse: Path | None = None,
    say: Callable[[str], None] = lambda _m: None,
    root: Path = ROOT,
) -> AirflowEnv:
    """The environment of Airflow ``version``: from the cache, or built now (then cached)."""
    extra = list(extra or [])
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise UsageError(f"--wheelhouse {wheelhouse} is not a directory: pass the folder holding the wheels")
    # the cache key names the extras whether they go into the resolve or on top of the lock
    args, key = plan(version, extra, wheelhouse, root)
    on_lock = args[0] == "sync"
    cache = cache or default_cache()
    target = cache / f"airflow-{version}-{key}"
    if (target / _COMPLETE).is_file():
        return AirflowEnv(version, target, cached=True, seconds=0.0)
    uv_bin = find_uv(uv)
    cache.mkdir(parents=True, exist_ok=True)
    env = uv_environ()
    t0 = time.monotonic()
    say(f"building the Airflow {version} environment with uv in {target} ...")
    work = Path(tempfile.mkdtemp(prefix=f".airflow-{version}-", dir=cache))
    try:
        _uv(uv_bin, ["venv", "-q", "--python", sys.executable, str(work)], env)
        py = str(work / "bin" / "python")
        _uv(uv_bin, ["pip", *args[:1], "-q", "--python", py, *args[1:]], env)
        if extra and on_lock:
            more = ["install", *extra] + (
                ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse else []
            )
            _uv(uv_bin, ["pip", more[0], "-q", "--python", py, *more[1:]], env)
        (work / _COMPLETE).write_text(f"{version}\n")
        # A venv's scripts name its own path: build where it will live, so move only into an empty slot.
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _fix_scripts(work, target)
    return AirflowEnv(version, target, cached=False, seconds=round(time.monotonic() - t0, 1))


def _fix_scripts(old: Path, new: Path) -> None:
    """Point the moved venv's scripts (their shebangs and activate files) at its new path."""
    old_s, new_s = str(old), str(new)
    cfg = new / "pyvenv.cfg"
    for path in [*(new / "bin").iterdir(), cfg]:
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if old_s.encode() in data:
            path.write_bytes(data.replace(old_s.encode(), new_s.encode()))
