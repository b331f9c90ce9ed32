"""Local real-service environment: PostgreSQL databases, a moto S3 server and a real Airflow.

Used by the integration-test fixtures, ``make demo`` and ``make bench``. Every server binds to
127.0.0.1 on a free port. Nothing here is imported by DAGs.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import requests

from airflow_ops.api_client import AirflowApi, ApiError
from airflow_ops_tools.secretfile import private_dir, remove_secrets, write_secret

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The secrets an :class:`AirflowStack` writes into its home (0600, home 0700): ``home/.<name>``.
SECRET_NAMES = ("fernet_key", "api_secret", "jwt_secret")
PASSWORDS_FILE = "passwords.json"
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
ADMIN_USER = "admin"
#: The bundle's own API identity (SimpleAuthManager role ``user``): what ``airflow_ops_api`` logs in
#: as, so the admin password never reaches a worker's environment.
BOT_USER = "airflow-ops-bot"
BOT_ROLE = "user"
#: A SimpleAuthManager user with no role: authenticated, but may read nothing (403s, not 401s).
NOACCESS_USER = "noaccess"


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    """Terminate a server process we started, then kill it if it does not exit within 10 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


# --------------------------------------------------------------------------- PostgreSQL
@dataclass
class PostgresServer:
    """An existing PostgreSQL server on which we create and drop our own databases."""

    admin_url: str = field(default_factory=lambda: os.environ.get("AIRFLOW_OPS_TEST_PG", DEFAULT_PG))

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))

    def sqlalchemy_url(self, dbname: str) -> str:
        return self.url_for(dbname).replace("postgresql://", "postgresql+psycopg2://", 1)

    def _admin(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.admin_url, connect_timeout=10)
        conn.autocommit = True
        return conn

    def create_database(self, prefix: str = "airflow_ops_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = self._admin()
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return name

    def drop_database(self, name: str) -> None:
        conn = self._admin()
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()

    def target(self, dbname: str) -> dict[str, Any]:
        parts = urlsplit(self.admin_url)
        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": parts.username or "postgres",
            "password": parts.password,
            "dbname": dbname,
        }


# --------------------------------------------------------------------------- S3 (moto server)
@dataclass
class MotoServer:
    """A moto S3 server in its own process, reached over real HTTP."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.proc = subprocess.Popen(
            [venv_bin("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: requests.get(self.endpoint_url, timeout=2).status_code < 500, 30, "moto server")
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def aws_conn_uri(self) -> str:
        """AIRFLOW_CONN_* JSON for an aws connection pointing at this server."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": self.endpoint_url, "region_name": "us-east-1"},
            }
        )


# ------------------------------------------------------------ S3 (s3rver, a second implementation)
S3RVER_DIR = Path(__file__).resolve().parent / "s3rver"


