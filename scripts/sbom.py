#!/usr/bin/env python3
"""Writes the image's software bill of materials, CycloneDX 1.6 JSON, on standard output: the
product, every Swift package of Package.resolved with its version and exact revision, libyaml
(Debian's libyaml-dev, linked in statically), and the Debian package of every file staged in the
image (the C runtime, zlib, the CA certificates). Standard library only: it runs in the image's
builder. Deterministic: the same inputs and SOURCE_DATE_EPOCH give the same bytes. The test
command validates it against the CycloneDX schema with cyclonedx-python-lib (scripts/check-sbom.py).

    scripts/sbom.py --version 0.1.0 --resolved Package.resolved --root STAGED_FOLDER
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import uuid

# Files whose package dpkg cannot name: the CA bundle is generated from ca-certificates' own files.
GENERATED = {"/etc/ssl/certs/ca-certificates.crt": "ca-certificates"}
# Ours: the binary and what the build writes.
OWN_PREFIXES = ("/usr/local/bin/mr-token-sidecar", "/usr/share/licenses/mr-token-sidecar/",
                "/usr/share/doc/mr-token-sidecar/", "/etc/passwd", "/etc/group")


def debian_package(name):
    """(name, version, architecture) of an installed Debian package."""
    output = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}", name],
                            capture_output=True, text=True, check=True).stdout
    package, version, architecture = output.split("\t")
    return package, version, architecture


def owner(path):
    """The Debian package that installed `path` (following the loader's links to the real file)."""
    if path in GENERATED:
        return GENERATED[path]
    for candidate in (path, os.path.realpath(path)):
        result = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0].split(",")[0].strip()
    # /lib is a link to /usr/lib on merged-/usr systems: dpkg knows one of the two spellings.
    for (a, b) in (("/usr/lib/", "/lib/"), ("/lib/", "/usr/lib/")):
        if path.startswith(a):
            result = subprocess.run(["dpkg-query", "-S", b + path[len(a):]], capture_output=True, text=True)
            if result.returncode == 0:
                return result.stdout.split(":", 1)[0].split(",")[0].strip()
    sys.exit(f"sbom.py: no Debian package owns {path}: say where it comes from")


def deb_component(name, linkage=None):
    package, version, architecture = debian_package(name)
    purl = f"pkg:deb/debian/{package}@{version.replace(':', '%3A')}?arch={architecture}"
    component = {"type": "library", "bom-ref": purl, "name": package, "version": version, "purl": purl,
                 "supplier": {"name": "Debian"}}
    if linkage:
        component["properties"] = [{"name": "mr-token-sidecar:linkage", "value": linkage}]
    return component


def swift_components(resolved):
    pins = json.load(open(resolved))["pins"]
    components = []
    for pin in sorted(pins, key=lambda p: p["identity"]):
        location = pin["location"].removesuffix(".git")
        state = pin["state"]
        host_path = location.split("://", 1)[1]
        version = state.get("version") or state["revision"]
        purl = f"pkg:swift/{host_path}@{version}"
        group, name = host_path.split("/")[-2:]
        components.append({
            "type": "library", "bom-ref": purl, "group": group, "name": name, "version": version, "purl": purl,
            "externalReferences": [{"type": "vcs", "url": location}],
            "properties": [{"name": "swift:revision", "value": state["revision"]},
                           {"name": "mr-token-sidecar:linkage", "value": "static"}],
        })
    return components


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", required=True)
    parser.add_argument("--resolved", required=True)
    parser.add_argument("--root", required=True, help="the staged image files")
    options = parser.parse_args()

    components = swift_components(options.resolved) + [deb_component("libyaml-dev", "static")]
    packages = set()
    for folder, _, files in os.walk(options.root):
        for file in files:
            path = "/" + os.path.relpath(os.path.join(folder, file), options.root)
            if not path.startswith(OWN_PREFIXES):
                packages.add(owner(path))
    components += [deb_component(name, "image file") for name in sorted(packages)]

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    timestamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    product = {"type": "application", "bom-ref": f"pkg:generic/mr-token-sidecar@{options.version}",
               "name": "mr-token-sidecar", "version": options.version,
               "purl": f"pkg:generic/mr-token-sidecar@{options.version}",
               "licenses": [{"license": {"id": "MIT"}}]}
    bom = {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"timestamp": timestamp, "component": product,
                     "tools": {"components": [{"type": "application", "name": "scripts/sbom.py"}]}},
        "components": components,
        "dependencies": [{"ref": product["bom-ref"], "dependsOn": [c["bom-ref"] for c in components]}]
                        + [{"ref": c["bom-ref"]} for c in components],
    }
    # The same content, the same serial number.
    content = json.dumps(bom, sort_keys=True)
    bom["serialNumber"] = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "mr-token-sidecar-sbom:" + content))
    json.dump(bom, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


main()
