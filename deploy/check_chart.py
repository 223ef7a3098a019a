"""Renders deploy/helm/monitors-mcp offline and checks what comes out.

Run through deploy/check-chart, which installs what this needs. It uses the
Helm SDK (helm.sh/helm/v4, through the helm-python-sdk bindings: the same
chart loader, template engine, linter and values-schema validation as the
helm command) and kubernetes-validate (the Kubernetes API's own JSON schemas,
strict: unknown fields are errors). No cluster is needed, none is contacted.

For each set of values that must render: `helm lint --strict`, the values
schema, `helm template`, every document parsed as YAML and validated against
the Kubernetes schemas of the oldest supported and the newest known version,
and then what the chart promises (settings, probes, hooks, security context).
For each set that must not render: the render fails with the expected message.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dockerfile
import helm_python as helm
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
CHART = DEPLOY / "helm" / "monitors-mcp"
KUBE_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, a test key
OLD_KEY = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="

REQUIRED = {
    "config": {"publicUrl": "https://mcp.example.com"},
    "secret": {"databaseUrl": "mysql://monitors:pw@mariadb:3306/monitors", "encryptionKey": KEY},
}

EVERYTHING = {
    "image": {"repository": "registry.example.com/monitors-mcp", "tag": "0.1.0-rc1"},
    "imagePullSecrets": [{"name": "registry"}],
    "config": {
        "publicUrl": "https://mcp.example.com/",
        "allowedHosts": ["monitors-mcp-gateway.monitoring.svc"],
        "allowedOrigins": ["https://claude.ai"],
        "shardCount": 512,
        "leaseTtl": "20s",
        "logFilter": "info,alert_worker=debug",
        "egressAllowlist": ["10.0.0.0/8", "relay.internal"],
        "influx": {"url": "http://influxdb.monitoring:8086", "database": "markets"},
        "extraEnv": {
            "MONITORS_MIN_INTERVAL": "30s",
            "MONITORS_INFLUX_STATEMENTS_PER_REQUEST": 1,
            "MONITORS_NOTIFY_CONCURRENCY": "32",
        },
    },
    "secret": {
        "databaseUrl": "mariadb://monitors:pw@mariadb:3306/monitors",
        "encryptionKey": KEY,
        "encryptionOldKeys": OLD_KEY,
        "redisUrl": "redis://:pw@redis:6379/0",
        "influxToken": "influx-token",
    },
    "gateway": {
        "metricsPort": 9091,
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 6},
        "podAnnotations": {"example.com/team": "alerts"},
        "podLabels": {"team": "alerts"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "mcp", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}},
            }
        ],
        "priorityClassName": "high",
    },
    "worker": {
        "replicas": 4,
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "worker"}},
                        },
                    }
                ]
            }
        },
    },
    "migration": {"serviceAccountName": "migrations"},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        "hosts": ["mcp.example.com", "mcp.example.org"],
    },
    "networkPolicy": {
        "enabled": True,
        "gatewayFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
    },
}


def merged(*layers: dict) -> dict:
    out: dict = {}
    for layer in layers:
        out = deep_merge(out, layer)
    return out


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Renders that must succeed: (name, release name, values).
GOOD = [
    ("required values only", "monitors-mcp", REQUIRED),
    ("every optional feature on", "prod", merged(REQUIRED, EVERYTHING)),
    (
        "existing Secret",
        "monitors-mcp",
        {"config": {"publicUrl": "http://10.0.0.5:8080"}, "secret": {"existingSecret": "monitors-credentials"}},
    ),
    (
        "InfluxDB 1.x user, workers naming themselves, no PDBs or migration",
        "mcp",
        merged(
            REQUIRED,
            {
                "config": {"influx": {"url": "http://influx:8086", "username": "reader"}},
                "secret": {"influxPassword": "pw"},
                "worker": {"pdb": {"enabled": False}},
                "gateway": {"pdb": {"enabled": False}, "preStopSleepSeconds": 0},
                "migration": {"enabled": False},
                "ingress": {"enabled": True, "hosts": ["mcp.example.com"], "tls": {"enabled": False}},
                "serviceAccount": {"create": False},
                "bindAddress": "::",
            },
        ),
    ),
]


def without(values: dict, *path: str) -> dict:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


# Renders that must fail: (name, values, text the error must contain, whether
# the templates refuse it too, without the values schema: `helm template
# --skip-schema-validation` or a schema-less tool).
BAD = [
    ("no encryption key", without(REQUIRED, "secret", "encryptionKey"), "secret.encryptionKey is required", True),
    ("no database URL", without(REQUIRED, "secret", "databaseUrl"), "secret.databaseUrl is required", True),
    ("no public URL", without(REQUIRED, "config", "publicUrl"), "config.publicUrl is required", True),
    ("a short key", merged(REQUIRED, {"secret": {"encryptionKey": "c2hvcnQ="}}), "encryptionKey", True),
    ("SQLite", merged(REQUIRED, {"secret": {"databaseUrl": "sqlite://./data/monitors.db"}}), "databaseUrl", True),
    ("rediss", merged(REQUIRED, {"secret": {"redisUrl": "rediss://redis:6380"}}), "redisUrl", True),
    ("https InfluxDB", merged(REQUIRED, {"config": {"influx": {"url": "https://influx:8086"}}}), "influx", True),
    (
        "InfluxDB token and user",
        merged(REQUIRED, {"config": {"influx": {"username": "u"}}, "secret": {"influxToken": "t"}}),
        "not both",
        True,
    ),
    ("ingress without hosts", merged(REQUIRED, {"ingress": {"enabled": True}}), "ingress.hosts", True),
    (
        "a secret in extraEnv",
        merged(REQUIRED, {"config": {"extraEnv": {"MONITORS_REDIS_URL": "redis://r"}}}),
        "is a secret",
        True,
    ),
    (
        "a chart-set variable in extraEnv",
        merged(REQUIRED, {"config": {"extraEnv": {"MONITORS_LISTEN": "x"}}}),
        "set by the chart",
        True,
    ),
    ("a non-MONITORS extraEnv", merged(REQUIRED, {"config": {"extraEnv": {"RUST_LOG": "debug"}}}), "RUST_LOG", True),
    ("zero shards", merged(REQUIRED, {"config": {"shardCount": 0}}), "shardCount", False),
    ("a bare number as lease TTL", merged(REQUIRED, {"config": {"leaseTtl": "15"}}), "leaseTtl", False),
    ("a misspelt key", merged(REQUIRED, {"gateway": {"replica": 3}}), "replica", False),
]


class Failed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def source_settings() -> set[str]:
    """The MONITORS_* variables the binaries read: the fields of their
    configuration structs (figment maps MONITORS_X to the field x), plus
    MONITORS_LOG (the tracing filter) and MONITORS_CONFIG."""
    names = {"MONITORS_LOG", "MONITORS_CONFIG"}
    for path in [
        "mcp-gateway/src/config.rs",
        "alert-worker/src/config.rs",
        "shared-models/src/config/mod.rs",
    ]:
        text = (ROOT / path).read_text()
        text = text.split("#[cfg(test)]")[0]
        for struct in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
            if struct.group(1) in {"Config", "SourceSettings", "NotifySettings", "ChangeSettings", "WorkerConfig"}:
                names |= {"MONITORS_" + f.upper() for f in re.findall(r"pub (\w+):", struct.group(2))}
    return names


def render(values: dict, release: str) -> tuple[dict[str, str], list[dict]]:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        files = chart.render(values, name=release, namespace="monitoring", is_install=True)
    docs = []
    for name, text in files.items():
        if name.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                docs.append(doc)
    return files, docs


@contextlib.contextmanager
def stderr_to_file():
    """Lint mode logs each `required` and `fail` it skips, from Go, straight
    to file descriptor 2; keep that aside."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def lint(values: dict) -> None:
    with stderr_to_file():
        report = helm.lint(str(CHART), values, strict=True, namespace="monitoring")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + [
        {"error": e} for e in report.get("errors") or []
    ]
    check(not problems, f"helm lint --strict: {problems}")