def ensure_s3rver() -> Path:
    """The s3rver CLI from tests/s3rver (``npm ci`` from the committed lock when node_modules is missing)."""
    cli = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    if not cli.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm not found: install Node.js 18+ and npm (apt-get install nodejs npm)")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=S3RVER_DIR,
            check=True,
            timeout=600,
        )
    return cli


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (key, cert), written privately into ``folder``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class S3rverServer:
    """s3rver (Node.js, objects on disk) in its own process: an S3 API that is not moto.

    With ``tls`` it serves HTTPS with a self-signed certificate (``ca_bundle``), which is where
    botocore's default request checksums switch to aws-chunked bodies.
    """

    directory: Path
    tls: bool = False
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    ca_bundle: str | None = None
    log_path: Path | None = None

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, buckets: tuple[str, ...] = ()) -> S3rverServer:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node not found: install Node.js 18+ (apt-get install nodejs npm)")
        cli = ensure_s3rver()
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            node,
            str(cli),
            "-d",
            str(data),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--no-vhost-buckets",
        ]
        if self.tls:
            key, cert = self_signed_cert(self.directory)
            self.ca_bundle = str(cert)
            argv += ["--key", str(key), "--cert", str(cert)]
        for bucket in buckets:
            argv += ["--configure-bucket", bucket]
        self.log_path = self.directory / "s3rver.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(
            lambda: (
                requests.get(self.endpoint_url, timeout=2, verify=self.ca_bundle or True).status_code < 500
            ),
            60,
            "s3rver",
        )
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def client(self, **config: Any) -> Any:
        """A boto3 client with the bundle's retry policy; ``config`` goes to botocore's Config on top
        (e.g. request_checksum_calculation)."""
        import boto3

        from airflow_ops.storage import client_config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="S3RVER",
            aws_secret_access_key="S3RVER",
            region_name="us-east-1",
            verify=self.ca_bundle or True,
            config=client_config({"s3": {"addressing_style": "path"}, **config}),
        )

    def aws_env(self) -> dict[str, str]:
        """Environment for a CLI's plain boto3 client reaching this server."""
        env = {
            "AWS_ACCESS_KEY_ID": "S3RVER",
            "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }
        if self.ca_bundle:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        return env


# --------------------------------------------------------------------------- Airflow
@dataclass
class RunResult:
    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    note: str | None
    home: Path

    def log_text(self, task_id: str | None = None) -> str:
        """Concatenated task log files of this run (all tasks, or one)."""
        root = self.home / "logs" / f"dag_id={self.dag_id}" / f"run_id={self.run_id}"
        pattern = f"task_id={task_id}/**/*.log" if task_id else "**/*.log"
        return "\n".join(p.read_text(errors="replace") for p in sorted(root.glob(pattern)))


@dataclass
class AirflowStack:
    """A real Airflow 3 (scheduler, dag-processor, triggerer, api-server) on a fresh database."""

    home: Path
    sql_alchemy_conn: str
    dags_folder: Path
    plugins_folder: Path | None = None
    executor: str = "LocalExecutor"
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    scheduler_health_port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    bot_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    noaccess_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict)
    #: False: set no AIRFLOW__* config of our own, so an airflow.cfg (AIRFLOW_CONFIG in extra_env) rules
    config_overrides: bool = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        home = self.home
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder or home / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet_key"),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": (
                    f"{ADMIN_USER}:admin,{BOT_USER}:{BOT_ROLE},{NOACCESS_USER}:"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__SECRET_KEY": self._secret("api_secret"),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
                "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
                    home / "logs" / "dag_processor"
                ),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                # Default is <tmp>/airflow/dag_bundles, shared by every Airflow on the machine: a
                # stale git bundle left there by another run makes the next one fetch a dead remote.
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag_bundles"),
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.scheduler_health_port),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW_CONN_AIRFLOW_OPS_API": json.dumps(
                    {
                        "conn_type": "http",
                        "host": "127.0.0.1",
                        "port": self.api_port,
                        "login": BOT_USER,
                        "password": self.bot_password,
                    }
                ),
                "AIRFLOW_CONN_AIRFLOW_METADATA_DB": self._metadata_conn(),
                "PYTHONPATH": os.pathsep.join(
                    p for p in [str(self.plugins_folder or ""), os.environ.get("PYTHONPATH", "")] if p
                ),
            }
        )
        if not self.config_overrides:
            env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW__")}
        env.update(self.extra_env)
        return env

    def _metadata_conn(self) -> str:
        from urllib.parse import parse_qs

        parts = urlsplit(self.sql_alchemy_conn.replace("+psycopg2", ""))
        socket_dir = parse_qs(parts.query).get("host", [None])[0]  # embedded server: unix socket
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": socket_dir or parts.hostname,
                "port": parts.port or 5432,
                "login": parts.username,
                "password": parts.password,
                "schema": parts.path.lstrip("/"),
            }
        )

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}"
        if not path.exists():
            value = base64.urlsafe_b64encode(os.urandom(32)).decode()
            write_secret(path, value, tighten_dir=True)
        return path.read_text()

    @property
    def secret_files(self) -> list[Path]:
        """Every secret this stack writes (fernet key, API secret, JWT secret, passwords file)."""
        return [self.home / f".{name}" for name in SECRET_NAMES] + [self.home / PASSWORDS_FILE]

    def remove_secrets(self) -> list[Path]:
        """Delete the secret files (the stack must be stopped: they are read at every start)."""
        return remove_secrets(self.secret_files)

    def airflow(
        self, *args: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [venv_bin("airflow"), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def write_passwords_file(self) -> Path:
        """SimpleAuthManager's passwords file: 0600 (an existing one is replaced) in the 0700 home."""
        private_dir(self.home)
        passwords = {
            ADMIN_USER: self.password,
            BOT_USER: self.bot_password,
            NOACCESS_USER: self.noaccess_password,
        }
        return write_secret(self.home / PASSWORDS_FILE, json.dumps(passwords))

    def migrate(self) -> None:
        self.write_passwords_file()
        self.airflow("db", "migrate")

    def start(self, components: tuple[str, ...] = COMPONENTS, timeout: float = 180) -> AirflowStack:
        for name in components:
            self.start_component(name)
        wait_for(self._healthy, timeout, "Airflow components to report healthy", interval=1)
        return self

    def start_component(self, name: str) -> None:
        if name in self.procs and self.procs[name].poll() is None:
            return
        args = [venv_bin("airflow"), name]
        if name == "api-server":
            args += ["--port", str(self.api_port), "--host", "127.0.0.1"]
        log_path = self.home / f"{name}.out"
        self._logs[name] = open(log_path, "ab")  # noqa: SIM115 - closed in stop_component
        self.procs[name] = subprocess.Popen(
            args, env=self.env, stdout=self._logs[name], stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_celery_worker(self, name: str, queues: list[str], log_folder: Path | None = None) -> None:
        """A real ``airflow celery worker`` consuming ``queues``, with its own log folder and log-server port.

        The stack must use ``executor="CeleryExecutor"`` and ``AIRFLOW__CELERY__BROKER_URL`` /
        ``AIRFLOW__CELERY__RESULT_BACKEND`` in ``extra_env``.
        """
        key = f"worker-{name}"
        env = dict(self.env)
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        if log_folder is not None:
            log_folder.mkdir(parents=True, exist_ok=True)
            env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(log_folder)
        args = [
            venv_bin("airflow"),
            "celery",
            "worker",
            "--queues",
            ",".join(queues),
            "--celery-hostname",
            f"{name}@%h",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
        ]
        self._logs[key] = open(self.home / f"{key}.out", "ab")  # noqa: SIM115 - closed in stop_component
        self.procs[key] = subprocess.Popen(
            args, env=env, stdout=self._logs[key], stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop_component(self, name: str, timeout: float = 30) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if name in self._logs:
            self._logs.pop(name).close()

    def stop(self) -> None:
        for name in list(self.procs)[::-1]:
            self.stop_component(name)

    def component_log(self, name: str) -> str:
        path = self.home / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def api(self) -> AirflowApi:
        """The admin's API (the tests' own actions); the bundle's DAGs use :meth:`bot_api`'s identity."""
        return AirflowApi(self.base_url, ADMIN_USER, self.password, timeout=30)

    def bot_api(self) -> AirflowApi:
        return AirflowApi(self.base_url, BOT_USER, self.bot_password, timeout=30)

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited {proc.returncode}:\n{self.component_log(name)[-3000:]}"
                )
        if "api-server" not in self.procs:
            return True
        body = AirflowApi(self.base_url, timeout=5).health()
        wanted = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}
        # Celery workers report no health of their own here; callers wait for them to run tasks.
        return body["metadatabase"]["status"] == "healthy" and all(
            (body.get(key) or {}).get("status") == "healthy"
            for comp, key in wanted.items()
            if comp in self.procs
        )

    # -- DAG runs -------------------------------------------------------------------------------
    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        api = self.api()

        def present() -> bool:
            found = {d["dag_id"] for d in api.get("/api/v2/dags", params={"limit": 1000})["dags"]}
            return set(dag_ids) <= found

        wait_for(present, timeout, f"DAGs {dag_ids} to be parsed", interval=1)

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.api().get("/api/v2/importErrors", params={"limit": 1000})["import_errors"])

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: dt.datetime | None = None
    ) -> str:
        api = self.api()
        api.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        body: dict[str, Any] = {
            "conf": conf or {},
            "logical_date": logical_date.isoformat() if logical_date else None,
        }
        run = api.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> RunResult:
        api = self.api()

        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        try:
            run = wait_for(finished, timeout, f"run {dag_id}/{run_id} to finish", interval=1)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}\nscheduler log tail:\n{self.component_log('scheduler')[-3000:]}"
            ) from None
        tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        states = {
            t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else ""): t["state"]
            for t in tis["task_instances"]
        }
        return RunResult(dag_id, run_id, run["state"], states, run.get("note"), self.home)

    def run_dag(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: dt.datetime | None = None,
        timeout: float = 300,
    ) -> RunResult:
        return self.wait_run(dag_id, self.trigger(dag_id, conf, logical_date), timeout)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        try:
            body = self.api().get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
                params={"deserialize": True, "stringify": False},
            )
        except ApiError:
            return None
        return body["value"]


