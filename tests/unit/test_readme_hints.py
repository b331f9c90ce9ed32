"""Every README section and docs page that an error hint, a DAG doc or a shipped file names exists.

A mention of the README must name its section in quotes (`README 'Configuration'`,
`README, "Supported Airflow releases"`); the name must be a heading of README.md (backticks ignored),
or the start of one up to its parenthesised part (`Metrics` for "Metrics (StatsD, ...)").
A mention of a docs page (`docs/runbooks/restore.md`) must name a page that exists; a section named
after it in quotes (`docs/configuration.md 'Deadline alerts'`) must be a heading of that page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_ops.exceptions import ConfigError
from airflow_ops.registry import parse

REPO = Path(__file__).resolve().parents[2]
#: where users read hints: runtime and tool messages, DAG docs, shipped config and deployment files
SCANNED = (
    "plugins/**/*.py",
    "plugins/**/*.j2",
    "tools/**/*.py",
    "tools/**/*.j2",
    "scripts/*.py",
    "dags/*.py",
    "config/*.yml",
    "deploy/**/*",
    "docker-compose.yaml",
    "airflow.cfg.template",
    ".env.example",
    "Makefile",
)
_MENTION = re.compile(r"README(?!\.md\b)")
_DOCS_MENTION = re.compile(r"\bdocs/([\w./-]+?\.md)\b")
_NAMED = re.compile(r"""^(?:\.md)?\s*(?:,|:|section)?\s*(?:section\s*)?['"“]([^'"”\n]+)['"”]""")


def _normalize(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def readme_sections(page: Path = REPO / "README.md") -> set[str]:
    sections: set[str] = set()
    in_fence = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"^#{1,6} ", line):
            sections.add(_normalize(line.lstrip("#")))
    return sections


def section_exists(name: str, sections: set[str]) -> bool:
    name = _normalize(name)
    return any(s == name or s.startswith(name + " (") for s in sections)


def _scanned() -> list[tuple[Path, str]]:
    out = []
    for pattern in SCANNED:
        for path in sorted(REPO.glob(pattern)):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                out.append((path, path.read_text()))
            except UnicodeDecodeError:
                continue
    return out


def docs_mentions() -> list[tuple[str, int, str, str | None]]:
    """(file, line, docs page, named section or None) for each mention of a page under docs/."""
    found = []
    for path, text in _scanned():
        for match in _DOCS_MENTION.finditer(text):
            named = _NAMED.match(text[match.end() : match.end() + 120])
            line = text.count("\n", 0, match.start()) + 1
            found.append(
                (str(path.relative_to(REPO)), line, match.group(1), named.group(1) if named else None)
            )
    return found


def readme_mentions() -> list[tuple[str, int, str | None]]:
    """(file, line, named section or None) for each mention of the README."""
    found = []
    for pattern in SCANNED:
        for path in sorted(REPO.glob(pattern)):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            for match in _MENTION.finditer(text):
                named = _NAMED.match(text[match.end() : match.end() + 120])
                line = text.count("\n", 0, match.start()) + 1
                found.append((str(path.relative_to(REPO)), line, named.group(1) if named else None))
    return found


def test_the_readme_headings_are_found() -> None:
    sections = readme_sections()
    assert "Configuration" in sections
    assert section_exists("Supported Airflow releases", sections)
    assert not section_exists("Configuration reference", sections)
    assert not section_exists("Supported", sections), "a prefix must end at a word and a parenthesis"


def test_the_docs_headings_are_found() -> None:
    sections = readme_sections(REPO / "docs" / "configuration.md")
    assert "Deadline alerts" in sections
    assert section_exists("Metrics", readme_sections(REPO / "docs" / "metrics.md"))


def test_the_scan_finds_the_hints() -> None:
    files = {f for f, _, _ in readme_mentions()}
    assert "plugins/airflow_ops/config.py" in files
    docs = {f for f, _, _, _ in docs_mentions()}
    assert "plugins/airflow_ops/kinds/metadata_backup/doc.md.j2" in docs
    assert "docker-compose.yaml" in docs


@pytest.mark.parametrize(("file", "line", "page", "section"), docs_mentions(), ids=lambda v: str(v))
def test_every_docs_page_named_exists(file: str, line: int, page: str, section: str | None) -> None:
    path = REPO / "docs" / page
    assert path.is_file(), f"{file}:{line} names docs/{page}, which does not exist"
    if section is not None:
        assert section_exists(section, readme_sections(path)), (
            f"{file}:{line} names section {section!r} of docs/{page}, which that page does not have"
        )


@pytest.mark.parametrize(("file", "line", "section"), readme_mentions(), ids=lambda v: str(v))
def test_every_readme_section_named_exists(file: str, line: int, section: str | None) -> None:
    assert section is not None, f"{file}:{line} mentions the README without naming a section in quotes"
    assert section_exists(section, readme_sections()), (
        f"{file}:{line} names README section {section!r}, which README.md does not have"
    )


def test_the_unknown_key_hint_names_an_existing_section() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"kind": "health_probe", "dag_id": "x", "retentiondays": 1})
    [named] = re.findall(r"README '([^']+)'", caught.value.reason)
    assert section_exists(named, readme_sections())
