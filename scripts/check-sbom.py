#!/usr/bin/env python3
"""Checks the image's SBOM (scripts/sbom.py's output): valid CycloneDX 1.6 JSON by the schema of
cyclonedx-python-lib (the CycloneDX project's own library), every Swift package of
Package.resolved listed with its exact revision, libyaml, and the Debian packages of the files the
image carries (the C runtime, zlib, the CA certificates).

    scripts/check-sbom.py SBOM.json [PACKAGE ...]   (the Debian packages that must be listed)
"""
import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

path, required = sys.argv[1], sys.argv[2:]
text = open(path).read()
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
if error is not None:
    sys.exit(f"{path} is not valid CycloneDX 1.6: {error}")
bom = json.loads(text)
problems = []
components = bom["components"]
listed = {(c.get("group"), c["name"]): c for c in components}
for pin in json.load(open("Package.resolved"))["pins"]:
    group, name = pin["location"].removesuffix(".git").split("/")[-2:]
    component = listed.get((group, name))
    revision = next((p["value"] for p in (component or {}).get("properties", []) if p["name"] == "swift:revision"), None)
    if component is None or revision != pin["state"]["revision"]:
        problems.append(f"{group}/{name} at {pin['state']['revision']} is not listed with that revision")
debian = {c["name"] for c in components if c["purl"].startswith("pkg:deb/")}
for name in ["libyaml-dev"] + required:
    if name not in debian:
        problems.append(f"the Debian package {name} is not listed")
if problems:
    sys.exit(f"{path}:\n  " + "\n  ".join(problems))
print(f"{path}: valid CycloneDX {bom['specVersion']}, {len(components)} components: every Swift package of "
      f"Package.resolved at its revision, and {', '.join(sorted(debian))}")
