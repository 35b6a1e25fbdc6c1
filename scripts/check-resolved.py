#!/usr/bin/env python3
"""Compares Package.resolved as committed (BEFORE) with what `swift package resolve` left (AFTER).

Another version of any package fails: the image would ship dependencies no test ran with. The same
versions at other revisions pass with a note: the package source (a mirror) has other commits
for the same tags, and SwiftPM records those.

    scripts/check-resolved.py BEFORE AFTER
"""
import json
import sys


def pins(path):
    return {pin["identity"]: pin for pin in json.load(open(path))["pins"]}


before, after = pins(sys.argv[1]), pins(sys.argv[2])
problems = []
for identity in sorted(before.keys() | after.keys()):
    old, new = before.get(identity), after.get(identity)
    if old is None:
        problems.append(f"{identity} {new['state'].get('version')} was added")
    elif new is None:
        problems.append(f"{identity} {old['state'].get('version')} was removed")
    elif old["state"].get("version") != new["state"].get("version") or old["location"] != new["location"]:
        problems.append(f"{identity}: {old['location']} {old['state'].get('version')} became "
                        f"{new['location']} {new['state'].get('version')}")
if problems:
    sys.exit("Package.resolved changed: review the new versions (swift package update) and commit them, "
             "or restore the file (git checkout Package.resolved):\n  " + "\n  ".join(problems))
moved = [i for i in sorted(before) if before[i]["state"].get("revision") != after[i]["state"].get("revision")]
if moved:
    print(f"note: the package source has other commits for the versions of {', '.join(moved)}; "
          "SwiftPM recorded those revisions in Package.resolved (docs/kubernetes.md)")
print(f"Package.resolved: {len(after)} packages at the committed versions")
