"""README.md and docs/: generated sections current and each in one home, links that resolve, a short README.

``mkdocs build --strict`` (``make docs``, a step of ``make test``) checks the links between docs pages;
these tests check what MkDocs does not see: README.md, which is not part of the site.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_ops.registry import KINDS
from airflow_ops_tools import docs, readme

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
#: the README opens the door; the manual is docs/ (issue 20: "at most about 200 lines")
README_MAX_LINES = 200
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", readme.pages(REPO), ids=lambda p: str(p.relative_to(REPO)))
def test_every_generated_section_is_current(page: Path) -> None:
    text = page.read_text()
    assert readme.render(text) == text, f"{page.relative_to(REPO)} is stale: run `.venv/bin/airflow-ops docs`"


def test_every_generated_section_has_exactly_one_home() -> None:
    assert readme.misplaced(REPO) == []


def test_a_missing_or_doubled_section_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("<!-- section:metrics -->\n<!-- /section:metrics -->\n")
    (tmp_path / "docs" / "a.md").write_text("<!-- section:metrics -->\n<!-- /section:metrics -->\n")
    problems = readme.misplaced(tmp_path)
    assert any("section:metrics --> is in 2 places" in p for p in problems)
    assert any("no page holds <!-- section:support-matrix -->" in p for p in problems)


def test_an_unknown_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown generated section 'nope'"):
        readme.render("<!-- section:nope -->\n<!-- /section:nope -->\n")


def test_every_kind_has_a_page_and_a_reference() -> None:
    required = docs.required_sections()
    for kind in KINDS:
        assert (REPO / "docs" / "kinds" / f"{kind}.md").is_file()
        assert f"kind-doc:{kind}" in required
        assert f"config-reference:{kind}" in required


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_reference_lists_every_key_of_a_kind(kind: str) -> None:
    from airflow_ops.schema import CommonConfig

    model = KINDS[kind].schema()
    text = docs.config_reference(kind) + docs.config_reference("common")
    for name in model.model_fields:
        assert f"| `{name}` |" in text, f"{kind}: {name} is not in the configuration reference"
    assert set(CommonConfig.model_fields) <= set(model.model_fields)


def test_the_kind_page_holds_the_dags_own_doc_md() -> None:
    dag_file = (REPO / "dags" / "ops_log_cleanup.py").read_text()
    page = (REPO / "docs" / "kinds" / "log_cleanup.md").read_text()
    first = "**Params.** `retention_days` (int, default 30): retention for this run."
    assert first in dag_file
    assert first in page


def test_the_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    assert lines[0] == "# airflow-ops"
    assert "make demo" in "\n".join(lines[:10]) and "make test" in "\n".join(lines[:10])


def test_the_readme_links_resolve() -> None:
    for target in _LINK.findall(README.read_text()):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = target.split("#", 1)[0]
        assert (REPO / path).exists(), f"README.md links to {target}, which does not exist"


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    for page in sorted((REPO / "docs").rglob("*.md")):
        assert str(page.relative_to(REPO / "docs")) in nav, f"{page} is not in mkdocs.yml's nav"
