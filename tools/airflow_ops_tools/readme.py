"""``airflow-ops docs [--check]`` (alias ``readme``): write the generated sections of README.md and docs/.

A generated section is the text between ``<!-- section:NAME -->`` and ``<!-- /section:NAME -->``
in README.md or any ``docs/**/*.md`` page; its body comes from code (:mod:`airflow_ops_tools.docs`
says what each NAME is generated from). Every required section must be in exactly one page, so a
fact generated from code has one home. ``--check`` exits 1 when a page differs from what would be
written (``make check-generated`` runs it; a unit test too).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from airflow_ops_tools.paths import ROOT

readme_md = ROOT / "README.md"

_OPEN = re.compile(r"<!-- section:([a-z-]+)(?::([a-z_]+))? -->\n")


def pages(root: Path) -> list[Path]:
    """README.md and every page of docs/, in a stable order."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def sections_in(text: str) -> list[str]:
    """The generated sections a page holds, as ``name`` or ``name:argument``."""
    return [m.group(1) + (f":{m.group(2)}" if m.group(2) else "") for m in _OPEN.finditer(text)]


def render(text: str) -> str:
    """``text`` with every generated section's body replaced (unknown section names are errors)."""
    from airflow_ops_tools.docs import SECTIONS

    for full in sections_in(text):
        name, _, arg = full.partition(":")
        if name not in SECTIONS:
            raise ValueError(f"unknown generated section {full!r} (one of {', '.join(SECTIONS)})")
        pattern = re.compile(
            rf"(<!-- section:{re.escape(full)} -->\n).*?(<!-- /section:{re.escape(full)} -->)",
            flags=re.DOTALL,
        )
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"<!-- section:{full} --> has no closing <!-- /section:{full} -->")
        text = text[: match.end(1)] + SECTIONS[name](arg) + text[match.start(2) :]
    return text


def homes(root: Path) -> dict[str, list[Path]]:
    """Section -> the pages that hold it."""
    found: dict[str, list[Path]] = {}
    for page in pages(root):
        if page.is_file():
            for full in sections_in(page.read_text()):
                found.setdefault(full, []).append(page)
    return found


def _names(where: list[Path], root: Path) -> str:
    return ", ".join(str(p.relative_to(root)) for p in where)


def misplaced(root: Path) -> list[str]:
    """Problems with where sections live: a required one missing, or one in two places."""
    from airflow_ops_tools.docs import required_sections

    found = homes(root)
    problems = [f"no page holds <!-- section:{s} -->" for s in required_sections() if s not in found]
    problems += [
        f"<!-- section:{s} --> is in {len(where)} places ({_names(where, root)})"
        for s, where in found.items()
        if len(where) > 1
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    from airflow_ops_tools.contract import run

    return run("docs", _main, argv)


def _main(argv: list[str] | None) -> int:
    from airflow_ops_tools.contract import Parser

    parser = Parser(prog="airflow-ops docs", description=__doc__, command="docs")
    parser.add_argument("--check", action="store_true", help="fail if a generated section is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout holding README.md and docs/")
    args = parser.parse_args(argv)
    problems = misplaced(args.root)
    stale = []
    for page in pages(args.root):
        if not page.is_file():
            continue
        current = page.read_text()
        wanted = render(current)
        if wanted == current:
            continue
        if args.check:
            stale.append(page)
        else:
            page.write_text(wanted)
            print(f"{page.relative_to(args.root)}: updated")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    for page in stale:
        print(f"{page}: generated sections are stale; run `airflow-ops docs`", file=sys.stderr)
    return 1 if problems or stale else 0
