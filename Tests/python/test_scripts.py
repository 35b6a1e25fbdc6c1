"""The scripts' checks of what ships: one Swift release (.swift-version) for the tests, the benchmarks
and the image's builder (run against a fake `swift` on PATH that reports another release), and the
locked dependency versions of Package.resolved."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = (ROOT / ".swift-version").read_text().strip()


def fake_swift(folder: Path, version: str) -> dict:
    """An environment whose PATH starts with a `swift` printing `version` as Swift 6.3.1 prints its own."""
    script = folder / "swift"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "Swift version {version} (swift-{version}-RELEASE)"\n'
        'echo "Target: x86_64-unknown-linux-gnu"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


def run_check(mode: str, environment: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f'source scripts/lib.sh && ensure_swift {mode} && echo "toolchain accepted"'],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
    )


def test_another_swift_release_fails_the_test_command(tmp_path):
    result = run_check("strict", fake_swift(tmp_path, "6.2.3"))
    assert result.returncode != 0
    assert "toolchain accepted" not in result.stdout
    assert f"swift is 6.2.3, and this project is built and tested with Swift {RELEASE} (.swift-version)" in result.stderr
    assert f"install Swift {RELEASE}" in result.stderr


def test_another_swift_release_only_warns_the_demo(tmp_path):
    result = run_check("", fake_swift(tmp_path, "6.4"))
    assert result.returncode == 0
    assert "toolchain accepted" in result.stdout
    assert "warning: swift is 6.4" in result.stderr


def test_the_release_of_swift_version_is_accepted(tmp_path):
    result = run_check("strict", fake_swift(tmp_path, RELEASE))
    assert result.returncode == 0, result.stderr
    assert "toolchain accepted" in result.stdout
    assert result.stderr == ""


def test_the_image_builder_is_that_release():
    """The Dockerfile's builder, the README and docs/benchmarks.md name the release of .swift-version."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG BUILDER=swift:{RELEASE}-" in dockerfile
    assert f"Swift {RELEASE}" in (ROOT / "README.md").read_text()
    assert f"Swift version {RELEASE}" in (ROOT / "docs" / "benchmarks.md").read_text()


def resolved_check(tmp_path, change) -> subprocess.CompletedProcess:
    """scripts/check-resolved.py on the committed Package.resolved and a copy changed by `change`."""
    after = json.loads((ROOT / "Package.resolved").read_text())
    change(after["pins"])
    (tmp_path / "after.json").write_text(json.dumps(after))
    return subprocess.run(
        [sys.executable, "scripts/check-resolved.py", "Package.resolved", str(tmp_path / "after.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_another_dependency_version_fails(tmp_path):
    def bump(pins):
        pins[0]["state"]["version"] = "99.0.0"
    result = resolved_check(tmp_path, bump)
    assert result.returncode != 0
    assert "Package.resolved changed" in result.stderr and "99.0.0" in result.stderr


def test_an_added_dependency_fails(tmp_path):
    def add(pins):
        pins.append({**pins[0], "identity": "swift-extra", "location": "https://github.com/example/swift-extra"})
    result = resolved_check(tmp_path, add)
    assert result.returncode != 0
    assert "swift-extra" in result.stderr and "was added" in result.stderr


def test_other_revisions_of_the_same_versions_pass_with_a_note(tmp_path):
    def move(pins):
        pins[1]["state"]["revision"] = "1" * 40
    result = resolved_check(tmp_path, move)
    assert result.returncode == 0, result.stderr
    assert "note: the package source has other commits" in result.stdout
