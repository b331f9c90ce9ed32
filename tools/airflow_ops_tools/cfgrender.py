"""Render ``airflow.cfg.template`` into an ``airflow.cfg`` for one deployment profile.

Every value comes from an environment variable with a default written next to it in the template.
Secrets are never written inline: a secret option becomes ``<key>_cmd`` (``AIRFLOW_OPS_<NAME>_CMD``),
``<key>_secret`` (``AIRFLOW_OPS_<NAME>_SECRET``, resolved by the secrets backend) or an environment
reference ``<key> = ${AIRFLOW_OPS_<NAME>}`` that Airflow expands when it reads the file.

Rendering collects every problem first and refuses (``RenderRefused``) before anything is written:
a bad profile, missing required values, SQLite with an executor other than LocalExecutor, and
placeholder or weak secrets outside the ``local`` profile. ``write_config`` never replaces an existing
file unless told to, and keeps a timestamped backup when it does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from airflow_ops.exceptions import AirflowOpsError
from airflow_ops_tools.secretfile import write_secret

#: profile name -> the executor it is built around
PROFILES: dict[str, str] = {
    "local": "LocalExecutor",
    "celery": "CeleryExecutor",
    "kubernetes": "KubernetesExecutor",
}
#: profiles in which weak or placeholder secrets are only warned about (single-machine trials)
LENIENT_PROFILES = frozenset({"local"})
MIN_SECRET_BYTES = 32
MIN_ADMIN_PASSWORD_LENGTH = 12
DEFAULT_ADMIN_PASSWORDS = frozenset(
    {"admin", "airflow", "password", "changeme", "change-me", "secret", "123456"}
)
PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "replace",
    "placeholder",
    "example",
    "todo",
    "xxx",
)
SECRET_CMD_TIMEOUT_SECONDS = 15


class RenderRefused(AirflowOpsError):
    """The environment does not describe a safe, complete configuration; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"refusing to render airflow.cfg: {problems[0]}")
            return
        listed = " | ".join(f"({n}) {p}" for n, p in enumerate(problems, 1))
        super().__init__(f"refusing to render airflow.cfg ({len(problems)} problems): {listed}")


@dataclass(frozen=True)
class VariableUse:
    """One environment variable the template reads, as documentation (``--list``)."""

    name: str
    default: str | None
    kind: str  # "value" | "secret" | "admin" (validated, never rendered)


@dataclass
class Rendered:
    profile: str
    text: str
    warnings: list[str] = field(default_factory=list)
    variables: list[VariableUse] = field(default_factory=list)


def default_template() -> Path:
    return Path(__file__).resolve().parents[2] / "airflow.cfg.template"


def _looks_like_placeholder(value: str) -> bool:
    # A long random secret can contain "xxx" or "todo" by chance; only a value that is mostly
    # placeholder words (little left once they are removed) is one.
    lowered = value.lower()
    rest = lowered
    for marker in PLACEHOLDER_MARKERS:
        rest = rest.replace(marker, "")
    return rest != lowered and len(rest) < 24


INVALID_FERNET_KEY = "is not a 32-byte url-safe base64 Fernet key"


def fernet_key_problem(value: str) -> str | None:
    """Why ``value`` is not a usable ``[core] fernet_key`` (comma-separated keys allowed for rotation).

    An invalid key (:func:`fernet_key_invalid`) is refused in every profile; a weak one only outside
    the lenient ones.
    """
    invalid = fernet_key_invalid(value)
    if invalid:
        return invalid
    for key in value.split(","):
        raw = base64.urlsafe_b64decode(key.strip().encode("ascii"))
        if len(set(raw)) < 8:
            return "is a low-entropy (repetitive) key"
    return None