@contextlib.contextmanager
def airflow_stack(
    home: Path,
    pg: PostgresServer,
    dags_folder: Path,
    plugins_folder: Path | None,
    extra_env: dict[str, str] | None = None,
    executor: str = "LocalExecutor",
    components: tuple[str, ...] = COMPONENTS,
    keep_db: bool = False,
) -> Iterator[AirflowStack]:
    """Create a database, migrate it, start the components; tear everything down afterwards.

    Teardown also deletes the stack's secret files, unless ``keep_db`` (a kept database needs its
    fernet key).
    """
    dbname = pg.create_database()
    stack = AirflowStack(
        home, pg.sqlalchemy_url(dbname), dags_folder, plugins_folder, executor, dict(extra_env or {})
    )
    try:
        stack.migrate()
        stack.start(components)
        yield stack
    finally:
        stack.stop()
        if not keep_db:
            pg.drop_database(dbname)
            stack.remove_secrets()
        shutil.rmtree(home / "plugins", ignore_errors=True)


class AlertSink:
    """A local alert receiver for trials: a webhook (HTTP) and an SMTP server on 127.0.0.1.

    ``alerts`` collects ``{"channel": "webhook"|"email", "text": ...}`` for every alert received, so
    a trial shows the real alert a failed run sends (``make demo``), through the shipped
    ``ops_alert_webhook`` and ``smtp_default`` connections.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.alerts: list[dict[str, Any]] = []
        sink = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body or b"null")
                except ValueError:
                    payload = {"text": body.decode("utf-8", "replace")}
                sink.alerts.append(
                    {"channel": "webhook", "text": (payload or {}).get("text"), "json": payload}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.smtp_port = free_port()
        self._smtp: Any = None

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/alerts"

    def start(self) -> AlertSink:
        self._thread.start()
        try:
            from aiosmtpd.controller import Controller
        except ImportError:  # the webhook alone still shows alerts
            return self
        sink = self

        class Mail:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                text = envelope.content.decode("utf-8", "replace")
                subject = next((ln[9:] for ln in text.splitlines() if ln.startswith("Subject: ")), "")
                sink.alerts.append({"channel": "email", "text": subject, "to": list(envelope.rcpt_tos)})
                return "250 OK"

        import logging

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
        self._smtp = Controller(Mail(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        if self._smtp is not None:
            self._smtp.stop()

    def env(self) -> dict[str, str]:
        """The shipped configs' alert connections, pointed at this sink."""
        out = {"AIRFLOW_CONN_OPS_ALERT_WEBHOOK": json.dumps({"conn_type": "http", "host": self.webhook_url})}
        if self._smtp is not None:
            out["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": self.smtp_port,
                    "extra": {
                        "disable_tls": True,
                        "disable_ssl": True,
                        "from_email": "airflow-ops@localhost",
                    },
                }
            )
        return out


