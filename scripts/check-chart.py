#!/usr/bin/env python3
"""Checks charts/mr-token-sidecar: helm lint (strict), values.schema.json (every value set passes,
wrong values are rejected), offline rendering of the defaults and of every ci/*-values.yaml, and
what the rendered objects must hold. Writes the rendered YAML to build/chart/<set>/ for
kubernetes-validate and checkov (run by check-kubernetes.sh). Uses helm-python-sdk (no helm binary)."""
import base64
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

import helm_python as helm
import promql_parser
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart_values  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "mr-token-sidecar")
OUT = os.path.join(ROOT, "build", "chart")
NAMESPACE = "mr-token-sidecar"
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL {message}", file=sys.stderr)


def value_sets():
    sets = {"defaults": {}}
    ci = os.path.join(CHART, "ci")
    for name in sorted(os.listdir(ci)):
        if name.endswith("-values.yaml"):
            with open(os.path.join(ci, name)) as f:
                sets[name[: -len("-values.yaml")]] = yaml.safe_load(f) or {}
    return sets


def lint(values, **options):
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, **options)
    return report.get("errors", []) + [m["error"] for m in report.get("messages", []) if m["severity"] >= 2]


def objects(rendered):
    found = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                found.append(document)
    return found


def by_kind(found, kind):
    return [o for o in found if o["kind"] == kind]


def certificate_names(pem):
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        out = subprocess.run(
            ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", f.name],
            capture_output=True, text=True, check=True).stdout
    return [part.strip()[4:] for part in out.split("\n", 1)[-1].split(",") if part.strip().startswith("DNS:")]


def verify(ca_pem, leaf_pem):
    with tempfile.TemporaryDirectory() as d:
        ca, leaf = os.path.join(d, "ca.pem"), os.path.join(d, "leaf.pem")
        open(ca, "w").write(ca_pem)
        open(leaf, "w").write(leaf_pem)
        return subprocess.run(["openssl", "verify", "-CAfile", ca, leaf], capture_output=True).returncode == 0


def exported_metrics():
    """The metric names the code exports: the described families of SidecarMetrics and
    WebhookMetrics, the build info and process_* of MetricsRegistry (a Swift test checks that a
    running sidecar exports each), with the series a histogram adds."""
    names = set()
    for path in ["Sources/TokenSidecar/Metrics/SidecarMetrics.swift", "Sources/SidecarInjector/WebhookMetrics.swift",
                 "Sources/DaemonSupport/MetricsRegistry.swift"]:
        text = open(os.path.join(ROOT, path)).read()
        names |= set(re.findall(r'"((?:mr|process)_[a-z_]+)"', text))
    for name in list(names):
        if name.endswith("_seconds") and "duration" in name:
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def metric_names(expression):
    """The metric names an expression selects (parsing fails on bad syntax)."""
    found = set()
    parsed = promql_parser.parse(expression)

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.add(node.name)
        for attribute in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attribute, None)
            if isinstance(child, promql_parser.Expr):
                visit(child)
        for child in getattr(node, "args", None) or []:
            if isinstance(child, promql_parser.Expr):
                visit(child)
    visit(parsed)
    return found