def fernet_key_invalid(value: str) -> str | None:
    """Why ``value`` cannot be used at all: Airflow's ``Fernet(key)`` would raise on it."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in value.split(",")]
    for n, key in enumerate(keys, 1):
        which = f" (key {n} of {len(keys)})" if len(keys) > 1 else ""
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
            Fernet(key)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return INVALID_FERNET_KEY + which
        if len(raw) != 32 or len(key) != 44:
            return INVALID_FERNET_KEY + which
    return None


def jwt_secret_problem(value: str, what: str = "secret") -> str | None:
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    if _looks_like_placeholder(value) or len(set(value)) < 8:
        return f"looks like a placeholder {what}"
    return None


def admin_password_problem(value: str) -> str | None:
    if value.lower() in DEFAULT_ADMIN_PASSWORDS or _looks_like_placeholder(value):
        return "is a default or placeholder password"
    if len(value) < MIN_ADMIN_PASSWORD_LENGTH:
        return f"is shorter than {MIN_ADMIN_PASSWORD_LENGTH} characters"
    return None


GENERATE_HINT = {
    "fernet": 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"',
    "token": 'python -c "import secrets; print(secrets.token_urlsafe(48))"',
}


class _Renderer:
    """The functions the template calls; they record problems instead of raising at the first one."""

    def __init__(self, profile: str, environ: Mapping[str, str], run_secret_cmds: bool) -> None:
        self.profile = profile
        self.environ = environ
        self.run_secret_cmds = run_secret_cmds
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.variables: dict[str, VariableUse] = {}
        self.resolved: dict[str, str] = {}

    # -- helpers the template calls ------------------------------------------------------------
    def env(self, name: str, default: str | None = None) -> str:
        """A plain (non-secret) value: ``$name`` or its default; ``default=None`` means required."""
        self.variables.setdefault(name, VariableUse(name, default, "value"))
        value = self.environ.get(name, "")
        if value == "":
            if default is None:
                self.problems.append(
                    f"{name} is required for the {self.profile} profile: set it in the environment"
                )
                return f"<missing {name}>"
            value = default
        self.resolved[name] = value
        return self._value(name, value)

    def env_int(self, name: str, default: str, minimum: int = 0) -> str:
        value = self.env(name, default)
        try:
            if int(value) < minimum:
                raise ValueError
        except ValueError:
            self.problems.append(f"{name}={value!r} is not an integer >= {minimum}: set a whole number")
        return value

    def env_float(self, name: str, default: str, minimum: float = 0.0) -> str:
        value = self.env(name, default)
        try:
            if not float(value) >= minimum:  # also refuses nan
                raise ValueError
        except ValueError:
            self.problems.append(f"{name}={value!r} is not a number >= {minimum:g}: set e.g. {default}")
        return value

    def env_bool(self, name: str, default: str) -> str:
        value = self.env(name, default)
        if value.lower() not in ("true", "false"):
            self.problems.append(f"{name}={value!r} is not a boolean: set True or False")
            return value
        return "True" if value.lower() == "true" else "False"

    def secret(self, key: str, name: str, check: str = "none", required: bool = True) -> str:
        """The lines for a sensitive option ``key``, never holding the secret itself."""
        self.variables.setdefault(name, VariableUse(name, None, "secret"))
        cmd = self.environ.get(f"{name}_CMD", "")
        backend_ref = self.environ.get(f"{name}_SECRET", "")
        value = self.environ.get(name, "")
        if cmd:
            line = f"{key}_cmd = {self._value(f'{name}_CMD', cmd)}"
            if self.run_secret_cmds:
                value = self._run_cmd(f"{name}_CMD", cmd)
        elif backend_ref:
            self.warnings.append(
                f"{name}_SECRET: {key} comes from the secrets backend at runtime and was not checked here"
            )
            return f"{key}_secret = {self._value(f'{name}_SECRET', backend_ref)}"
        elif value:
            self._value(name, value)
            line = f"{key} = ${{{name}}}"
        else:
            if required:
                hint = GENERATE_HINT["fernet" if check == "fernet" else "token"]
                self.problems.append(
                    f"{name} is required for the {self.profile} profile: set {name} (or {name}_CMD / "
                    f"{name}_SECRET)"
                    + (f"; generate one with: {hint}" if check in ("fernet", "token") else "")
                )
            return f"# {key}: not set ({name}, {name}_CMD or {name}_SECRET)"
        if value:
            self.resolved[name] = value
            if cmd and self.run_secret_cmds:
                self._value(f"{name}_CMD's output", value)
            self._check_secret(name, value, check)
        return line

    def _value(self, name: str, value: str) -> str:
        """The one door of every value into airflow.cfg: one line, no control character, ``%`` escaped.

        A line break would let a value add a ``[section]`` (``[secrets] backend = ...``) that Airflow
        reads; this is checked for plain values, secrets, ``*_CMD`` and ``*_SECRET`` alike.
        """
        bad = sorted({f"U+{ord(c):04X}" for c in value if _is_control(c)})
        if bad:
            self.problems.append(
                f"{name} contains a line break or control character ({', '.join(bad)}): "
                "set it to a single-line value"
            )
            return "<refused>"
        return _escape(value)

    # -- checks --------------------------------------------------------------------------------
    def _run_cmd(self, var: str, cmd: str) -> str:
        try:
            proc = subprocess.run(
                shlex.split(cmd),
                capture_output=True,
                text=True,
                timeout=SECRET_CMD_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.problems.append(f"{var}: the command could not run ({type(exc).__name__}): fix the command")
            return ""
        if proc.returncode != 0:
            self.problems.append(
                f"{var}: the command exited {proc.returncode}: fix the command or its input file"
            )
            return ""
        return proc.stdout.strip()

    def _check_secret(self, name: str, value: str, check: str) -> None:
        problem: str | None = None
        hint = GENERATE_HINT["token"]
        if check == "fernet":
            problem, hint = fernet_key_problem(value), GENERATE_HINT["fernet"]
        elif check == "token":
            problem = jwt_secret_problem(value)
        elif check == "sqlalchemy":
            self._check_sql_alchemy_conn(name, value)
        if problem is None:
            return
        message = f"{name} {problem}: generate a new one with: {hint}"
        # An invalid fernet key is not "weak": Airflow cannot start with it, in any profile.
        if self.profile in LENIENT_PROFILES and not (check == "fernet" and fernet_key_invalid(value)):
            self.warnings.append(message + f" (accepted only in the {self.profile} profile)")
        else:
            self.problems.append(message)

    def _check_sql_alchemy_conn(self, name: str, value: str) -> None:
        executor = self.resolved.get("AIRFLOW_OPS_EXECUTOR", PROFILES[self.profile])
        if value.startswith("sqlite") and executor.strip() != "LocalExecutor":
            self.problems.append(
                f"{name} is SQLite but the executor is {executor}: SQLite works only with LocalExecutor;"
                " point it at PostgreSQL (postgresql+psycopg2://user@host:5432/airflow)"
            )
        elif value.startswith("sqlite"):
            self.warnings.append(
                f"{name} is SQLite: fine for a trial, use PostgreSQL for anything that matters"
            )

    def check_admin_password(self, name: str = "AIRFLOW_OPS_ADMIN_PASSWORD") -> str:
        """Validate the admin password the init step creates; it is never rendered into the file."""
        self.variables.setdefault(name, VariableUse(name, None, "admin"))
        value = self.environ.get(name, "")
        lenient = self.profile in LENIENT_PROFILES
        if not value:
            if not lenient:
                self.problems.append(
                    f"{name} is required for the {self.profile} profile: set a strong admin password "
                    f"(at least {MIN_ADMIN_PASSWORD_LENGTH} characters)"
                )
            return ""
        for var, password in ((name, value), (BOT_PASSWORD_VAR, self.environ.get(BOT_PASSWORD_VAR, ""))):
            problem = admin_password_problem(password) if password else None
            if problem:
                message = f"{var} {problem}: choose a strong one, e.g. {GENERATE_HINT['token']}"
                (self.warnings if lenient else self.problems).append(message)
        return ""

    def check_executor(self) -> None:
        executors = [e.strip() for e in self.resolved.get("AIRFLOW_OPS_EXECUTOR", "").split(",")]
        wanted = PROFILES[self.profile]
        if wanted not in executors:
            self.problems.append(
                f"AIRFLOW_OPS_EXECUTOR={','.join(executors)!r} does not include {wanted}, which the "
                f"{self.profile} profile is built for: unset it or list {wanted} first"
            )


def _is_control(char: str) -> bool:
    # C0/C1 controls, DEL, and the Unicode line and paragraph separators (str.splitlines breaks on them)
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _escape(value: str) -> str:
    # airflow.cfg is read by ConfigParser with %-interpolation
    return value.replace("%", "%%")


def render(
    profile: str,
    environ: Mapping[str, str] | None = None,
    template: Path | None = None,
    run_secret_cmds: bool = True,
) -> Rendered:
    """Render ``template`` for ``profile`` from ``environ``; raise ``RenderRefused`` listing every problem."""
    environ = dict(os.environ if environ is None else environ)
    if profile not in PROFILES:
        raise RenderRefused([f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)} (--profile)"])
    template = template or default_template()
    if not template.is_file():
        raise RenderRefused(
            [f"template {template} not found: pass --template or run from the repository root"]
        )
    renderer = _Renderer(profile, environ, run_secret_cmds)
    jenv = jinja2.Environment(  # noqa: S701 - renders an INI file, not HTML
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True
    )
    try:
        source = template.read_text(encoding="utf-8")
        compiled = jenv.from_string(source)
    except UnicodeDecodeError:
        problem = f"template {template} is not UTF-8 text: pass the airflow.cfg.template"
        raise RenderRefused([problem]) from None
    except OSError as exc:
        problem = f"template {template} cannot be read ({exc.strerror}): pass --template"
        raise RenderRefused([problem]) from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderRefused(
            [f"template {template} line {exc.lineno}: {exc.message}: fix the template's Jinja syntax"]
        ) from None
    try:
        text = compiled.render(
            profile=profile,
            profile_executor=PROFILES[profile],
            env=renderer.env,
            env_int=renderer.env_int,
            env_bool=renderer.env_bool,
            env_float=renderer.env_float,
            secret=renderer.secret,
            bundle_defaults={k: f"{v:g}" for k, v in bundle_options().items()},
            check_admin_password=renderer.check_admin_password,
        )
    except jinja2.TemplateError as exc:
        raise RenderRefused(
            [f"template {template}: {type(exc).__name__}: {exc.message}: fix the template"]
        ) from None
    renderer.check_executor()
    if renderer.problems:
        raise RenderRefused(renderer.problems)
    text = text.rstrip("\n") + "\n"
    header = f"# Rendered from {template.name} for the '{profile}' profile by scripts/render_cfg.py.\n"
    return Rendered(profile, header + text, renderer.warnings, list(renderer.variables.values()))


def write_config(
    rendered: Rendered, out: Path, force: bool = False, now: dt.datetime | None = None
) -> Path | None:
    """Write ``rendered`` to ``out``; return the backup path when an existing file was replaced.

    An existing file with exactly the rendered content is left alone (no backup piles up when an init
    step renders at every start).
    """
    backup: Path | None = None
    if out.is_dir():
        raise RenderRefused(
            [f"--out {out} is a directory: pass the file to write, e.g. --out {out / 'airflow.cfg'}"]
        )
    if is_unchanged(rendered, out):
        return None
    if out.exists():
        if not force:
            raise RenderRefused(
                [f"{out} already exists: pass --force to replace it (the old file is kept as a backup)"]
            )
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
        backup = out.with_name(f"{out.name}.bak-{stamp}")
        n = 1
        while backup.exists():
            backup = out.with_name(f"{out.name}.bak-{stamp}-{n}")
            n += 1
        shutil.copy2(out, backup)
    out.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp: a fresh random name opened O_CREAT|O_EXCL, so a symlink planted at a predictable
    # temporary name cannot redirect the write; os.replace then swaps the file in atomically.
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o640)
            handle.write(rendered.text)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return backup


def is_unchanged(rendered: Rendered, out: Path) -> bool:
    """``out`` already holds exactly ``rendered`` (``write_config`` leaves it alone)."""
    try:
        return out.is_file() and out.read_text() == rendered.text
    except (OSError, UnicodeDecodeError):
        return False


#: The maintenance DAGs' API identity in the template's ``simple_auth_manager_users`` (role ``user``).
BOT_USER = "airflow-ops-bot"
BOT_PASSWORD_VAR = "AIRFLOW_OPS_BOT_PASSWORD"  # noqa: S105 - a variable's name


def write_passwords_file(environ: Mapping[str, str], path: Path, user: str = "admin") -> None:
    """Write SimpleAuthManager's passwords file (mode 0600) from ``AIRFLOW_OPS_ADMIN_PASSWORD``, and
    the ``airflow-ops-bot`` identity's from ``AIRFLOW_OPS_BOT_PASSWORD`` when it is set.

    An existing file ends 0600 too (it is replaced, not rewritten in place); a directory created
    for it is 0700.
    """
    password = environ.get("AIRFLOW_OPS_ADMIN_PASSWORD", "")
    if not password:
        raise RenderRefused(
            ["AIRFLOW_OPS_ADMIN_PASSWORD is not set: it is needed to write the passwords file"]
        )
    if path.is_dir():
        raise RenderRefused(
            [
                f"--passwords-file {path} is a directory: pass the file to write, "
                f"e.g. {path / 'passwords.json'}"
            ]
        )
    passwords = {user: password}
    bot = environ.get("AIRFLOW_OPS_BOT_PASSWORD", "")
    if bot:
        if bot == password:
            raise RenderRefused(
                ["AIRFLOW_OPS_BOT_PASSWORD equals the admin password: give airflow-ops-bot its own"]
            )
        passwords[BOT_USER] = bot
    write_secret(path, json.dumps(passwords))


# --------------------------------------------------------------------------- validation
#: type per option: section -> option -> "string" | "integer" | "boolean" | ...
ConfigSchema = dict[str, dict[str, str]]


def bundle_options() -> dict[str, float]:
    """The bundle's own ``[airflow_ops]`` options and their defaults (the Maintenance page's limits)."""
    from airflow_ops.console.page import option_defaults

    return option_defaults()


def airflow_config_schema(extra: Path | None = None) -> ConfigSchema:
    """Sections and options Airflow knows: core ``config.yml``, installed providers, ``extra`` (JSON),
    and the bundle's own ``[airflow_ops]`` section (:func:`bundle_options`)."""
    import importlib.resources

    import yaml

    core = importlib.resources.files("airflow") / "config_templates" / "config.yml"
    schema: ConfigSchema = {}
    for section, body in yaml.safe_load(core.read_text()).items():
        schema[section] = {k: str(v.get("type") or "string") for k, v in (body.get("options") or {}).items()}
    from airflow.providers_manager import ProvidersManager

    for info in ProvidersManager().providers.values():  # type: ignore[no-untyped-call]
        for section, body in (info.data.get("config") or {}).items():
            options = schema.setdefault(section, {})
            options.update(
                {k: str(v.get("type") or "string") for k, v in (body.get("options") or {}).items()}
            )
    if extra is not None:
        for section, options in json.loads(extra.read_text()).items():
            if not section.startswith("_"):
                schema.setdefault(section, {}).update(options)
    schema.setdefault("airflow_ops", {}).update({k: "float" for k in bundle_options()})
    return schema


