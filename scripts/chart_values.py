#!/usr/bin/env python3
"""The values table of charts/mr-token-sidecar/README.md, generated from values.yaml: every key with
a `# --` comment becomes a row (its path, its default, the comment). `--write` rewrites the table
between the README's `<!-- values:start -->` and `<!-- values:end -->` markers; scripts/check-chart.py
fails when the README's table differs from this, so the two cannot drift."""
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "mr-token-sidecar")
VALUES = os.path.join(CHART, "values.yaml")
README = os.path.join(CHART, "README.md")
START, END = "<!-- values:start -->", "<!-- values:end -->"


def rows():
    """(path, default, description) for every key with a `# --` comment, in file order."""
    values = yaml.safe_load(open(VALUES))
    found, stack, comment = [], [], None
    for line in open(VALUES).read().split("\n"):
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and comment is not None:
            comment.append(stripped[1:].strip())
            continue
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9_]*):", line)
        if not match:
            if stripped == "":
                comment = None
            continue
        depth = len(match.group(1)) // 2
        stack = stack[:depth] + [match.group(2)]
        if comment is not None:
            node = values
            for key in stack:
                node = node[key]
            found.append((".".join(stack), node, " ".join(comment)))
        comment = None
    return found


def default_text(value):
    if isinstance(value, str):
        return '`""`' if value == "" else f"`{value}`"
    if value is None:
        return "`null`"
    return "`" + json.dumps(value, separators=(",", ":")).replace("|", "\\|") + "`"


def table():
    lines = ["| key | default | description |", "|---|---|---|"]
    for path, value, description in rows():
        lines.append(f"| `{path}` | {default_text(value)} | {description.replace('|', chr(92) + '|')} |")
    return "\n".join(lines)


def readme_with_table(text):
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return before + START + "\n" + table() + "\n" + END + after


def uncovered():
    """Leaf values that no row describes (neither the leaf nor an ancestor)."""
    values = yaml.safe_load(open(VALUES))
    described = {path for path, _, _ in rows()}
    missing = []

    def walk(node, path):
        if any(path == d or path.startswith(d + ".") for d in described):
            return
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        else:
            missing.append(path)
    walk(values, "")
    return missing


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        text = open(README).read()
        open(README, "w").write(readme_with_table(text))
        print("charts/mr-token-sidecar/README.md: values table written")
    else:
        print(table())