def selects(selector, labels):
    """Whether a label selector ({matchLabels, matchExpressions} or a plain map) selects `labels`."""
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if not all(labels.get(k) == v for k, v in match.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def check_selectors(name, found):
    """The webhook's Service, PodDisruptionBudget and NetworkPolicy select its pods and no other:
    not the `helm test` pod, which answers no review, may not count against a drain, and needs DNS."""
    deployment = by_kind(found, "Deployment")[0]
    webhook_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pods = [o for o in found if o["kind"] == "Pod"]
    selectors = [(f"Service {o['metadata']['name']}", o["spec"]["selector"]) for o in by_kind(found, "Service")]
    selectors += [(f"PodDisruptionBudget {o['metadata']['name']}", o["spec"]["selector"])
                  for o in by_kind(found, "PodDisruptionBudget")]
    policies = by_kind(found, "NetworkPolicy")
    webhook_policies = [p for p in policies if selects(p["spec"]["podSelector"], webhook_labels)]
    selectors += [(f"NetworkPolicy {o['metadata']['name']}", o["spec"]["podSelector"]) for o in webhook_policies]
    for what, selector in selectors:
        check(selects(selector, webhook_labels), f"{name}: {what} does not select the webhook's pods")
        for pod in pods:
            check(not selects(selector, pod["metadata"]["labels"]),
                  f"{name}: {what} selects the pod {pod['metadata']['name']}, which is not the webhook")
    for pod in pods:
        own = [p for p in policies if selects(p["spec"]["podSelector"], pod["metadata"]["labels"])]
        if policies:
            check(len(own) == 1 and not selects(own[0]["spec"]["podSelector"], webhook_labels),
                  f"{name}: the pod {pod['metadata']['name']} has a NetworkPolicy of its own")
            egress = own[0]["spec"].get("egress", []) if own else []
            check(any(port["port"] == 53 for rule in egress for port in rule.get("ports", [])),
                  f"{name}: the pod {pod['metadata']['name']} may reach DNS")
            check(any(selects(peer.get("podSelector", {"matchLabels": {"-": "-"}}), webhook_labels)
                      for rule in egress for peer in rule.get("to", [])),
                  f"{name}: the pod {pod['metadata']['name']} may reach the webhook")


def package(version):
    """`helm package` with the version and appVersion of VERSION, as a registry receives it."""
    destination = os.path.join(ROOT, "build", "chart-package")
    os.makedirs(destination, exist_ok=True)
    archive = helm.package(CHART, destination=destination, version=version, app_version=version)
    with tarfile.open(archive) as tar:
        packaged = yaml.safe_load(tar.extractfile("mr-token-sidecar/Chart.yaml"))
        names = tar.getnames()
    check(packaged["version"] == version and packaged["appVersion"] == version, f"{archive}: version")
    check("mr-token-sidecar/values.schema.json" in names and "mr-token-sidecar/README.md" in names,
          f"{archive}: the schema and README are packaged")
    check(not any("/ci/" in n or n.endswith("checkov-skips.txt") for n in names),
          f"{archive}: the CI value sets stay out (.helmignore)")
    print(f"chart packaged: {os.path.relpath(archive, ROOT)}")


# The webhook's flags that set the injected sidecars (InjectionOptions, shared with `inject`), and
# those of its own server: the chart may pass no other.
SETTINGS_FLAGS = {
    "sidecar-image", "sidecar-image-pull-policy", "legacy-sidecar", "sidecar-port", "sidecar-resources",
    "token-volume-size-limit", "allowed-credentials", "allow-image-override", "allowed-image-registries",
    "max-sidecar-cpu", "max-sidecar-memory", "sidecar-allowed-hosts", "sidecar-allowed-scopes",
    "sidecar-ca-configmap", "sidecar-ca-secret", "sidecar-ca-key", "sidecar-log-level", "sidecar-env",
}
SERVER_FLAGS = {
    "address", "probe-address", "tls-cert-file", "tls-key-file", "certificate-check-interval", "max-connections",
    "request-timeout", "idle-timeout", "body-timeout", "shutdown-delay", "log-level", "log-format",
}
BUILD_TIME = os.path.join(ROOT, "manifests", "build-time", "workloads.yaml")


def check_inject_values(name, values, webhook_args):
    """`inject --values` with a value set gives what `inject` with the flags the chart renders for
    the webhook gives: the same bytes, warnings and exit status (MR_INJECT_BIN, set by
    check-kubernetes.sh)."""
    binary = os.environ.get("MR_INJECT_BIN")
    if not binary:
        return
    flags = []
    for argument in webhook_args[1:]:
        flag = argument[2:].split("=", 1)[0]
        check(flag in SETTINGS_FLAGS | SERVER_FLAGS, f"{name}: the chart passes the webhook an unknown flag {flag}")
        if flag in SETTINGS_FLAGS:
            flags.append(argument)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values, file)
        file.flush()
        by_flags = subprocess.run([binary, "inject", "-f", BUILD_TIME, *flags], capture_output=True, text=True)
        by_values = subprocess.run([binary, "inject", "-f", BUILD_TIME, "--values", file.name],
                                   capture_output=True, text=True)
    check(by_flags.returncode in (0, 1), f"{name}: inject with the webhook's flags: {by_flags.stderr}")
    check((by_values.returncode, by_values.stdout, by_values.stderr)
          == (by_flags.returncode, by_flags.stdout, by_flags.stderr),
          f"{name}: inject --values differs from inject with the webhook's flags:\n{by_values.stderr}\n{by_flags.stderr}")


