"""Issue 14 item 6: every secret a script writes is 0600 in a 0700 directory, and the demo deletes
its secrets on exit."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path
from types import ModuleType

import pytest

from airflow_ops_tools.secretfile import private_dir, remove_secrets, write_secret
from tests.harness import PASSWORDS_FILE, SECRET_NAMES, AirflowStack

REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_secret_creates_0600_and_tightens_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_secret(target, "one")
    assert mode(target) == 0o600 and target.read_text() == "one"
    target.chmod(0o644)
    write_secret(target, "two")
    assert mode(target) == 0o600 and target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"], "no temporary file may be left"


def test_write_secret_makes_the_directory_private(tmp_path: Path) -> None:
    created = write_secret(tmp_path / "new" / "secret", "x")
    assert mode(created.parent) == 0o700
    existing = tmp_path / "home"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    write_secret(existing / "secret", "x", tighten_dir=True)
    assert mode(existing) == 0o700
    assert mode(private_dir(existing)) == 0o700


def _stack(home: Path) -> AirflowStack:
    return AirflowStack(home, "postgresql+psycopg2://u:p@127.0.0.1:5432/airflow_ops_x", home / "dags")


def test_the_harness_writes_every_secret_0600_in_a_0700_home(tmp_path: Path) -> None:
    home = tmp_path / "airflow_home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / PASSWORDS_FILE).write_text("{}")
    (home / PASSWORDS_FILE).chmod(0o644)  # left by an older run
    stack = _stack(home)
    env = stack.env  # writes the fernet key, API secret and JWT secret
    stack.write_passwords_file()  # what migrate() writes before `airflow db migrate`
    assert mode(home) == 0o700
    assert {p.name for p in stack.secret_files} == {f".{n}" for n in SECRET_NAMES} | {PASSWORDS_FILE}
    for path in stack.secret_files:
        assert mode(path) == 0o600, path
    assert env["AIRFLOW__CORE__FERNET_KEY"] == (home / ".fernet_key").read_text()
    assert stack.password in (home / PASSWORDS_FILE).read_text()
    # The same secrets on the next read: a restarted component must see the same keys.
    assert _stack(home).env["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert sorted(stack.remove_secrets()) == sorted(stack.secret_files)
    assert not any(p.exists() for p in stack.secret_files)


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("airflow_ops_demo_script", REPO / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("ending", ["returns", "raises", "interrupted"])
def test_the_demo_removes_its_secrets_on_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    demo = _demo()
    monkeypatch.setattr(demo, "ROOT", tmp_path)
    seen: dict[str, int] = {}

    def fake_run(_args: object, home: Path) -> int:
        # What the real run leaves in the home: the stack's secrets and Airflow's own airflow.cfg.
        stack = _stack(home)
        _ = stack.env
        stack.write_passwords_file()
        write_secret(home / "airflow.cfg", "[api_auth]\njwt_secret = generated\n")
        seen.update({p.name: mode(p) for p in demo.secret_files(home)}, home=mode(home))
        if ending == "raises":
            raise RuntimeError("a component died")
        if ending == "interrupted":
            raise KeyboardInterrupt
        return 0

    monkeypatch.setattr(demo, "_run", fake_run)
    if ending == "raises":
        with pytest.raises(RuntimeError):
            demo.main([])
    else:
        assert demo.main([]) == (0 if ending == "returns" else 130)
    home = tmp_path / ".demo" / "airflow_home"
    assert seen.pop("home") == 0o700
    assert seen == {p.name: 0o600 for p in demo.secret_files(home)}
    assert home.is_dir() and not any(p.exists() for p in demo.secret_files(home))


def test_remove_secrets_ignores_missing_files(tmp_path: Path) -> None:
    present = write_secret(tmp_path / "a", "x")
    assert remove_secrets([present, tmp_path / "b"]) == [present]