def demo_env(s3: MotoServer, alerts: AlertSink | None = None) -> dict[str, str]:
    """Connections a local trial needs: S3 on the moto server, a throwaway export key and, with
    ``alerts``, the alert connections pointed at a local :class:`AlertSink`."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": s3.aws_conn_uri(),
        "AIRFLOW_CONN_OPS_EXPORT_KEY": json.dumps(
            {"conn_type": "generic", "password": base64.urlsafe_b64encode(os.urandom(32)).decode()}
        ),
        **(alerts.env() if alerts is not None else {}),
    }


class StatsdSink:
    """A real UDP StatsD listener on 127.0.0.1 keeping every line it receives (the newest 200k).

    ``on_line(received_at, line)`` (``time.monotonic()``) also sees every line as it arrives.
    """

    def __init__(self, on_line: Callable[[float, str], None] | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.lines: list[str] = []
        self._on_line = on_line
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = data.decode("utf-8", "replace").splitlines()
            if self._on_line is not None:
                now = time.monotonic()
                for line in lines:
                    self._on_line(now, line)
            self.lines.extend(lines)
            if len(self.lines) > 200_000:
                del self.lines[:100_000]

    def mark(self) -> int:
        return len(self.lines)

    def since(self, mark: int, prefix: str = "") -> list[str]:
        return [line for line in self.lines[mark:] if line.startswith(prefix)]

    def wait_for(self, mark: int, wanted: str, timeout: float = 10) -> list[str]:
        """The lines after ``mark`` starting with ``wanted``, once one arrived (UDP: allow a moment)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.since(mark, wanted)
            if got:
                return got
            time.sleep(0.2)
        return []

    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()
