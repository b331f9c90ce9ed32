"""The fork CI files (GitHub Actions, GitLab, pre-commit) call the same make targets as .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CI_FILES = (REPO / ".github" / "workflows" / "ci.yml", REPO / ".gitlab-ci.yml")


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z_-]+):", (REPO / "Makefile").read_text(), re.M))


def commands(node: object) -> list[str]:
    """Shell lines of a CI file: GitHub `run` steps, GitLab `script` / `before_script` entries."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "before_script", "entry"):
                items = value if isinstance(value, list) else [value]
                out += [line for item in items for line in str(item).splitlines()]
            else:
                out += commands(value)
    elif isinstance(node, list):
        for item in node:
            out += commands(item)
    return out


def make_calls(lines: list[str]) -> set[str]:
    targets: set[str] = set()
    for line in lines:
        match = re.match(r"\s*make\s+(.*)", line)
        if match:
            targets |= {a for a in match.group(1).split() if "=" not in a and not a.startswith("-")}
    return targets


def ci_make_calls(path: Path) -> set[str]:
    return make_calls(commands(yaml.safe_load(path.read_text())))


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_file_is_valid_yaml(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_file_calls_only_existing_make_targets(path: Path) -> None:
    calls = ci_make_calls(path)
    assert calls, "no make target called"
    assert calls <= makefile_targets()


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_file_runs_the_same_stages(path: Path) -> None:
    text = path.read_text()
    assert "make validate" in text
    assert ".ci/run" in text  # the test stage is exactly what .ci/run runs (make test)
    assert "refs/heads/deploy" in text  # deploy = promoting the tested commit to the synced branch


def test_ci_run_ends_in_make_test() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_github_and_gitlab_call_the_same_targets() -> None:
    github, gitlab = (ci_make_calls(p) for p in CI_FILES)
    assert github == gitlab


def test_pre_commit_runs_ruff_the_generator_check_and_yaml_schemas() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hook_ids = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff-check", "check-generated", "check-github-workflows", "check-gitlab-ci"} <= hook_ids
    assert make_calls(commands(config)) == {"check-generated"}
    assert make_calls(commands(config)) <= makefile_targets()
