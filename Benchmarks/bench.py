#!/usr/bin/env python3
"""The benchmarks of docs/benchmarks.md, side by side with the Azure SDK for Python, in one run.

Run by Benchmarks/run.sh (which builds release and makes the virtualenv). Starts the release
emulator on loopback and measures:
  1. cold start to token on disk: `mr-token-sidecar run --once` against peer.py and against curl
     (the floor: one process, one TLS handshake, one request), alternating, RUNS times each
     (medians, each client's overhead over curl), with the peak RSS of each run;
  2. idle RSS of the daemons (one account), sampled every 5 s over IDLE_SECONDS once the first
     token's refresh has settled, beside the peer's; one more sidecar is probed as a pod's
     kubelet and Prometheus do;
  3. CPU time of the daemons over the same window;
  4. 1, 100, 1,000 accounts: time until every token is on disk, peak RSS, the emulator's
     requests per second and the most exchanges it saw in flight (against refresh.maxConcurrent);
  5. the webhook under load: AdmissionReviews of a realistic pod over kept-alive TLS connections
     (mr-webhook-load) at 200 a second, then as fast as they are answered over 2, 8 and 16;
  6. the in-process micro-benchmarks (mr-micro-benchmarks).
Writes build/benchmarks/results.json, docs/benchmarks-accounts.png, and the results section of
docs/benchmarks.md.
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import urllib.error
import urllib.request
import socket
import ssl
import threading
import atexit

CHILDREN = []


@atexit.register
def stop_children():
    """Nothing outlives the run, even when it fails half-way."""
    for child in CHILDREN:
        if child.poll() is None:
            child.kill()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
PEER_PYTHON = sys.argv[2]
RUNS = int(os.environ.get("MR_BENCH_RUNS", "20"))
IDLE_SECONDS = int(os.environ.get("MR_BENCH_IDLE_SECONDS", "600"))
WEBHOOK_SECONDS = int(os.environ.get("MR_BENCH_WEBHOOK_SECONDS", "60"))
WEBHOOK_RATE = 200
SATURATION_CONNECTIONS = [2, 8, 16]
SETTLE_SECONDS = 10
# A pod's probes (the chart's: liveness and readiness every 10 s) and a Prometheus scrape interval.
PROBE_SECONDS = 10
SCRAPE_SECONDS = 30
ACCOUNT_COUNTS = [1, 100, 1000]
MAX_CONCURRENT = 8
# Token files go where a deployment puts them: the injected and example pods mount an emptyDir with
# medium: Memory, a tmpfs, and /dev/shm is one (elsewhere the temporary folder is used, and said).
# One more run of 1,000 accounts writes to a disk-backed folder (ON_DISK), where each fsync costs.
SHM = "/dev/shm"
WORK = tempfile.mkdtemp(prefix="mr-bench-", dir=SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None)
SCALING_RUNS = 5
# The emulator listens on 127.0.0.1, outside Azure's hosts: the sidecars this script starts (they
# inherit the environment) may send the account key there, as a deployment would allow a private
# STS endpoint (docs/config.md, "Where secrets may go").
os.environ["MR_TOKEN_SIDECAR_ALLOWED_HOSTS"] = "127.0.0.1"
OUT = os.path.join(ROOT, "build", "benchmarks")
ON_DISK = os.path.join(OUT, "disk")
os.makedirs(OUT, exist_ok=True)


def log(text):
    print(f"==> {text}", flush=True)


class Emulator:
    def __init__(self, accounts):
        self.accounts = accounts
        config = {"accounts": [{"accountId": a, "accountKeys": [k]} for a, k in accounts]}
        path = os.path.join(WORK, "emulator.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.ca = os.path.join(WORK, "ca.pem")
        self.process = subprocess.Popen(
            [os.path.join(BIN, "mr-sts-emulator"), "--config", path, "--ca-out", self.ca, "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        CHILDREN.append(self.process)
        self.url = json.loads(self.process.stdout.readline())["url"]
        self.context = ssl.create_default_context(cafile=self.ca)

    def inject(self, fault):
        request = urllib.request.Request(
            self.url + "/admin/faults", data=json.dumps(fault).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=10):
            pass

    def stats(self):
        with urllib.request.urlopen(self.url + "/admin/stats", context=self.context, timeout=10) as response:
            return json.load(response)

    def stop(self):
        self.process.terminate()
        self.process.wait()


def new_accounts(count):
    return [(str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex) for _ in range(count)]


def sidecar_config(emulator, accounts, folder, server="127.0.0.1:0", system_roots=False):
    """The config of a sidecar for these accounts. The emulator is a private endpoint with a known
    CA: the sidecar trusts that CA alone (tls.systemRoots: false), as curl (--cacert) and the peer
    (REQUESTS_CA_BUNDLE) do; system_roots=True adds the system store (the default config)."""
    os.makedirs(os.path.join(folder, "keys"), exist_ok=True)
    os.makedirs(os.path.join(folder, "out"), exist_ok=True)
    lines = ["accounts:"]
    for index, (account, key) in enumerate(accounts):
        key_file = os.path.join(folder, "keys", str(index))
        with open(key_file, "w") as f:
            f.write(key)
        lines += [
            f"  - name: a{index}", f"    accountId: {account}", "    accountDomain: eastus2.mixedreality.azure.com",
            f"    endpoint: {emulator.url}", f"    credential: {{type: accountKey, keyFile: {key_file}}}",
            f"    output: {{path: {folder}/out/{index}.token, format: token, mode: \"0440\"}}",
        ]
    roots = "" if system_roots else ", systemRoots: false"
    lines += [f"refresh: {{maxConcurrent: {MAX_CONCURRENT}}}", f"tls: {{caFile: {emulator.ca}{roots}}}",
              f"server: {{address: \"{server}\"}}", "log: {level: warning}"]
    path = os.path.join(folder, "config.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def file_system(path):
    """The type of the file system holding path (tmpfs, ext4...): the mount with the longest mount
    point above it in /proc/self/mountinfo."""
    path, best, kind = os.path.realpath(path), "", "?"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point, rest = fields[4], fields[fields.index("-") + 1:]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, rest[0]
    return kind


def timed_run(command, env=None):
    """Wall time and peak RSS (KiB) of one child, from wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{command[0]} failed ({status}): {process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks


class CPUMeter:
    """CPU time of a process from now until stop(), in ms: `perf stat -e task-clock` when perf is
    there (nanoseconds), else /proc/PID/stat (10 ms ticks)."""

    def __init__(self, pid):
        self.pid = pid
        self.output = os.path.join(WORK, f"perf-{pid}.txt")
        self.perf = None
        if shutil.which("perf"):
            self.perf = subprocess.Popen(["perf", "stat", "-e", "task-clock", "-x", ",", "-o", self.output, "-p", str(pid)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.2)
        self.start = cpu_seconds(pid)
        self.kind = "perf task-clock" if self.perf else "/proc ticks"

    def stop(self):
        if self.perf:
            self.perf.send_signal(2)
            self.perf.wait()
            with open(self.output) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) > 2 and parts[2].startswith("task-clock"):
                        # "<not counted>": the process never ran during the window.
                        return float(parts[0]) if parts[0][:1].isdigit() else 0.0
        return (cpu_seconds(self.pid) - self.start) * 1000


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Prober(threading.Thread):
    """Probes a sidecar the way a pod's kubelet and Prometheus do, until stopped: /healthz and
    /readyz every PROBE_SECONDS, /metrics every SCRAPE_SECONDS (a 503 from /readyz is an answer)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stopped, self.requests = port, threading.Event(), 0

    def run(self):
        started = time.time()
        next_probe, next_scrape = started, started
        while not self.stopped.is_set():
            now = time.time()
            paths = []
            if now >= next_probe:
                paths += ["/healthz", "/readyz"]
                next_probe += PROBE_SECONDS
            if now >= next_scrape:
                paths.append("/metrics")
                next_scrape += SCRAPE_SECONDS
            for path in paths:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                        response.read()
                except urllib.error.HTTPError as error:
                    error.read()
                self.requests += 1
            self.stopped.wait(max(0.0, min(next_probe, next_scrape) - time.time()))

    def stop(self):
        self.stopped.set()
        self.join()


def kib(text):
    return int(text.split()[0])


def wait_for(path, timeout=60):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise SystemExit(f"{path} never appeared")
        time.sleep(0.005)


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = 0
    with open("/proc/meminfo") as f:
        memory = int(f.readline().split()[1]) // 1024
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "memoryMiB": memory, "kernel": platform.release(),
            "python": platform.python_version(), "swift": swift}


def main():
    results = {"machine": machine(), "runs": RUNS, "idleSeconds": IDLE_SECONDS}
    peer_env = dict(os.environ, REQUESTS_CA_BUNDLE="")
    accounts = new_accounts(max(ACCOUNT_COUNTS))
    emulator = Emulator(accounts)
    peer_env["REQUESTS_CA_BUNDLE"] = emulator.ca
    account, key = accounts[0]
    one = os.path.join(WORK, "one")
    config = sidecar_config(emulator, [accounts[0]], one, server="")
    # The same sidecar with the system's CA store trusted as well (the default, tls.systemRoots: true).
    one_system = os.path.join(WORK, "one-system")
    config_system = sidecar_config(emulator, [accounts[0]], one_system, server="", system_roots=True)
    system_out = os.path.join(one_system, "out", "0.token")
    # The sidecar as deployed: probed like the kubelet does (liveness /healthz and readiness
    # /readyz every PROBE_SECONDS) and scraped like Prometheus (/metrics every SCRAPE_SECONDS).
    one_probed = os.path.join(WORK, "one-probed")
    probe_port = free_port()
    config_probed = sidecar_config(emulator, [accounts[0]], one_probed, server=f"127.0.0.1:{probe_port}")
    probed_out = os.path.join(one_probed, "out", "0.token")
    key_file = os.path.join(one, "keys", "0")
    sidecar_out = os.path.join(one, "out", "0.token")
    peer_out = os.path.join(one, "out", "peer.token")
    peer = [PEER_PYTHON, os.path.join(ROOT, "Benchmarks", "peer.py"), "--account-id", account,
            "--account-key-file", key_file, "--endpoint", emulator.url, "--out", peer_out]

    curl_out = os.path.join(one, "out", "curl.json")
    # The floor: the same exchange by curl, one process, one TLS handshake, one request.
    # The SDKs' request: the emulator checks Accept and X-MRC-CV as the STS does.
    curl = ["curl", "-sS", "--fail", "--cacert", emulator.ca, "-H", f"Authorization: Bearer {account}:{key}",
            "-H", "Accept: application/json", "-H", "X-MRC-CV: AAAAAAAAAAAAAAAAAAAAAA",
            "-o", curl_out, f"{emulator.url}/Accounts/{account}/token?api-version=2019-02-28-preview"]

    log(f"1. cold start to token on disk, {RUNS} runs each of the sidecar, the peer and curl, alternating")
    names = ("sidecar", "sidecarSystem", "peer", "curl")
    cold = {name + suffix: [] for name in names for suffix in ("", "PeakKiB")}
    for _ in range(RUNS):
        for name in names:
            for path in (sidecar_out, system_out, peer_out, curl_out):
                if os.path.exists(path):
                    os.remove(path)
            if name == "sidecar":
                elapsed, peak = timed_run([os.path.join(BIN, "mr-token-sidecar"), "run", "--once", "--config", config])
                assert os.path.getsize(sidecar_out) > 100
            elif name == "sidecarSystem":
                elapsed, peak = timed_run(
                    [os.path.join(BIN, "mr-token-sidecar"), "run", "--once", "--config", config_system])
                assert os.path.getsize(system_out) > 100
            elif name == "peer":
                elapsed, peak = timed_run(peer, env=peer_env)
                assert os.path.getsize(peer_out) > 100
            else:
                elapsed, peak = timed_run(curl)
                assert os.path.getsize(curl_out) > 100
            cold[name].append(elapsed)
            cold[name + "PeakKiB"].append(peak)
    median_ms = {name: statistics.median(cold[name]) * 1000 for name in names}
    results["coldStart"] = {
        "sidecarSystemMedianMs": median_ms["sidecarSystem"],
        "sidecarSystemOverCurlMs": median_ms["sidecarSystem"] - median_ms["curl"],
        "sidecarSystemPeakMedianKiB": statistics.median(cold["sidecarSystemPeakKiB"]),
        "sidecarSystemAllMs": [round(x * 1000, 2) for x in cold["sidecarSystem"]],
        "sidecarMedianMs": median_ms["sidecar"],
        "peerMedianMs": median_ms["peer"],
        "curlMedianMs": median_ms["curl"],
        "ratio": median_ms["peer"] / median_ms["sidecar"],
        "sidecarOverCurlMs": median_ms["sidecar"] - median_ms["curl"],
        "peerOverCurlMs": median_ms["peer"] - median_ms["curl"],
        "overheadRatio": (median_ms["peer"] - median_ms["curl"]) / max(0.01, median_ms["sidecar"] - median_ms["curl"]),
        "sidecarPeakMedianKiB": statistics.median(cold["sidecarPeakKiB"]),
        "peerPeakMedianKiB": statistics.median(cold["peerPeakKiB"]),
        "curlPeakMedianKiB": statistics.median(cold["curlPeakKiB"]),
        "sidecarAllMs": [round(x * 1000, 2) for x in cold["sidecar"]],
        "peerAllMs": [round(x * 1000, 2) for x in cold["peer"]],
        "curlAllMs": [round(x * 1000, 2) for x in cold["curl"]],
        "fileSystem": file_system(one),
    }
    print(json.dumps(results["coldStart"], indent=1))

    log(f"2-3. idle RSS and CPU of the daemons (three sidecars, one of them probed; the peer): {SETTLE_SECONDS} s after the first token, then {IDLE_SECONDS} s")
    for path in (sidecar_out, system_out, peer_out, probed_out):
        if os.path.exists(path):
            os.remove(path)
    # Copies of the binary, on disk (tmpfs pages cannot be paged out): two processes mapping the
    # same file share its pages, and the kernel's MADV_PAGEOUT (the sidecar's trim once idle)
    # leaves pages mapped twice alone.
    binary_copy = os.path.join(OUT, "mr-token-sidecar-copy")
    probed_copy = os.path.join(OUT, "mr-token-sidecar-probed")
    for copy in (binary_copy, probed_copy):
        shutil.copy2(os.path.join(BIN, "mr-token-sidecar"), copy)
    daemons = {
        "sidecar": subprocess.Popen([os.path.join(BIN, "mr-token-sidecar"), "run", "--config", config],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "sidecarSystem": subprocess.Popen([binary_copy, "run", "--config", config_system],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "sidecarProbed": subprocess.Popen([probed_copy, "run", "--config", config_probed],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "peer": subprocess.Popen(peer + ["--daemon"], env=peer_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    CHILDREN.extend(daemons.values())
    wait_for(sidecar_out)
    wait_for(system_out)
    wait_for(peer_out)
    wait_for(probed_out)
    prober = Prober(probe_port)
    prober.start()
    first = {name: proc_status(p.pid) for name, p in daemons.items()}
    # Settling, sampled every half second: the sidecar closes its idle connection 250 ms after
    # the refresh and gives memory back 500 ms after it; then the window.
    settling = {name: [] for name in daemons}
    started = time.time()
    while time.time() < started + SETTLE_SECONDS:
        for name, process in daemons.items():
            settling[name].append((round(time.time() - started, 1), kib(proc_status(process.pid)["VmRSS"])))
        time.sleep(0.5)
    meters = {name: CPUMeter(p.pid) for name, p in daemons.items()}
    # RSS at every point of the window: sampled every 5 s, the largest kept.
    highest = {name: {"rss": 0, "anon": 0} for name in daemons}
    end = time.time() + IDLE_SECONDS
    while time.time() < end:
        for name, process in daemons.items():
            status = proc_status(process.pid)
            highest[name]["rss"] = max(highest[name]["rss"], kib(status["VmRSS"]))
            highest[name]["anon"] = max(highest[name]["anon"], kib(status["RssAnon"]))
        time.sleep(min(5, max(0, end - time.time())))
    prober.stop()
    idle = {"probeRequests": prober.requests}
    for name, process in daemons.items():
        status = proc_status(process.pid)
        idle[name] = {
            "rssKiB": kib(status["VmRSS"]), "anonKiB": kib(status["RssAnon"]), "fileKiB": kib(status["RssFile"]),
            "maxRssKiB": max(highest[name]["rss"], kib(status["VmRSS"])),
            "maxAnonKiB": max(highest[name]["anon"], kib(status["RssAnon"])),
            "peakKiB": kib(status["VmHWM"]), "rssAtFirstTokenKiB": kib(first[name]["VmRSS"]),
            "cpuMsPerMinute": meters[name].stop() * 60 / IDLE_SECONDS, "cpuMeter": meters[name].kind,
            "settling": settling[name],
        }
        process.terminate()
        process.wait()
    for copy in (binary_copy, probed_copy):
        os.remove(copy)
    idle["rssRatio"] = idle["peer"]["rssKiB"] / idle["sidecar"]["rssKiB"]
    results["idle"] = idle
    print(json.dumps(idle, indent=1))

    log(f"4. 1, 100 and 1,000 accounts: every token on disk ({SCALING_RUNS} runs each)")
    scaling = []
    emulator.stop()

    def scale(count, folder):
        emulator = Emulator(accounts[:count])
        config_n = sidecar_config(emulator, accounts[:count], folder, server="")
        runs = []
        for _ in range(SCALING_RUNS):
            for name in os.listdir(os.path.join(folder, "out")):
                os.remove(os.path.join(folder, "out", name))
            before = emulator.stats()["total"]
            elapsed, peak = timed_run([os.path.join(BIN, "mr-token-sidecar"), "run", "--once", "--config", config_n])
            written = len([n for n in os.listdir(os.path.join(folder, "out")) if n.endswith(".token")])
            assert written == count, f"{written} of {count} tokens on disk"
            runs.append((elapsed, peak, emulator.stats()["total"] - before))
        stats = emulator.stats()
        emulator.stop()
        seconds = statistics.median(run[0] for run in runs)
        return {"accounts": count, "seconds": seconds, "peakKiB": statistics.median(run[1] for run in runs),
                "highestPeakKiB": max(run[1] for run in runs), "allSeconds": [round(run[0], 3) for run in runs],
                "requestsPerSecond": runs[0][2] / seconds, "maxInFlight": stats["maxInFlight"],
                "maxConcurrent": MAX_CONCURRENT, "fileSystem": file_system(folder)}

    for count in ACCOUNT_COUNTS:
        scaling.append(scale(count, os.path.join(WORK, f"n{count}")))
        print(json.dumps(scaling[-1]))
    results["accounts"] = scaling
    shutil.rmtree(ON_DISK, ignore_errors=True)
    results["accountsOnDisk"] = scale(max(ACCOUNT_COUNTS), ON_DISK)
    shutil.rmtree(ON_DISK, ignore_errors=True)
    print(json.dumps(results["accountsOnDisk"]))

    # With 50 ms of STS latency the bound is what limits: exactly maxConcurrent in flight.
    count = max(ACCOUNT_COUNTS)
    emulator = Emulator(accounts[:count])
    emulator.inject({"endpoint": "sts", "count": count, "delayMs": 50})
    folder = os.path.join(WORK, "latency")
    config_n = sidecar_config(emulator, accounts[:count], folder, server="")
    elapsed, peak = timed_run([os.path.join(BIN, "mr-token-sidecar"), "run", "--once", "--config", config_n])
    stats = emulator.stats()
    emulator.stop()
    results["latency"] = {"accounts": count, "delayMs": 50, "seconds": elapsed, "peakKiB": peak,
                          "maxInFlight": stats["maxInFlight"], "maxConcurrent": MAX_CONCURRENT,
                          "floorSeconds": count / MAX_CONCURRENT * 0.05}
    print(json.dumps(results["latency"]))

    log(f"5. the webhook: {WEBHOOK_RATE} reviews a second for {WEBHOOK_SECONDS} s, then as fast as answered")
    results["webhook"] = webhook_benchmark()
    print(json.dumps(results["webhook"], indent=1))

    log("6. in-process micro-benchmarks")
    micro = subprocess.run([os.path.join(BIN, "mr-micro-benchmarks")], capture_output=True, text=True, check=True)
    results["micro"] = json.loads(micro.stdout)
    print(json.dumps(results["micro"], indent=1))

    binary = os.path.join(BIN, "mr-token-sidecar")
    results["binaryBytes"] = os.path.getsize(binary)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    plot(results)
    write_doc(results)
    shutil.rmtree(WORK, ignore_errors=True)


def admission_review():
    """An AdmissionReview of a realistic pod, as the API server sends it: the workload-identity
    fixture with the fields a Deployment's pod carries (env, probes, volumes, managedFields)."""
    with open(os.path.join(ROOT, "Tests", "SidecarInjectorTests", "Fixtures", "admission", "workload-identity.pod.json")) as f:
        pod = json.load(f)
    pod["metadata"]["generateName"] = "anchors-api-7d9f8c6b5-"
    pod["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "anchors-api-7d9f8c6b5",
                                           "uid": str(uuid.uuid4()), "controller": True, "blockOwnerDeletion": True}]
    pod["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {
                                             f"f:{name}": {} for name in pod["metadata"]["labels"]}}}}]
    container = pod["spec"]["containers"][0]
    container["env"] = container.get("env", []) + [{"name": f"APP_SETTING_{n}", "value": f"value-{n}-" + "x" * 24}
                                                   for n in range(24)]
    container["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    container["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
    container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}
    container["volumeMounts"] = container.get("volumeMounts", []) + [
        {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}]
    pod["spec"]["volumes"] = pod["spec"].get("volumes", []) + [{"name": "kube-api-access-abcde", "projected": {
        "defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]
    pod["spec"]["tolerations"] = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                                   "tolerationSeconds": 300}]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                     "uid": str(uuid.uuid4()), "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": pod, "oldObject": None, "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}


def webhook_benchmark():
    folder = os.path.join(WORK, "webhook")
    os.makedirs(folder, exist_ok=True)
    cert, key = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    body = os.path.join(folder, "review.json")
    with open(body, "w") as f:
        json.dump(admission_review(), f)
    stderr = open(os.path.join(folder, "webhook.log"), "w+")
    process = subprocess.Popen(
        [os.path.join(BIN, "mr-token-sidecar"), "webhook", "--address", "127.0.0.1:0", "--probe-address", "127.0.0.1:0",
         "--tls-cert-file", cert, "--tls-key-file", key, "--sidecar-image", "registry.example/mr-token-sidecar:0.1.0"],
        stdout=subprocess.DEVNULL, stderr=stderr)
    CHILDREN.append(process)
    port = None
    deadline = time.time() + 30
    while port is None and time.time() < deadline:
        stderr.seek(0)
        match = re.search(r'webhook listening.*?"mr.listen_address":"127.0.0.1:(\d+)"', stderr.read())
        port = int(match.group(1)) if match else None
        time.sleep(0.05)
    assert port, "the webhook did not start"
    url = f"https://127.0.0.1:{port}/mutate"
    check = subprocess.run(["curl", "-sS", "--fail", "--cacert", cert, "-H", "Content-Type: application/json",
                            "--data-binary", f"@{body}", url], capture_output=True, text=True, check=True)
    answer = json.loads(check.stdout)["response"]
    assert answer["allowed"] and answer.get("patch"), f"the review was not mutated: {answer}"

    def run(arguments):
        rss, cpu_before = 0, cpu_seconds(process.pid)
        load = subprocess.Popen([os.path.join(BIN, "mr-webhook-load"), "--url", url, "--ca", cert, "--body", body]
                                + arguments, stdout=subprocess.PIPE, text=True)
        while load.poll() is None:
            rss = max(rss, kib(proc_status(process.pid)["VmRSS"]))
            time.sleep(0.1)
        result = json.loads(load.stdout.read())
        result["webhookCpuSeconds"] = cpu_seconds(process.pid) - cpu_before
        result["webhookMaxRssKiB"] = rss
        return result

    rate = run(["--connections", "4", "--seconds", str(WEBHOOK_SECONDS), "--rate", str(WEBHOOK_RATE)])
    # As many connections as an API server keeps open to a webhook varies; the rate it reaches
    # depends on it (round trips in flight against contention on 2 cores), so several are tried.
    saturated = [run(["--connections", str(count), "--seconds", str(max(10, WEBHOOK_SECONDS // 3)), "--max"])
                 for count in SATURATION_CONNECTIONS]
    process.terminate()
    process.wait()
    return {"bodyBytes": os.path.getsize(body), "rate": rate, "max": saturated, "cores": os.cpu_count()}


def plot(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    counts = [row["accounts"] for row in results["accounts"]]
    figure, left = plt.subplots(figsize=(7, 4), dpi=120)
    left.plot(counts, [row["seconds"] * 1000 for row in results["accounts"]], "o-", color="tab:blue", label="time until every token is on disk")
    left.set_xscale("log")
    left.set_xlabel("accounts")
    left.set_ylabel("milliseconds", color="tab:blue")
    right = left.twinx()
    right.plot(counts, [row["peakKiB"] / 1024 for row in results["accounts"]], "s--", color="tab:red", label="peak RSS")
    right.set_ylabel("peak RSS (MiB)", color="tab:red")
    right.set_ylim(bottom=0)
    left.set_ylim(bottom=0)
    left.set_title("mr-token-sidecar run --once, account keys, emulator on loopback")
    figure.tight_layout()
    figure.savefig(os.path.join(ROOT, "docs", "benchmarks-accounts.png"))


def write_doc(results):
    c, i, m = results["coldStart"], results["idle"], results["machine"]
    micro = {row["name"]: row for row in results["micro"]}
    lines = [
        "<!-- results:start (written by Benchmarks/run.sh; do not edit by hand) -->",
        f"Last run: {time.strftime('%Y-%m-%d')}, {m['cpu']}, {m['cores']} cores, {m['memoryMiB']} MiB, Linux {m['kernel']}, "
        f"{m['swift']}, Python {m['python']}. Binary: {results['binaryBytes'] / 1e6:.1f} MB "
        f"({results['binaryBytes'] / 2**20:.1f} MiB).",
        "",
        f"### Cold start to token on disk (median of {results['runs']} runs each, alternating)",
        "",
        "The server's time is in every client's figure; curl (one process, one TLS handshake, one request, no file",
        "written atomically) is the floor, and each client's overhead is its time over curl's. Token files on "
        f"{c['fileSystem']}, as deployed (emptyDir, medium: Memory). Each client trusts the emulator's CA alone (curl",
        "`--cacert`, the peer `REQUESTS_CA_BUNDLE`, the sidecar `tls: {caFile, systemRoots: false}`); the second row",
        "adds the system's 140 or so public roots, as the sidecar's default does.",
        "",
        "| | median | over curl | peak RSS (median) |",
        "|---|---|---|---|",
        f"| `mr-token-sidecar run --once` | {c['sidecarMedianMs']:.1f} ms | {c['sidecarOverCurlMs']:.1f} ms | {c['sidecarPeakMedianKiB'] / 1024:.1f} MiB |",
        f"| the same, trusting the system's CA store too (the default) | {c['sidecarSystemMedianMs']:.1f} ms | {c['sidecarSystemOverCurlMs']:.1f} ms | {c['sidecarSystemPeakMedianKiB'] / 1024:.1f} MiB |",
        f"| Azure SDK for Python (peer.py) | {c['peerMedianMs']:.1f} ms | {c['peerOverCurlMs']:.1f} ms | {c['peerPeakMedianKiB'] / 1024:.1f} MiB |",
        f"| curl (the floor) | {c['curlMedianMs']:.1f} ms | | {c['curlPeakMedianKiB'] / 1024:.1f} MiB |",
        f"| ratio | **{c['ratio']:.1f}x faster** | **1/{c['overheadRatio']:.1f} of the peer's overhead** | {c['peerPeakMedianKiB'] / c['sidecarPeakMedianKiB']:.1f}x less |",
        "",
        f"### Idle daemon, one account: RSS sampled every 5 s and CPU over {results['idleSeconds']} s, from {SETTLE_SECONDS} s after the first token ({i['sidecar']['cpuMeter']})",
        "",
        "| | RSS at the end | of it anonymous | of it file-backed | highest RSS in the window | highest anonymous | peak since start | CPU per idle minute |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (("sidecar", "`mr-token-sidecar run`"),
                        ("sidecarSystem", "the same, trusting the system's CA store too (the default)"),
                        ("sidecarProbed", f"`mr-token-sidecar run` probed as in a pod (/healthz and /readyz every {PROBE_SECONDS} s, /metrics every {SCRAPE_SECONDS} s)"),
                        ("peer", "Azure SDK for Python (peer.py --daemon)")):
        d = i[name]
        lines.append(f"| {label} | {d['rssKiB'] / 1024:.1f} MiB | {d['anonKiB'] / 1024:.1f} MiB | {d['fileKiB'] / 1024:.1f} MiB | "
                     f"{d['maxRssKiB'] / 1024:.1f} MiB | {d['maxAnonKiB'] / 1024:.1f} MiB | "
                     f"{d['peakKiB'] / 1024:.1f} MiB | {d['cpuMsPerMinute']:.2f} ms |")
    def settling(name):
        samples = i[name]["settling"]
        picked = [next((rss for t, rss in samples if t >= second), samples[-1][1]) for second in (0, 1, 2, 3, 4, 5, 8)]
        return ", ".join(f"{rss / 1024:.1f}" for rss in picked)
    lines += [
        f"| ratio | {i['rssRatio']:.2f}x less | | | | | | |",
        "",
        "RSS from the first token on (MiB at 0, 1, 2, 3, 4, 5 and 8 s; the idle connection closes 250 ms after the",
        f"refresh, the trim follows 500 ms after it): `mr-token-sidecar run` {settling('sidecar')}; with the system store "
        f"{settling('sidecarSystem')}; probed {settling('sidecarProbed')}; the peer {settling('peer')}.",
        "",
        f"### 1, 100 and 1,000 accounts (`run --once`, `refresh.maxConcurrent: 8`, median of {SCALING_RUNS} runs)",
        "",
        f"Token files on {results['accounts'][0]['fileSystem']}, as the injected and example pods mount them (emptyDir, "
        "medium: Memory); the last row writes the same 1,000 files to a disk-backed folder.",
        "",
        "| accounts | every token on disk | peak RSS (median, highest) | requests/s at the emulator | most exchanges in flight |",
        "|---|---|---|---|---|",
    ]
    for row in results["accounts"] + [results["accountsOnDisk"]]:
        where = f" ({row['fileSystem']})" if row is results["accountsOnDisk"] else ""
        lines.append(f"| {row['accounts']:,}{where} | {row['seconds'] * 1000:.0f} ms | {row['peakKiB'] / 1024:.1f} MiB, "
                     f"{row['highestPeakKiB'] / 1024:.1f} MiB | "
                     f"{row['requestsPerSecond']:.0f} | {row['maxInFlight']} (bound {row['maxConcurrent']}) |")
    latency = results["latency"]
    lines += [
        "",
        f"With 50 ms of STS latency (injected at the emulator) the bound is what limits: {latency['accounts']:,} accounts took "
        f"{latency['seconds']:.2f} s (the floor is {latency['accounts']:,} / {latency['maxConcurrent']} x 50 ms = "
        f"{latency['floorSeconds']:.2f} s), with at most {latency['maxInFlight']} exchanges in flight "
        f"(bound {latency['maxConcurrent']}), peak RSS {latency['peakKiB'] / 1024:.1f} MiB.",
        "",
        "![time and peak RSS against the number of accounts](benchmarks-accounts.png)",
        "",
    ]
    w = results["webhook"]
    lines += [
        f"### The webhook under load (AdmissionReviews of {w['bodyBytes']:,} bytes, kept-alive TLS, {w['cores']} cores shared with the load generator)",
        "",
        "| load | reviews/s answered | p50 | p99 | max | errors | webhook CPU | generator CPU | webhook highest RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(w["rate"], f"{WEBHOOK_RATE}/s for {WEBHOOK_SECONDS} s, {w['rate']['connections']} connections")]
    rows += [(r, f"as fast as answered, {r['connections']} connections") for r in w["max"]]
    for r, label in rows:
        lines.append(f"| {label} | {r['perSecond']:.0f} | {r['p50Ms']:.2f} ms | {r['p99Ms']:.2f} ms | {r['maxMs']:.1f} ms | "
                     f"{r['errors']} | {r['webhookCpuSeconds'] / r['seconds'] * 100:.0f} % of a core | "
                     f"{r['generatorCpuSeconds'] / r['seconds'] * 100:.0f} % of a core | {r['webhookMaxRssKiB'] / 1024:.1f} MiB |")
    lines += [
        "",
        "### In-process micro-benchmarks (release build; median and 90th percentile per operation)",
        "",
        "| operation | median | p90 |",
        "|---|---|---|",
    ]
    for name in ("jwt-expiry-parse", "config-load-1000-accounts", "atomic-write"):
        row = micro[name]
        lines.append(f"| {name} | {fmt(row['medianNanoseconds'])} | {fmt(row['p90Nanoseconds'])} |")
    lines.append("<!-- results:end -->")
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"<!-- results:start.*?<!-- results:end -->", "\n".join(lines), text, flags=re.S)
    with open(path, "w") as f:
        f.write(text)


def fmt(nanoseconds):
    if nanoseconds >= 1e6:
        return f"{nanoseconds / 1e6:.2f} ms"
    if nanoseconds >= 1e3:
        return f"{nanoseconds / 1e3:.2f} µs"
    return f"{nanoseconds:.0f} ns"


if __name__ == "__main__":
    main()
