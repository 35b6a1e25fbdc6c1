"""The token-file readers for applications (Examples/readers: Python, Node.js, Go, C#), run against files that
mr-token-sidecar writes and replaces every second: they wait for the first token, follow every
rotation in each format, and never return an expired, partial or foreign token.

Tokens never reach the test output: the checks compare SHA-256 digests.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Examples" / "readers" / "python"))

from mr_token_file import TokenFile, TokenFileError, parse  # noqa: E402

HERE = Path(__file__).resolve().parent
DURATION = 4.5  # seconds of reading: four rotations at least


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def decoded(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def check_whole(token: str, account_id: str):
    """A whole token of the account: RS256 header, claims naming the account, a 2048-bit signature."""
    header, payload, signature = token.split(".")
    assert json.loads(decoded(header))["alg"] == "RS256"
    assert json.loads(decoded(payload))["aid"] == account_id
    assert len(decoded(signature)) == 256, "a truncated signature: a partial token"


def wait_for_first(paths):
    deadline = time.monotonic() + 30
    while not all(os.path.exists(path) for path in paths):
        assert time.monotonic() < deadline, "the sidecar wrote no token in 30 s"
        time.sleep(0.05)


def test_python_reader_follows_rotations(rotating_sidecar):
    paths = rotating_sidecar["paths"]
    # Created before the first token exists: the first call waits for it.
    readers = {name: TokenFile(path, wait=30, min_validity=0.2) for name, path in paths.items()}
    seen = {name: set() for name in readers}
    end = time.monotonic() + DURATION
    calls = 0
    while time.monotonic() < end:
        for name, reader in readers.items():
            token = reader.get_token("ignored/.default")
            returned_at = time.time()
            calls += 1
            assert token.expires_on > returned_at, f"{name}: an expired token was returned"
            claims = json.loads(decoded(token.token.split(".")[1]))
            assert claims["exp"] == token.expires_on
            check_whole(token.token, rotating_sidecar["account_id"])
            seen[name].add(digest(token.token))
    for name, tokens in seen.items():
        assert len(tokens) >= 3, f"{name}: {len(tokens)} distinct tokens in {DURATION} s, rotations were missed"
    # The three formats carry the same tokens.
    assert len(seen["token"] & seen["json"] & seen["env"]) >= 2
    assert calls > 100


@pytest.fixture(scope="session")
def external_readers(tmp_path_factory):
    """The command of each reader in another language, built here: Node.js runs the module as it
    is; Go and C# (Mono's compiler, the runtime of Unity) compile the reader with a driver."""
    build = tmp_path_factory.mktemp("readers")
    commands = {}
    node = shutil.which("node")
    commands["node"] = [node, str(HERE / "node_reader_check.mjs")] if node else None
    go = shutil.which("go")
    if go:
        environment = {**os.environ, "GOCACHE": str(build / "gocache"), "GOPATH": str(build / "gopath"),
                       "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        subprocess.run([go, "vet", "."], cwd=ROOT / "Examples" / "readers" / "go", env=environment, check=True)
        subprocess.run([go, "build", "-o", str(build / "go_reader_check"), "."], cwd=HERE / "go_reader_check",
                       env=environment, check=True)
        commands["go"] = [str(build / "go_reader_check")]
    else:
        commands["go"] = None
    mcs, mono = shutil.which("mcs"), shutil.which("mono")
    if mcs and mono:
        subprocess.run([mcs, "-langversion:7", "-nologo", "-warnaserror", "-r:System.Runtime.Serialization.dll",
                        f"-out:{build / 'check.exe'}", str(ROOT / "Examples" / "readers" / "csharp" /
                                                             "MixedRealityTokenFile.cs"),
                        str(HERE / "CSharpReaderCheck.cs")], check=True)
        commands["csharp"] = [mono, str(build / "check.exe")]
    else:
        commands["csharp"] = None
    return commands


def external(external_readers, language):
    command = external_readers[language]
    if command is None:
        pytest.fail(f"no toolchain for the {language} reader: scripts/test.sh installs nodejs, golang-go, mono-mcs")
    return command


def normalized(record):
    """The drivers' records in one shape (the C# one carries its header and claims whole)."""
    if "claims" in record:
        record = {**record, "exp": record["claims"]["exp"], "aid": record["claims"]["aid"],
                  "alg": record["header"]["alg"]}
    return record


@pytest.mark.parametrize("language", ["node", "go", "csharp"])
def test_reader_follows_rotations(rotating_sidecar, external_readers, language):
    paths = rotating_sidecar["paths"]
    result = subprocess.run(
        [*external(external_readers, language), "follow", str(int(DURATION * 1000)), *paths.values()],
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    seen = {path: set() for path in paths.values()}
    for line in result.stdout.splitlines():
        record = normalized(json.loads(line))
        assert record["expiresOnTimestamp"] > record["returnedAt"], f"an expired token was returned: {record}"
        assert record["expiresOnTimestamp"] == record["exp"] * 1000
        assert record["aid"] == rotating_sidecar["account_id"]
        assert record["alg"] == "RS256" and record["signatureBytes"] == 256, f"a partial token: {record}"
        seen[record["path"]].add(record["sha256"])
    for path, tokens in seen.items():
        assert len(tokens) >= 3, f"{language}, {path}: {len(tokens)} distinct tokens, rotations were missed"


def hostile_files(rotating_sidecar, directory: Path):
    """A whole token of the sidecar's, and files that hold none."""
    wait_for_first(rotating_sidecar["paths"].values())
    issued = json.loads(Path(rotating_sidecar["paths"]["json"]).read_text())["accessToken"]
    header, payload, signature = issued.split(".")
    claims = json.loads(decoded(payload))

    def with_exp(exp):
        encoded = base64.urlsafe_b64encode(json.dumps({**claims, "exp": exp}).encode()).decode().rstrip("=")
        return f"{header}.{encoded}.{signature}"

    # The sidecar's 2-second tokens may expire while a reader starts: the whole token of these
    # checks is one of them with ten minutes more (the readers do not verify signatures).
    token = with_exp(int(time.time()) + 600)
    expired_payload = with_exp(int(time.time()) - 10).split(".")[1]
    return token, {
        "garbage": "not a token\n",
        "expired": f"{header}.{expired_payload}.{signature}",
        "empty json": '{"accessToken": ""}',
        "env without the token": "MIXED_REALITY_TOKEN_EXPIRES_ON='2030-01-01T00:00:00Z'\n",
        "two segments": f"{header}.{payload}",
    }


def write_later(path: Path, partial: str, whole: str):
    """After a moment, a partial file written in place, then the whole token renamed over it."""
    def run():
        time.sleep(0.3)
        path.write_text(partial)
        time.sleep(0.3)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(whole + "\n")
        os.replace(temporary, path)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_python_reader_waits_and_refuses(rotating_sidecar, tmp_path):
    token, bad = hostile_files(rotating_sidecar, tmp_path)
    path = tmp_path / "late" / "token"
    path.parent.mkdir()
    writer = write_later(path, token[: len(token) // 2], token)
    started = time.monotonic()
    returned = TokenFile(str(path), wait=20, min_validity=0.1).get_token()
    writer.join()
    assert digest(returned.token) == digest(token)
    assert time.monotonic() - started >= 0.5, "returned before the whole token was there"
    for name, text in bad.items():
        path.write_text(text)
        with pytest.raises(TokenFileError) as error:
            TokenFile(str(path), wait=0.3, min_validity=0).get_token()
        assert str(path) in str(error.value), name
        assert text not in str(error.value) or len(text) < 20


@pytest.mark.parametrize("language", ["node", "go", "csharp"])
def test_reader_waits_and_refuses(rotating_sidecar, external_readers, language, tmp_path):
    command = external(external_readers, language)
    token, bad = hostile_files(rotating_sidecar, tmp_path)
    path = tmp_path / "late" / "token"
    path.parent.mkdir()
    writer = write_later(path, token[: len(token) // 2], token)
    result = subprocess.run([*command, "once", "20000", str(path)], capture_output=True, text=True, timeout=60)
    writer.join()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == digest(token)
    for name, text in bad.items():
        path.write_text(text)
        result = subprocess.run([*command, "once", "300", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record.get("error") == "TokenFileError", f"{language}, {name}: {record}"
        assert str(path) in record["message"], name


def blocking_files(token: str, directory: Path):
    """What another container could put at the token path to block or exhaust a reader: a FIFO
    (opening one waits for a writer), and a file of more than 1 MiB that starts with a whole token."""
    fifo = directory / "fifo"
    os.mkfifo(fifo)
    huge = directory / "huge"
    with open(huge, "w") as file:
        file.write(token + "\n" + " " * (2 << 20))
    return {"fifo": (fifo, "not a regular file"), "huge": (huge, "larger than 1 MiB")}


def test_python_reader_never_blocks_on_a_fifo_nor_reads_a_huge_file(rotating_sidecar, tmp_path):
    token, _ = hostile_files(rotating_sidecar, tmp_path)
    for name, (path, problem) in blocking_files(token, tmp_path).items():
        outcome = {}

        def read():
            try:
                outcome["token"] = TokenFile(str(path), wait=0.3, min_validity=0).get_token()
            except TokenFileError as error:
                outcome["error"] = str(error)

        # In a daemon thread: a reader that blocks on the FIFO fails the test instead of hanging it.
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), f"{name}: the reader blocked"
        assert "token" not in outcome, name
        assert str(path) in outcome["error"] and problem in outcome["error"], name


@pytest.mark.parametrize("language", ["node", "go", "csharp"])
def test_reader_never_blocks_on_a_fifo_nor_reads_a_huge_file(rotating_sidecar, external_readers, language,
                                                            tmp_path):
    command = external(external_readers, language)
    token, _ = hostile_files(rotating_sidecar, tmp_path)
    for name, (path, problem) in blocking_files(token, tmp_path).items():
        # A reader that blocks on the FIFO never prints: the timeout fails the test.
        result = subprocess.run([*command, "once", "300", str(path)], capture_output=True, text=True, timeout=20)
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record.get("error") == "TokenFileError", f"{language}, {name}: {record}"
        assert str(path) in record["message"] and problem in record["message"], f"{language}, {name}: {record}"


def grammar_vectors():
    """The token-file grammar's vectors (Tests/Fixtures/token-file-grammar.json, which the Swift readers
    are checked against too) that a reader telling formats apart by content applies: those whose
    content is of their declared format (a JSON array is not read as JSON, it is no JSON object)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps({"aid": "a", "exp": int(time.time()) + 3600}).encode()).decode()
    token = f"{header}.{payload.rstrip('=')}.c2lnbmF0dXJl"
    vectors = json.loads((ROOT / "Tests" / "Fixtures" / "token-file-grammar.json").read_text())["vectors"]

    def detected(content):
        content = content.strip()
        if content.startswith("{"):
            return "json"
        return "env" if "MIXED_REALITY_ACCESS_TOKEN=" in content else "token"

    applied = []
    for vector in vectors:
        content = vector["content"].replace("{TOKEN}", token)
        expected = vector["token"].replace("{TOKEN}", token) if vector["token"] is not None else None
        if vector["format"] == "automatic" or detected(content) == vector["format"]:
            applied.append((vector["name"], content, expected))
    assert len(applied) >= 18
    return applied


def test_python_reader_follows_the_grammar_vectors():
    for name, content, expected in grammar_vectors():
        assert parse(content) == expected, name


@pytest.mark.parametrize("language", ["node", "go", "csharp"])
def test_reader_follows_the_grammar_vectors(external_readers, language, tmp_path):
    vectors = grammar_vectors()
    paths = []
    for index, (_, content, _) in enumerate(vectors):
        path = tmp_path / f"vector-{index}"
        path.write_text(content)
        paths.append(str(path))
    result = subprocess.run([*external(external_readers, language), "parse", "0", *paths],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(vectors)
    for (name, _, expected), record in zip(vectors, records):
        assert record["sha256"] == (digest(expected) if expected is not None else None), f"{language}: {name}"