def validate_kubernetes(docs: list[dict]) -> None:
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            # A CRD: kubernetes-validate has no schema for it; check its shape.
            check(doc["kind"] == "ServiceMonitor", "unexpected CRD kind")
            check(doc["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor scrapes the metrics port")
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise Failed(f"{doc['kind']}/{doc['metadata']['name']} on Kubernetes {version}: {e.message} at {list(e.path)}")


def kustomize(docs: list[dict]) -> str:
    """`kubectl kustomize` over the rendered objects: an offline parse that
    also refuses two objects of the same kind and name. Skipped without kubectl."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return "kubectl not found, skipped"
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for n, doc in enumerate(docs):
            name = f"{n:02}.yaml"
            Path(tmp, name).write_text(yaml.safe_dump(doc))
            names.append(name)
        Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump({"resources": names}))
        run = subprocess.run([kubectl, "kustomize", tmp], capture_output=True, text=True)
        check(run.returncode == 0, f"kubectl kustomize: {run.stderr.strip()}")
    return "kubectl kustomize ok"


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, component: str | None = None) -> dict:
    found = [
        d
        for d in by_kind(docs, kind)
        if component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    check(len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}")
    return found[0]


def env_of(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def check_promises(name: str, release: str, values: dict, docs: list[dict], settings: set[str]) -> None:
    v = merged(helm.Chart.load(str(CHART)).values, values)
    existing = v["secret"]["existingSecret"]

    # Every variable the chart sets is one the binaries read.
    config_map = one(docs, "ConfigMap")
    set_names = set(config_map["data"])
    for secret in by_kind(docs, "Secret"):
        set_names |= set(secret.get("data", {}))
    pods = []
    for kind in ["Deployment", "Job"]:
        for d in by_kind(docs, kind):
            pods.append(d["spec"]["template"]["spec"])
            for c in d["spec"]["template"]["spec"]["containers"]:
                set_names |= set(env_of(c))
    unknown = sorted(set_names - settings)
    check(not unknown, f"variables the binaries do not read: {unknown}")
    check(all(isinstance(x, str) for x in config_map["data"].values()), "ConfigMap values are strings")
    check(config_map["data"]["MONITORS_LOG_FORMAT"] == "json", "json logs")

    # Pods: non-root, read-only root, no capabilities, RuntimeDefault seccomp.
    for pod in pods:
        check(pod["securityContext"]["runAsNonRoot"] is True, "runAsNonRoot")
        check(pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", "seccomp RuntimeDefault")
        check(pod["automountServiceAccountToken"] is False, "no service account token")
        for c in pod["containers"]:
            sc = c["securityContext"]
            check(sc["readOnlyRootFilesystem"] is True, "readOnlyRootFilesystem")
            check(sc["capabilities"]["drop"] == ["ALL"], "drop ALL")
            check(sc["allowPrivilegeEscalation"] is False, "no privilege escalation")
            check(c["resources"]["requests"] and c["resources"]["limits"], "resources")
            tag = v["image"]["tag"] or "0.1.0"
            check(c["image"] == f"{v['image']['repository']}:{tag}", f"image {c['image']}")

    # Gateway.
    gw = one(docs, "Deployment", "gateway")
    gwc = gw["spec"]["template"]["spec"]["containers"][0]
    check([gwc["command"][0], *gwc["args"]] == ["mcp-gateway", "serve"], "gateway runs mcp-gateway serve")
    env = env_of(gwc)
    port = v["gateway"]["containerPort"]
    bind = "[::]" if v["bindAddress"] == "::" else v["bindAddress"]
    check(env.get("MONITORS_LISTEN") == f"{bind}:{port}", f"MONITORS_LISTEN {env.get('MONITORS_LISTEN')}")
    for flag in ["MONITORS_EMBEDDED_WORKER", "MONITORS_AUTO_MIGRATE", "MONITORS_BOOTSTRAP_ADMIN"]:
        check(env.get(flag) == "false", f"gateway {flag}=false")
    check(gwc["livenessProbe"]["httpGet"]["path"] == "/healthz", "gateway liveness /healthz")
    check(gwc["readinessProbe"]["httpGet"]["path"] == "/readyz", "gateway readiness /readyz")
    check(gwc["ports"][0]["containerPort"] == port, "gateway port")
    gw_metrics = v["gateway"]["metricsPort"]
    if gw_metrics:
        check(env.get("MONITORS_METRICS_LISTEN") == f"{bind}:{gw_metrics}", "gateway MONITORS_METRICS_LISTEN")
        check(gwc["ports"][1] == {"name": "metrics", "containerPort": gw_metrics, "protocol": "TCP"}, "gateway metrics port")
    else:
        check("MONITORS_METRICS_LISTEN" not in env and len(gwc["ports"]) == 1, "gateway metrics off by default")
    refs = {list(r.values())[0]["name"] for r in gwc["envFrom"]}
    check(existing in refs if existing else True, "the existing Secret is read")
    annotations = gw["spec"]["template"]["metadata"]["annotations"]
    check("checksum/config" in annotations, "config checksum")
    check(("checksum/secret" in annotations) != bool(existing), "secret checksum iff the chart owns the Secret")
    if v["gateway"]["autoscaling"]["enabled"]:
        check("replicas" not in gw["spec"], "no replicas under an HPA")
        one(docs, "HorizontalPodAutoscaler")
    else:
        check(gw["spec"]["replicas"] == v["gateway"]["replicas"], "gateway replicas")
        check(not by_kind(docs, "HorizontalPodAutoscaler"), "no HPA")

    hosts = config_map["data"]["MONITORS_ALLOWED_HOSTS"].split(",")
    public_host = re.match(r"https?://([^/:]+)", v["config"]["publicUrl"]).group(1)
    check(public_host in hosts, "the public URL's host is allowed")
    if v["ingress"]["enabled"]:
        ing = one(docs, "Ingress")
        check(all(h in hosts for h in v["ingress"]["hosts"]), "ingress hosts are allowed hosts")
        check([r["host"] for r in ing["spec"]["rules"]] == v["ingress"]["hosts"], "ingress rules")
        check(bool(ing["spec"].get("tls")) == v["ingress"]["tls"]["enabled"], "ingress TLS")
    else:
        check(not by_kind(docs, "Ingress"), "no Ingress")

    # Workers.
    wk = one(docs, "Deployment", "worker")
    wkc = wk["spec"]["template"]["spec"]["containers"][0]
    check([wkc["command"][0], *wkc["args"]] == ["alert-worker", "run"], "worker runs alert-worker run")
    check(wk["spec"]["replicas"] == v["worker"]["replicas"], "worker replicas")
    env = env_of(wkc)
    metrics = v["worker"]["metricsPort"]
    check(env.get("MONITORS_METRICS_LISTEN") == f"{bind}:{metrics}", "MONITORS_METRICS_LISTEN")
    check(env.get("MONITORS_AUTO_MIGRATE") == "false", "worker MONITORS_AUTO_MIGRATE=false")
    check("MONITORS_WORKER_ID" not in env, "workers name themselves (pod host name + random suffix)")
    for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
        check(wkc[probe]["httpGet"] == {"path": path, "port": "metrics"}, f"worker {probe}")
    check(wk["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30, "worker grace period")
    svc = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    check(len(svc) == 1 and svc[0]["spec"]["ports"][0]["port"] == metrics, "metrics Service")
    check(bool(by_kind(docs, "ServiceMonitor")) == v["worker"]["serviceMonitor"]["enabled"], "ServiceMonitor")

    pdbs = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in by_kind(docs, "PodDisruptionBudget")}
    expect = {c for c in ["gateway", "worker"] if v[c]["pdb"]["enabled"]}
    check(pdbs == expect, f"PDBs {pdbs}")
    check(len(by_kind(docs, "NetworkPolicy")) == (2 if v["networkPolicy"]["enabled"] else 0), "NetworkPolicies")

    # The migration hook.
    jobs = by_kind(docs, "Job")
    if v["migration"]["enabled"]:
        check(len(jobs) == 1, "one migration Job")
        job = jobs[0]
        check(job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade", "hook")
        jc = job["spec"]["template"]["spec"]["containers"][0]
        check([jc["command"][0], *jc["args"]] == ["mcp-gateway", "migrate"], "job runs mcp-gateway migrate")
        ref = env_of(jc)["MONITORS_DATABASE_URL"]["secretKeyRef"]
        hook_secrets = [
            s for s in by_kind(docs, "Secret") if "helm.sh/hook" in s["metadata"].get("annotations", {})
        ]
        if existing:
            check(ref["name"] == existing and not hook_secrets, "the Job reads the existing Secret")
        else:
            check(len(hook_secrets) == 1 and ref["name"] == hook_secrets[0]["metadata"]["name"], "hook Secret")
            check(
                int(hook_secrets[0]["metadata"]["annotations"]["helm.sh/hook-weight"])
                < int(job["metadata"]["annotations"]["helm.sh/hook-weight"]),
                "the hook Secret comes before the Job",
            )
    else:
        check(not jobs, "no Job")

    owned = [s for s in by_kind(docs, "Secret") if "helm.sh/hook" not in s["metadata"].get("annotations", {})]
    check(len(owned) == (0 if existing else 1), "the chart's Secret iff no existingSecret")
    if not existing:
        check({"MONITORS_DATABASE_URL", "MONITORS_ENCRYPTION_KEY"} <= set(owned[0]["data"]), "Secret keys")


def check_dockerfile() -> None:
    """deploy/Dockerfile parses (BuildKit's own parser) and builds what the
    chart runs: both binaries on the PATH, as the user the pods run as."""
    commands = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    froms = [c.value[0] for c in commands if c.cmd == "FROM"]
    check(froms == ["rust:1.95-bookworm", "debian:bookworm-slim"], f"stages {froms}")
    build = " ".join(" ".join(c.value) for c in commands if c.cmd == "RUN" and "cargo build" in " ".join(c.value))
    check(re.search(r"cargo build --release .*-p mcp-gateway -p alert-worker", build) is not None, "cargo build")
    final = commands[[i for i, c in enumerate(commands) if c.cmd == "FROM"][-1]:]
    copied = [v for c in final if c.cmd == "COPY" for v in c.value]
    check(
        copied[-1] == "/usr/local/bin/" and {"/out/mcp-gateway", "/out/alert-worker"} <= set(copied),
        "both binaries in /usr/local/bin",
    )
    users = [c.value[0] for c in final if c.cmd == "USER"]
    pod = helm.Chart.load(str(CHART)).values["podSecurityContext"]
    check(users == [f"{pod['runAsUser']}:{pod['runAsGroup']}"], f"USER {users} is the chart's runAsUser:runAsGroup")


def main() -> int:
    print(f"Helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.helm_c_version()}), "
          f"kubernetes-validate {kubernetes_validate.__version__}, schemas {', '.join(KUBE_VERSIONS)}")
    settings = source_settings()
    passed = failed = 0
    try:
        check_dockerfile()
        print("ok    Dockerfile: parses; rust:1.95-bookworm builds both binaries; non-root runtime user matches the chart")
        passed += 1
    except Exception as e:
        print(f"FAIL  Dockerfile: {type(e).__name__}: {e}")
        failed += 1
    try:
        lint({})
        print("ok    helm lint --strict with the chart's defaults alone (lint skips `required` and `fail`)")
        passed += 1
    except Exception as e:
        print(f"FAIL  helm lint --strict with the chart's defaults alone: {e}")
        failed += 1
    try:
        with tempfile.TemporaryDirectory() as tmp:
            archive = helm.package(str(CHART), destination=tmp)
            with helm.Chart.load(archive) as packaged, helm.Chart.load(str(CHART)) as unpacked:
                check(packaged.render(REQUIRED) == unpacked.render(REQUIRED), "the package renders as the directory")
        print(f"ok    helm package: {Path(archive).name} renders as the directory")
        passed += 1
    except Exception as e:
        print(f"FAIL  helm package: {type(e).__name__}: {e}")
        failed += 1
    for name, release, values in GOOD:
        try:
            lint(values)
            files, docs = render(values, release)
            validate_kubernetes(docs)
            note = kustomize(docs)
            check_promises(name, release, values, docs, settings)
            kinds = sorted(f"{d['kind']}" for d in docs)
            print(f"ok    renders: {name} (release {release}): {len(docs)} objects, {note}")
            print(f"      {', '.join(kinds)}")
            passed += 1
        except Exception as e:  # a KeyError is a missing field: a failure too
            print(f"FAIL  renders: {name}: {type(e).__name__}: {e}")
            failed += 1
    with tempfile.TemporaryDirectory() as tmp:
        schemaless = Path(tmp, "monitors-mcp")
        shutil.copytree(CHART, schemaless)
        (schemaless / "values.schema.json").unlink()
        for name, values, expected, template_too in BAD:
            charts = [("", CHART)] + ([(" (templates alone)", schemaless)] if template_too else [])
            for how, chart in charts:
                try:
                    with helm.Chart.load(str(chart)) as c:
                        c.render(values, name="monitors-mcp", namespace="monitoring", is_install=True)
                except helm.HelmError as e:
                    if expected.lower() in str(e).lower():
                        print(f"ok    refused: {name}{how}")
                        passed += 1
                    else:
                        print(f"FAIL  refused: {name}{how}, but not for {expected!r}: {e}")
                        failed += 1
                    continue
                print(f"FAIL  refused: {name}{how}: it rendered")
                failed += 1
    if os.environ.get("CHECK_CHART_SHOW"):
        files, _ = render(merged(REQUIRED, EVERYTHING), "prod")
        for path, text in files.items():
            print(f"# --- {path}\n{text}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
