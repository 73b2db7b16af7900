"""Rewrite references to the modules of groundstation/ that #15 moved (a one-off, kept for the
branches started before it): dotted names (``groundstation.watch`` ->
``groundstation.control.watch``), file paths (``groundstation/watch.py``) and ``from groundstation
import watch`` forms, in every tracked text file but CHANGELOG.md, the measured data of
tests/sitl/data and this script. Idempotent.

    python3 scripts/relayout_15.py        # from the checkout's root; then ruff check --fix (I)
"""
import re
import subprocess
import sys
from pathlib import Path

MOVES = {
    "controller_main": "cli.controller",
    "report": "tools.report",
    "asyncapi": "tools.asyncapi",
    "security": "tools.security",
    "sitesfile": "tools.sitesfile",
    "sharing_rules": "core.sharing_rules",
    "vehicle": "core.vehicle",
    **{m: f"control.{m}" for m in (
        "commands", "services", "watch", "telemetry", "ha", "partition", "dockops",
        "registration", "retention", "sharing", "sharing_store", "trackctl", "trafficctl",
        "videoctl", "cap")},
}
EXTS = {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".cfg", ".txt", ".sh"}
names = "|".join(sorted(MOVES, key=len, reverse=True))
DOTTED = re.compile(rf"\bgroundstation\.({names})\b(?![-/])")
PATHS = re.compile(rf"\bgroundstation/({names}|cli)\.py\b")
FROM = re.compile(rf"\bfrom groundstation import ({names})\b")


def dotted(m: re.Match[str]) -> str:
    return f"groundstation.{MOVES[m.group(1)]}"


def path(m: re.Match[str]) -> str:
    if m.group(1) == "cli":
        return "groundstation/cli/__init__.py"
    return f"groundstation/{MOVES[m.group(1)].replace('.', '/')}.py"


def from_(m: re.Match[str]) -> str:
    parent, _, leaf = MOVES[m.group(1)].rpartition(".")
    return f"from groundstation.{parent} import {leaf}"


def main() -> int:
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    changed = 0
    for name in files:
        p = Path(name)
        if name in ("CHANGELOG.md", "scripts/relayout_15.py"):
            continue
        if p.suffix not in EXTS and not p.name.startswith("Dockerfile"):
            continue
        if name.startswith("tests/sitl/data/") and p.suffix == ".json":
            continue
        if not p.is_file():
            continue
        text = p.read_text(encoding="utf-8")
        new = FROM.sub(from_, PATHS.sub(path, DOTTED.sub(dotted, text)))
        if new != text:
            p.write_text(new, encoding="utf-8")
            changed += 1
    print(f"rewrote {changed} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