def schema_problems(text: str, schema: ConfigSchema, sensitive: set[tuple[str, str]]) -> list[str]:
    """Each section/option of ``text`` that Airflow does not know, or whose value has the wrong type."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    problems: list[str] = []
    for section in parser.sections():
        if section not in schema:
            problems.append(f"[{section}] is not an Airflow config section")
            continue
        for option, value in parser.items(section):
            base = option.removesuffix("_cmd").removesuffix("_secret")
            if base != option and option not in schema[section]:
                if (section, base) not in sensitive:
                    problems.append(f"[{section}] {option}: {base} does not accept _cmd/_secret")
                continue
            if option not in schema[section]:
                problems.append(f"[{section}] {option} is not an option of [{section}]")
                continue
            kind = schema[section][option]
            if value.startswith("${"):
                continue
            if kind == "integer" and not value.lstrip("-").isdigit():
                problems.append(f"[{section}] {option} = {value!r} is not an integer")
            elif kind == "boolean" and value.lower() not in ("true", "false"):
                problems.append(f"[{section}] {option} = {value!r} is not a boolean")
            elif kind == "float" and not _is_float(value):
                problems.append(f"[{section}] {option} = {value!r} is not a number")
    return problems


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def lint_findings(
    cfg: Path, home: Path, ignore_options: tuple[str, ...] = (), environ: Mapping[str, str] | None = None
) -> list[str]:
    """Findings of ``airflow config lint`` for ``cfg`` alone (no AIRFLOW__* overrides from this process).

    ``environ`` holds the AIRFLOW_OPS_* values the file refers to, as the components would have them.
    """
    import sys

    airflow_bin = Path(sys.executable).parent / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(environ or {})
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW_CONFIG": str(cfg)})
    args = [str(airflow_bin) if airflow_bin.exists() else "airflow", "config", "lint"]
    if ignore_options:
        args += ["--ignore-option", ",".join(ignore_options)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or ("No issues found" not in proc.stdout and "Found issues" not in proc.stdout):
        return [f"airflow config lint failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"]
    return [line.strip()[2:] for line in proc.stdout.splitlines() if line.strip().startswith("- ")]


def sample_environ(profile: str, **overrides: str) -> dict[str, str]:
    """A complete environment with fresh strong secrets, for validating a profile (CI, tests)."""
    import secrets

    from cryptography.fernet import Fernet

    environ = {
        "AIRFLOW_OPS_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_OPS_SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow@127.0.0.1:5432/airflow",
        "AIRFLOW_OPS_API_SECRET_KEY": secrets.token_urlsafe(48),
        "AIRFLOW_OPS_JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW_OPS_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "AIRFLOW_OPS_BOT_PASSWORD": secrets.token_urlsafe(18),
    }
    if profile == "celery":
        environ["AIRFLOW_OPS_CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
        environ["AIRFLOW_OPS_CELERY_RESULT_BACKEND"] = "db+postgresql://airflow@127.0.0.1:5432/airflow"
    environ.update(overrides)
    return environ


#: lint reports any [core] executor other than its new default (LocalExecutor) as a "changed default"
#: notice; for the celery and kubernetes profiles that executor is the point, so it is ignored there.
LINT_IGNORED_OPTIONS: dict[str, tuple[str, ...]] = {
    "local": (),
    "celery": ("executor",),
    "kubernetes": ("executor",),
}


def validate_profiles(workdir: Path, extra_schema: Path | None = None) -> dict[str, list[str]]:
    """Render every profile with a sample environment, lint it and check it against the schema."""
    from airflow.configuration import conf

    schema = airflow_config_schema(extra_schema)
    sensitive = {(s, k) for s, k in conf.sensitive_config_values}
    results: dict[str, list[str]] = {}
    for profile in PROFILES:
        environ = sample_environ(profile)
        rendered = render(profile, environ, run_secret_cmds=False)
        out = workdir / f"{profile}.cfg"
        write_config(rendered, out, force=True)
        home = workdir / f"home-{profile}"
        home.mkdir(parents=True, exist_ok=True)
        findings = lint_findings(out, home, LINT_IGNORED_OPTIONS[profile], environ)
        findings += schema_problems(rendered.text, schema, sensitive)
        results[profile] = findings
    return results