def main():
    chart = helm.Chart.load(CHART)
    schema = chart.schema
    check(schema is not None, "the chart has a values.schema.json")

    # Every value in values.yaml is described by the schema (additionalProperties: false all the way).
    def walk(values, node, path):
        for key, value in values.items():
            child = (node.get("properties") or {}).get(key)
            check(child is not None, f"values.yaml {path}{key} is not in values.schema.json")
            if child is not None and isinstance(value, dict) and child.get("properties"):
                walk(value, child, f"{path}{key}.")
    walk(chart.values, schema, "")

    # One version: VERSION, the chart's version and appVersion, the manifests' image tag and the
    # changelog agree (scripts/set-version.sh writes them all).
    version = open(os.path.join(ROOT, "VERSION")).read().strip()
    metadata = chart.metadata
    check(metadata["version"] == version and metadata["appVersion"] == version,
          f"Chart.yaml version {metadata['version']} / appVersion {metadata['appVersion']} differ from VERSION {version}: run scripts/set-version.sh {version}")
    for key in ("home", "sources", "icon", "maintainers"):
        check(metadata.get(key), f"Chart.yaml has no {key}")
    # Artifact Hub: the license, the image at this version, the links.
    annotations = metadata.get("annotations", {})
    check(annotations.get("artifacthub.io/license") == "MIT", "Chart.yaml: artifacthub.io/license")
    images = yaml.safe_load(annotations.get("artifacthub.io/images", "[]"))
    check([i["image"] for i in images] == [f"mr-token-sidecar:{version}"],
          f"Chart.yaml: artifacthub.io/images names mr-token-sidecar:{version} (scripts/set-version.sh writes it)")
    check(len(yaml.safe_load(annotations.get("artifacthub.io/links", "[]"))) >= 2, "Chart.yaml: artifacthub.io/links")
    package(version)
    for directory, _, files in os.walk(os.path.join(ROOT, "manifests")):
        for file in files:
            for tag in re.findall(r"image: mr-token-sidecar:(\S+)", open(os.path.join(directory, file)).read()):
                check(tag == version, f"manifests/{file}: image tag {tag} differs from VERSION {version}")
    check(f"## {version}" in open(os.path.join(ROOT, "CHANGELOG.md")).read(), f"CHANGELOG.md has no section for {version}")

    # The README's values table is generated from values.yaml, and describes every value.
    readme = open(os.path.join(CHART, "README.md")).read()
    check(chart_values.readme_with_table(readme) == readme,
          "charts/mr-token-sidecar/README.md: the values table differs from values.yaml; run python3 scripts/chart_values.py --write")
    check(chart_values.uncovered() == [], f"values without a '# --' description: {chart_values.uncovered()}")

    # Wrong values are rejected by the schema, naming the key.
    wrong = [
        ({"webhook": {"replicaCount": "two"}}, "replicaCount"),
        ({"webhook": {"replicas": 2}}, "replicas"),
        ({"webhook": {"failurePolicy": "Maybe"}}, "failurePolicy"),
        ({"webhook": {"timeoutSeconds": 60}}, "timeoutSeconds"),
        ({"sidecar": {"nativeSidecar": "yes"}}, "nativeSidecar"),
        ({"sidecar": {"resources": {"limits": {"memory": "lots"}}}}, "memory"),
        ({"image": {"digest": "latest"}}, "digest"),
        ({"tls": {"certManager": {"issuerRef": {"name": "ca", "kind": "Cluster"}}}}, "kind"),
        ({"networkPolicy": {"apiServerCIDRs": ["api.example"]}}, "apiServerCIDRs"),
        ({"webhook": {"certificateCheckInterval": 5}}, "certificateCheckInterval"),
        ({"policy": {"allowedCredentials": ["accountKey", "hostPath"]}}, "allowedCredentials"),
        ({"policy": {"allowedCredentials": []}}, "allowedCredentials"),
        ({"policy": {"maxResources": {"cpu": "a lot"}}}, "cpu"),
        ({"policy": {"imageOverride": {"allowedRegistries": ["a,b"]}}}, "allowedRegistries"),
        ({"sidecar": {"allowedHosts": ["https://sts.example"]}}, "allowedHosts"),
        ({"sidecar": {"allowedScopes": ["a,b"]}}, "allowedScopes"),
        ({"sidecar": {"caBundle": {"configMap": "ca", "secret": "ca"}}}, "caBundle"),
        ({"sidecar": {"caBundle": {"configMap": "Corp_CA"}}}, "configMap"),
        ({"webhook": {"maxConnections": 0}}, "maxConnections"),
        ({"webhook": {"requestTimeout": "soon"}}, "requestTimeout"),
        ({"webhook": {"podDisruptionBudget": {"maxUnavailable": "one"}}}, "maxUnavailable"),
        ({"sidecar": {"logLevel": "loud"}}, "logLevel"),
        ({"sidecar": {"env": [{"name": "MR_TOKEN_SIDECAR_ALLOWED_HOSTS", "value": "x"}]}}, "env"),
        ({"webhook": {"shutdownDelay": 5}}, "shutdownDelay"),
        ({"tls": {"caBundle": "not base64!"}}, "caBundle"),
        ({"monitoring": {"podMonitor": {"namespaces": "all"}}}, "namespaces"),
        ({"monitoring": {"prometheusRule": {"tokenExpiryHours": 48}}}, "tokenExpiryHours"),
        ({"commonLabels": {"team": 7}}, "team"),
        ({"commonAnnotations": {"team": 7}}, "team"),
        ({"webhook": {"matchConditions": [{"name": "x"}]}}, "expression"),
    ]
    for values, key in wrong:
        try:
            chart.validate_schema(values)
            check(False, f"schema accepted {values}")
        except helm.HelmError as error:
            check(key in str(error), f"schema error for {values} does not name {key}: {error}")
        check(lint(values) != [], f"helm lint accepted {values}")

    for name, values in value_sets().items():
        chart.validate_schema(values)
        problems = lint(values)
        check(problems == [], f"helm lint --strict ({name}): {problems}")
        rendered = chart.render(values, name="mr", namespace=NAMESPACE, is_install=True)
        found = objects(rendered)
        check(any(p.endswith("NOTES.txt") and rendered[p].strip() for p in rendered), f"{name}: NOTES.txt renders")
        directory = os.path.join(OUT, name)
        os.makedirs(directory, exist_ok=True)
        for old in os.listdir(directory):
            os.remove(os.path.join(directory, old))
        # Core objects for kubernetes-validate; cert-manager's and Prometheus Operator's custom
        # resources apart.
        is_custom = lambda o: o["apiVersion"].startswith(("cert-manager.io/", "monitoring.coreos.com/"))
        core = [o for o in found if not is_custom(o)]
        custom = [o for o in found if is_custom(o)]
        with open(os.path.join(directory, "core.yaml"), "w") as f:
            yaml.safe_dump_all(core, f, sort_keys=False)
        if custom:
            with open(os.path.join(directory, "custom-resources.yaml"), "w") as f:
                yaml.safe_dump_all(custom, f, sort_keys=False)

        merged = chart.merge_values(values)
        [configuration] = by_kind(found, "MutatingWebhookConfiguration")
        [hook] = configuration["webhooks"]
        check(hook["failurePolicy"] == merged["webhook"]["failurePolicy"], f"{name}: failurePolicy")
        check(hook["sideEffects"] == "None", f"{name}: sideEffects None")
        check(hook["admissionReviewVersions"] == ["v1"], f"{name}: AdmissionReview v1")
        check(hook["reinvocationPolicy"] == "IfNeeded", f"{name}: reinvocationPolicy IfNeeded")
        check(hook["objectSelector"] == merged["webhook"]["objectSelector"], f"{name}: objectSelector")
        check(hook["rules"][0]["operations"] == ["CREATE", "UPDATE"] and hook["rules"][0]["resources"] == ["pods"],
              f"{name}: rules")
        # Updates that leave the spec alone (labels, owners) never wait for the webhook.
        check([c["expression"] for c in hook.get("matchConditions", [])][:1]
              == ["request.operation != 'UPDATE' || object.spec != oldObject.spec"], f"{name}: matchConditions")
        excluded = hook["namespaceSelector"]["matchExpressions"][0]
        check(excluded["operator"] == "NotIn" and NAMESPACE in excluded["values"], f"{name}: own namespace excluded")
        check(hook["clientConfig"]["service"]["path"] == "/mutate", f"{name}: path /mutate")

        [deployment] = by_kind(found, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        args = container["args"]
        check(deployment["spec"]["replicas"] == merged["webhook"]["replicaCount"], f"{name}: replicas")
        check(pod["automountServiceAccountToken"] is False, f"{name}: no service account token")
        check(container["securityContext"]["readOnlyRootFilesystem"] is True, f"{name}: read-only root")
        check(("--legacy-sidecar" in args) == (not merged["sidecar"]["nativeSidecar"]), f"{name}: --legacy-sidecar")
        sidecar_image = next(a.split("=", 1)[1] for a in args if a.startswith("--sidecar-image="))
        image = merged["sidecar"]["image"] if merged["sidecar"]["image"]["repository"] else merged["image"]
        check(sidecar_image.startswith(image["repository"]), f"{name}: sidecar image {sidecar_image}")
        resources = json.loads(next(a.split("=", 1)[1] for a in args if a.startswith("--sidecar-resources=")))
        check(resources == merged["sidecar"]["resources"], f"{name}: sidecar resources")
        # The cluster admin's policy reaches the webhook as flags.
        policy = merged["policy"]
        flag = lambda prefix: next((a.split("=", 1)[1] for a in args if a.startswith(prefix + "=")), None)
        check(flag("--allowed-credentials") == ",".join(policy["allowedCredentials"]), f"{name}: --allowed-credentials")
        check(("--allow-image-override" in args) == policy["imageOverride"]["enabled"], f"{name}: --allow-image-override")
        check(flag("--max-sidecar-cpu") == (policy["maxResources"]["cpu"] or None), f"{name}: --max-sidecar-cpu")
        check(flag("--max-sidecar-memory") == (policy["maxResources"]["memory"] or None), f"{name}: --max-sidecar-memory")
        check(flag("--sidecar-allowed-hosts") == (",".join(merged["sidecar"]["allowedHosts"]) or None),
              f"{name}: --sidecar-allowed-hosts")
        check(flag("--sidecar-allowed-scopes") == (",".join(merged["sidecar"]["allowedScopes"]) or None),
              f"{name}: --sidecar-allowed-scopes")
        bundle = merged["sidecar"]["caBundle"]
        check(flag("--sidecar-ca-configmap") == (bundle["configMap"] or None), f"{name}: --sidecar-ca-configmap")
        check(flag("--sidecar-ca-secret") == (bundle["secret"] or None), f"{name}: --sidecar-ca-secret")
        check(flag("--sidecar-ca-key") == (bundle["key"] if bundle["configMap"] or bundle["secret"] else None),
              f"{name}: --sidecar-ca-key")
        check(flag("--max-connections") == str(merged["webhook"]["maxConnections"]), f"{name}: --max-connections")
        check(flag("--body-timeout") == merged["webhook"]["bodyTimeout"], f"{name}: --body-timeout")
        budget = merged["webhook"]["podDisruptionBudget"]
        budgets = by_kind(found, "PodDisruptionBudget")
        check(len(budgets) == (1 if budget["enabled"] else 0), f"{name}: PodDisruptionBudget")
        for pdb in budgets:
            # A budget must never block node drains: maxUnavailable unless minAvailable is chosen.
            expected = {"minAvailable": budget["minAvailable"]} if budget.get("minAvailable") is not None else \
                {"maxUnavailable": budget["maxUnavailable"]}
            check({k: v for k, v in pdb["spec"].items() if k != "selector"} == expected, f"{name}: PDB {pdb['spec']}")
        policies = by_kind(found, "NetworkPolicy")
        check(len(policies) == (2 if merged["networkPolicy"]["enabled"] else 0), f"{name}: NetworkPolicy")
        check_selectors(name, found)
        for network in [p for p in policies if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "webhook"]:
            check(network["spec"]["egress"] == [] and "Egress" in network["spec"]["policyTypes"], f"{name}: no egress")
            ports = [p["port"] for rule in network["spec"]["ingress"] for p in rule["ports"]]
            check(merged["webhook"]["port"] in ports, f"{name}: the webhook port is reachable")
            check((merged["webhook"]["probePort"] in ports) == bool(merged["networkPolicy"]["metricsNamespaceSelector"]),
                  f"{name}: /metrics only from the namespaces chosen")
        check(by_kind(found, "Role") == [] and by_kind(found, "ClusterRole") == [], f"{name}: no API permissions")
        [account] = by_kind(found, "ServiceAccount")
        check(account.get("automountServiceAccountToken") is False, f"{name}: service account token off")

        # Every object carries the common labels and annotations (its own annotations win).
        for o in found:
            labels = o["metadata"].get("labels", {})
            check(all(labels.get(k) == v for k, v in merged.get("commonLabels", {}).items()),
                  f"{name}: {o['kind']} {o['metadata']['name']} lacks commonLabels")
            annotations = o["metadata"].get("annotations", {})
            check(all(k in annotations for k in merged.get("commonAnnotations", {})),
                  f"{name}: {o['kind']} {o['metadata']['name']} lacks commonAnnotations")
        check([c["name"] for c in hook.get("matchConditions", [])][1:]
              == [c["name"] for c in merged["webhook"]["matchConditions"]], f"{name}: webhook.matchConditions")
        check([v["name"] for v in pod["volumes"][1:]] == [v["name"] for v in merged["webhook"]["extraVolumes"]]
              and [m["name"] for m in container["volumeMounts"][1:]] == [m["name"] for m in merged["webhook"]["extraVolumeMounts"]],
              f"{name}: extraVolumes and extraVolumeMounts")
        check(("--sidecar-log-level=" + merged["sidecar"]["logLevel"] in args) == bool(merged["sidecar"]["logLevel"]),
              f"{name}: --sidecar-log-level")
        if merged["sidecar"]["env"]:
            check(json.loads(flag("--sidecar-env")) == merged["sidecar"]["env"], f"{name}: --sidecar-env")
        check(flag("--shutdown-delay") == merged["webhook"]["shutdownDelay"], f"{name}: --shutdown-delay")
        check(all(a in args for a in merged["webhook"]["extraArgs"]), f"{name}: extraArgs")
        for o in by_kind(found, "Service"):
            own = merged["webhook"]["service"]["annotations"]
            check(all(o["metadata"].get("annotations", {}).get(k) == v for k, v in own.items()),
                  f"{name}: the Service's own annotations win over commonAnnotations")
        check([p["name"] for p in container["ports"]] == ["https", "metrics"], f"{name}: named ports")

        # The helm test pod runs webhook-check against the Service with the Secret's (or caBundle's) CA.
        tests = [o for o in found if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test" and o["kind"] == "Pod"]
        check(len(tests) == 1 and tests[0]["spec"]["containers"][0]["args"][0] == "webhook-check", f"{name}: helm test")

        # Monitoring: what each switch renders, and every expression parses and names exported metrics.
        monitoring = merged["monitoring"]
        for kind, key in [("ServiceMonitor", "serviceMonitor"), ("PodMonitor", "podMonitor"),
                          ("PrometheusRule", "prometheusRule")]:
            check(len(by_kind(found, kind)) == (1 if monitoring[key]["enabled"] else 0), f"{name}: {kind}")
        exported = exported_metrics() | {"up"}
        expressions = [rule["expr"] for o in by_kind(found, "PrometheusRule") for group in o["spec"]["groups"]
                       for rule in group["rules"]]
        dashboards = [c for c in by_kind(found, "ConfigMap") if "mr-token-sidecar.json" in c.get("data", {})]
        check(len(dashboards) == (1 if monitoring["grafanaDashboard"]["enabled"] else 0), f"{name}: dashboard")
        for dashboard in dashboards:
            board = json.loads(dashboard["data"]["mr-token-sidecar.json"])
            check(all(k in dashboard["metadata"]["labels"] for k in monitoring["grafanaDashboard"]["labels"]),
                  f"{name}: dashboard label")
            # Grafana's layout: every panel has a whole-number position and size inside the 24 columns.
            for panel in board["panels"]:
                grid = panel.get("gridPos", {})
                check(all(isinstance(grid.get(k), int) for k in "xywh") and grid["x"] + grid["w"] <= 24,
                      f"{name}: dashboard panel {panel.get('title')}: gridPos {grid}")
            expressions += [t["expr"].replace("$__rate_interval", "5m").replace("$namespace", ".*")
                            for p in board["panels"] for t in p.get("targets", [])]
        for expression in expressions:
            try:
                names = metric_names(expression)
            except Exception as error:
                check(False, f"{name}: PromQL does not parse: {expression}: {error}")
                continue
            check(names and names <= exported, f"{name}: {expression} names {sorted(names - exported)}, which the code does not export")
        for monitor in by_kind(found, "PodMonitor"):
            check(monitor["spec"]["podMetricsEndpoints"][0]["port"] == "mr-metrics", f"{name}: PodMonitor port")
        for monitor in by_kind(found, "ServiceMonitor"):
            check(monitor["spec"]["endpoints"][0]["port"] == "metrics", f"{name}: ServiceMonitor port")

        service = by_kind(found, "Service")[0]["metadata"]["name"]
        if merged["tls"].get("existingSecret"):
            check(hook["clientConfig"]["caBundle"] == merged["tls"]["caBundle"], f"{name}: caBundle from tls.caBundle")
            check(by_kind(found, "Secret") == [] and custom == [] or all(c["kind"] != "Certificate" for c in custom),
                  f"{name}: no Secret or Certificate with existingSecret")
            check(pod["volumes"][0]["secret"]["secretName"] == merged["tls"]["existingSecret"], f"{name}: existingSecret mounted")
        elif merged["tls"]["certManager"]["enabled"]:
            check("cert-manager.io/inject-ca-from" in configuration["metadata"].get("annotations", {}), f"{name}: CA injection")
            serving = [c for c in custom if c["kind"] == "Certificate" and c["metadata"]["name"] == service]
            check(len(serving) == 1 and f"{service}.{NAMESPACE}.svc" in serving[0]["spec"]["dnsNames"], f"{name}: serving Certificate")
        else:
            [secret] = by_kind(found, "Secret")
            ca = base64.b64decode(secret["data"]["ca.crt"]).decode()
            leaf = base64.b64decode(secret["data"]["tls.crt"]).decode()
            check(hook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"], f"{name}: caBundle is the Secret's CA")
            check(f"{service}.{NAMESPACE}.svc" in certificate_names(leaf), f"{name}: the certificate names the Service")
            check(verify(ca, leaf), f"{name}: the serving certificate chains to the CA")
        # GitOps: without the chart's own generated CA, the same inputs render the same output.
        if merged["tls"].get("existingSecret") or merged["tls"]["certManager"]["enabled"]:
            again = chart.render(values, name="mr", namespace=NAMESPACE, is_install=True)
            check(again == rendered, f"{name}: helm template is not stable for the same inputs")
        [deployment] = [d for d in by_kind(found, "Deployment") if d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "webhook"]
        check_inject_values(name, values, deployment["spec"]["template"]["spec"]["containers"][0]["args"])
        print(f"chart ({name}): lint, schema and rendering checked, {len(found)} objects")

    if failures:
        print(f"{len(failures)} chart check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
