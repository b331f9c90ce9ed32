#!/usr/bin/env python3
"""Print the host's Debian mirror URIs as `MAIN SECURITY` (deb822 .sources and one-line sources.list).

The stand-in images use exactly the mirror the host is configured for, nothing else.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SUITE = sys.argv[1] if len(sys.argv) > 1 else "bookworm"


def entries() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    apt = Path("/etc/apt")
    for path in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(
                (m.group(1).lower(), m.group(2).split())
                for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M)
            )
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                found += [(uri, fields.get("suites", [])) for uri in fields.get("uris", [])]
    for path in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]:
        if path.is_file():
            for line in path.read_text().splitlines():
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m:
                    found.append((m.group(1), [m.group(2)]))
    return found


def main() -> int:
    main_uri = next((u for u, suites in entries() if SUITE in suites), None)
    security = next((u for u, suites in entries() if f"{SUITE}-security" in suites), None)
    if main_uri is None:
        print(f"no apt source for {SUITE} in /etc/apt: add the Debian mirror the host uses", file=sys.stderr)
        return 2
    print(main_uri.rstrip("/"), (security or "").rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
