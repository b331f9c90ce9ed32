"""Which log roots a cleanup refuses (issue 23): each system directory, homes, protected folders.

The expected answers are written out here, not read from the module: the system directories
are listed by hand, and the homes come from /etc/passwd read line by line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_ops.logcleanup.roots import (
    DangerousRootError,
    LogRoot,
    airflow_roots,
    check_root,
    home_directories,
    protected_paths,
)

SYSTEM = [
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/local",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/tmp",
]


@pytest.mark.parametrize("path", SYSTEM)
def test_every_system_directory_is_refused(path: str) -> None:
    with pytest.raises(DangerousRootError, match=f"the system directory '{path}'"):
        check_root(LogRoot("x", path, source="extra_roots[0]"), {}, homes=set())


def test_a_link_to_a_system_directory_is_refused_as_what_it_resolves_to(tmp_path: Path) -> None:
    (tmp_path / "logs").symlink_to("/etc")
    with pytest.raises(DangerousRootError, match="the system directory '/etc'"):
        check_root(LogRoot("x", str(tmp_path / "logs")), {}, homes=set())


def test_a_subdirectory_of_var_log_is_a_log_root() -> None:
    assert check_root(LogRoot("x", "/var/log/airflow"), {}, homes=set()) == "/var/log/airflow"


def test_a_root_that_contains_a_home_directory_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "homes" / "alice"
    root = LogRoot("x", str(tmp_path), source="extra_roots[1]")
    with pytest.raises(DangerousRootError) as caught:
        check_root(root, {}, homes={str(home)})
    assert str(caught.value) == (
        f"refusing log root {str(tmp_path)!r} (extra_roots[1]): it is or contains the home directory "
        f"{str(home)!r}; set extra_roots[1] to the directory that holds only Airflow logs"
    )


def test_a_root_that_is_a_home_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DangerousRootError, match="is or contains the home directory"):
        check_root(LogRoot("x", str(tmp_path)), {}, homes={str(tmp_path)})


def test_a_log_directory_inside_a_home_is_accepted(tmp_path: Path) -> None:
    """``~/airflow/logs`` is where a local Airflow keeps its logs."""
    logs = tmp_path / "airflow" / "logs"
    assert check_root(LogRoot("x", str(logs)), {}, homes={str(tmp_path)}) == str(logs)


def test_a_home_whose_name_only_starts_like_the_root_is_not_inside_it(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    assert check_root(LogRoot("x", str(root)), {}, homes={str(tmp_path / "logs2")}) == str(root)


def test_home_directories_holds_the_users_home_and_every_passwd_home_but_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = tmp_path / "me"
    me.mkdir()
    monkeypatch.setenv("HOME", str(me))
    listed = {
        line.split(":")[5] for line in Path("/etc/passwd").read_text().splitlines() if line.count(":") >= 6
    }
    expected = {os.path.realpath(h) for h in listed if h not in ("", "/")} | {str(me)}
    homes = home_directories()
    assert homes == expected
    assert "/" not in homes


def test_without_homes_given_the_users_home_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = tmp_path / "me"
    me.mkdir()
    monkeypatch.setenv("HOME", str(me))
    with pytest.raises(DangerousRootError, match="home directory"):
        check_root(LogRoot("x", str(tmp_path)), {})


@pytest.mark.parametrize(
    ("root", "folder"),
    [
        pytest.param("{t}/plugins", "{t}/plugins", id="is-the-folder"),
        pytest.param("{t}/plugins/logs", "{t}/plugins", id="inside-the-folder"),
        pytest.param("{t}", "{t}/plugins", id="contains-the-folder"),
    ],
)
def test_a_root_overlapping_a_protected_folder_is_refused(tmp_path: Path, root: str, folder: str) -> None:
    r, f = root.format(t=tmp_path), folder.format(t=tmp_path)
    with pytest.raises(DangerousRootError) as caught:
        check_root(LogRoot("x", r, source="extra_roots[0]"), {"[core] plugins_folder": f}, homes=set())
    assert str(caught.value) == (
        f"refusing log root {r!r} (extra_roots[0]): it overlaps the [core] plugins_folder {f!r}; "
        "set extra_roots[0] to the directory that holds only Airflow logs"
    )


def test_an_unset_protected_folder_protects_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    assert check_root(LogRoot("x", str(logs)), {"[core] dags_folder": ""}, homes=set()) == str(logs)


def test_a_sibling_whose_name_only_starts_like_a_protected_folder_is_accepted(tmp_path: Path) -> None:
    logs = tmp_path / "dags-logs"
    protected = {"[core] dags_folder": str(tmp_path / "dags")}
    assert check_root(LogRoot("x", str(logs)), protected, homes=set()) == str(logs)


@pytest.mark.parametrize("path", [pytest.param("", id="empty"), pytest.param("logs", id="relative")])
def test_a_root_that_is_not_absolute_is_refused_naming_its_source(path: str) -> None:
    with pytest.raises(DangerousRootError) as caught:
        check_root(LogRoot("task-logs", path, source="[logging] base_log_folder"), {}, homes=set())
    assert str(caught.value) == (
        f"log root {path!r} ([logging] base_log_folder) is not an absolute path; "
        "set [logging] base_log_folder to the directory that holds only Airflow logs"
    )


def test_a_root_without_source_names_its_label_in_the_fix() -> None:
    with pytest.raises(DangerousRootError, match="; set extra-3 to the directory"):
        check_root(LogRoot("extra-3", "logs"), {}, homes=set())


def test_the_roots_come_from_this_workers_airflow_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", "/data/airflow/logs")
    monkeypatch.setenv("AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY", "/data/airflow/dp")
    assert airflow_roots(True, True, ["/a", "/b"]) == [
        LogRoot("task-logs", "/data/airflow/logs", dag_layout=True, source="[logging] base_log_folder"),
        LogRoot(
            "dag-processor",
            "/data/airflow/dp",
            dag_layout=False,
            source="[logging] dag_processor_child_process_log_directory",
        ),
        LogRoot("extra-0", "/a", source="extra_roots[0]"),
        LogRoot("extra-1", "/b", source="extra_roots[1]"),
    ]
    assert airflow_roots(False, False, []) == []
    assert airflow_roots(False, True, []) == [
        LogRoot(
            "dag-processor", "/data/airflow/dp", source="[logging] dag_processor_child_process_log_directory"
        )
    ]


def test_the_protected_folders_are_this_workers_dags_and_plugins_folders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", "/opt/airflow/dags")
    monkeypatch.setenv("AIRFLOW__CORE__PLUGINS_FOLDER", "/opt/airflow/plugins")
    assert protected_paths() == {
        "[core] dags_folder": "/opt/airflow/dags",
        "[core] plugins_folder": "/opt/airflow/plugins",
    }


def test_a_protected_folder_at_slash_covers_every_root(tmp_path: Path) -> None:
    with pytest.raises(DangerousRootError, match="overlaps the x '/'"):
        check_root(LogRoot("x", str(tmp_path / "logs")), {"x": "/"}, homes=set())


def test_an_unset_protected_folder_does_not_end_the_checks(tmp_path: Path) -> None:
    protected = {"[core] plugins_folder": "", "[core] dags_folder": str(tmp_path)}
    with pytest.raises(DangerousRootError, match="overlaps the \\[core\\] dags_folder"):
        check_root(LogRoot("x", str(tmp_path / "logs")), protected, homes=set())


def test_folders_set_empty_in_the_configuration_protect_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", "")
    monkeypatch.setenv("AIRFLOW__CORE__PLUGINS_FOLDER", "")
    assert protected_paths() == {"[core] dags_folder": "", "[core] plugins_folder": ""}


def test_a_root_whose_name_ends_in_x_still_contains_its_homes_and_folders(tmp_path: Path) -> None:
    """Only slashes are stripped from a path before the containment test, never a letter."""
    root = tmp_path / "logsX"
    with pytest.raises(DangerousRootError, match="is or contains the home directory"):
        check_root(LogRoot("x", str(root)), {}, homes={str(root / "alice")})
    with pytest.raises(DangerousRootError, match="overlaps the \\[core\\] dags_folder"):
        check_root(LogRoot("x", str(root)), {"[core] dags_folder": str(root / "dags")}, homes=set())


def test_a_configuration_without_the_folders_protects_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """``dags_folder`` and ``plugins_folder`` removed (defaults too): empty, not an error, not a path."""
    import copy

    from airflow_ops import compat

    monkeypatch.delenv("AIRFLOW__CORE__DAGS_FOLDER", raising=False)
    monkeypatch.delenv("AIRFLOW__CORE__PLUGINS_FOLDER", raising=False)
    conf = copy.deepcopy(compat.conf())
    conf.remove_option("core", "dags_folder")
    conf.remove_option("core", "plugins_folder")
    monkeypatch.setattr(compat, "conf", lambda: conf)
    assert protected_paths() == {"[core] dags_folder": "", "[core] plugins_folder": ""}
