#!/usr/bin/env bash
# Validate the Kubernetes manifests in deploy/kubernetes, offline.
#
#   bash deploy/validate.sh            # CI runs this
#
# 1. Schema: every resource is checked in strict mode (unknown fields are errors) against the
#    JSON schemas of a fixed Kubernetes version, bundled in the PyPI package
#    kubernetes-validate: no network is used at validation time, only PyPI to install the tool
#    into a venv (reused when present). A kind without a bundled schema is an error too.
# 2. Project rules the schemas do not express: the Deployment's probes, securityContext and
#    resources; selectors, names and ports that must agree across files; the kustomization
#    listing every manifest; the example Secret holding no real key; no duplicate YAML keys.
# 3. If kubectl is installed, `kubectl kustomize` must build the directory (skipped otherwise).
#
# Closes with "k8s: N passed, M failed" (one count per file) and exits non-zero on any failure.
# Environment: K8S_VERSION (default 1.32.0), TMPDIR (venv location).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$here/kubernetes"
k8s_version="${K8S_VERSION:-1.32.0}"
tool_version="1.37.0" # kubernetes-validate: bundles schemas for Kubernetes 1.25 to 1.37
venv="${TMPDIR:-/tmp}/watchword-k8s-venv"

if ! "$venv/bin/python" -c "import kubernetes_validate, sys; sys.exit(kubernetes_validate.__version__ != '$tool_version')" 2>/dev/null; then
    echo "k8s: installing kubernetes-validate==$tool_version into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$tool_version"
fi

kustomize_out=""
if command -v kubectl >/dev/null 2>&1; then
    if kustomize_out="$(kubectl kustomize "$dir" 2>&1 >/dev/null)"; then
        kustomize_out="ok"
    else
        kustomize_out="FAIL: $kustomize_out"
    fi
fi

exec "$venv/bin/python" - "$dir" "$k8s_version" "$kustomize_out" <<'PY'
import os
import sys

import yaml
import kubernetes_validate
from kubernetes_validate import InvalidSchemaError, SchemaNotFoundError, ValidationError

directory, version, kustomize = sys.argv[1], sys.argv[2], sys.argv[3]


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def get(obj, path, default=None):
    for part in path.split("."):
        if isinstance(obj, list):
            try:
                obj = obj[int(part)]
            except (ValueError, IndexError):
                return default
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return default
    return obj


files = sorted(f for f in os.listdir(directory) if f.endswith((".yaml", ".yml")))
docs = {}       # file -> list of resources
errors = {}     # file -> list of messages


def err(fname, msg):
    errors.setdefault(fname, []).append(msg)


# 1. Parse and validate every resource against the schemas.
for fname in files:
    try:
        with open(os.path.join(directory, fname), encoding="utf-8") as f:
            items = [d for d in yaml.load_all(f, Loader=UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as e:
        err(fname, f"YAML: {e}")
        continue
    docs[fname] = items
    if not items:
        err(fname, "no resource in file")
    for i, res in enumerate(items):
        where = f"document {i + 1}"
        if not isinstance(res, dict):
            err(fname, f"{where}: not a mapping")
            continue
        for field in ("apiVersion", "kind"):
            if not res.get(field):
                err(fname, f"{where}: {field} missing")
        if res.get("kind") == "Kustomization":
            continue  # no Kubernetes schema: checked below
        if not get(res, "metadata.name"):
            err(fname, f"{where}: metadata.name missing")
        if not (res.get("apiVersion") and res.get("kind")):
            continue
        try:
            kubernetes_validate.validate(res, version, strict=True)
        except ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            err(fname, f"{res['kind']}/{get(res, 'metadata.name')}: {path}: {e.message}")
        except (SchemaNotFoundError, InvalidSchemaError) as e:
            err(fname, f"{where}: {e.message}")

resources = [(f, r) for f, items in docs.items() for r in items if isinstance(r, dict)]


def find(kind, name=None):
    return [(f, r) for f, r in resources
            if r.get("kind") == kind and (name is None or get(r, "metadata.name") == name)]


def subset(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# 2. Project rules.
deployments = find("Deployment", "watchword")
dep, pod_labels = {}, {}
if len(deployments) != 1:
    err("deployment.yaml", "expected exactly one Deployment watchword")
for fname, dep in deployments:
    spec = get(dep, "spec.template.spec", {})
    pod_labels = get(dep, "spec.template.metadata.labels", {})
    if not subset(get(dep, "spec.selector.matchLabels"), pod_labels):
        err(fname, "spec.selector.matchLabels does not match the pod labels")
    psc = spec.get("securityContext", {})
    for key, want in (("runAsNonRoot", True), ("runAsUser", 65532), ("runAsGroup", 65532),
                      ("fsGroup", 65532), ("seccompProfile.type", "RuntimeDefault")):
        if get(psc, key) != want:
            err(fname, f"pod securityContext.{key} must be {want!r}")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    containers = spec.get("containers", [])
    if len(containers) != 1:
        err(fname, "expected one container")
    for c in containers:
        n = c.get("name")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        if ports.get("http") != 8080:
            err(fname, f"container {n}: port http must be 8080")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", ("/readyz", "/healthz"))):
            p = c.get(probe)
            if not p:
                err(fname, f"container {n}: {probe} missing")
                continue
            if get(p, "httpGet.path") not in ((path,) if isinstance(path, str) else path):
                err(fname, f"container {n}: {probe} path {get(p, 'httpGet.path')!r}")
            if get(p, "httpGet.port") not in ("http", 8080):
                err(fname, f"container {n}: {probe} port must be http")
        sc = c.get("securityContext", {})
        for key, want in (("runAsNonRoot", True), ("readOnlyRootFilesystem", True),
                          ("allowPrivilegeEscalation", False)):
            if sc.get(key) is not want:
                err(fname, f"container {n}: securityContext.{key} must be {want}")
        if "ALL" not in (get(sc, "capabilities.drop") or []):
            err(fname, f"container {n}: securityContext.capabilities.drop must include ALL")
        for kind in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if not get(c, f"resources.{kind}.{res}"):
                    err(fname, f"container {n}: resources.{kind}.{res} missing")
        env = {e.get("name"): e.get("value") for e in c.get("env", [])}
        if env.get("WATCHWORD__PASSWORD__WORKERS") != str(get(c, "resources.limits.cpu")):
            err(fname, f"container {n}: WATCHWORD__PASSWORD__WORKERS should equal the cpu limit")
        sleep = get(c, "lifecycle.preStop.sleep.seconds", 0)
        if grace <= 30 + sleep:
            err(fname, f"terminationGracePeriodSeconds {grace} must exceed "
                       f"server.shutdown_timeout (30s) + preStop sleep ({sleep}s)")
        for ref in c.get("envFrom", []):
            name = get(ref, "configMapRef.name")
            if name and not find("ConfigMap", name):
                err(fname, f"envFrom ConfigMap {name} is not defined in {directory}")
        mounts = {m.get("name"): m for m in c.get("volumeMounts", [])}
        for vol in spec.get("volumes", []):
            m = mounts.get(vol.get("name"))
            if not m:
                err(fname, f"volume {vol.get('name')} is not mounted")
            elif not m.get("readOnly"):
                err(fname, f"volume {vol.get('name')} must be mounted readOnly")
            if "secret" in vol:
                if get(vol, "secret.defaultMode") != 0o400:
                    err(fname, f"secret volume {vol['name']}: defaultMode must be 0400")
                if not find("Secret", get(vol, "secret.secretName")):
                    err(fname, f"secret {get(vol, 'secret.secretName')} has no example")
            if "configMap" in vol and not find("ConfigMap", get(vol, "configMap.name")):
                err(fname, f"ConfigMap {get(vol, 'configMap.name')} is not defined")

for kind, path in (("Service", "spec.selector"), ("PodDisruptionBudget", "spec.selector.matchLabels")):
    for f, r in find(kind):
        if not subset(get(r, path), pod_labels):
            err(f, f"{kind}/{get(r, 'metadata.name')}: selector does not match the pod labels")
for f, svc in find("Service"):
    for p in get(svc, "spec.ports", []):
        if p.get("targetPort") not in ("http", 8080):
            err(f, "Service targetPort must be the http port")
for f, hpa in find("HorizontalPodAutoscaler"):
    ref = get(hpa, "spec.scaleTargetRef", {})
    if (ref.get("kind"), ref.get("name")) != ("Deployment", "watchword"):
        err(f, "HPA must target Deployment watchword")
    if get(hpa, "spec.minReplicas", 1) < 3:
        err(f, "HPA minReplicas must be at least 3")
for f, pdb in find("PodDisruptionBudget"):
    if get(pdb, "spec.minAvailable", 0) >= get(dep, "spec.replicas", 1):
        err(f, "PDB minAvailable must be below the replica count, or nodes cannot drain")

for f, cm in find("ConfigMap"):
    for key in get(cm, "data", {}) or {}:
        if get(cm, "metadata.name") == "watchword-config" and not key.startswith("WATCHWORD__"):
            err(f, f"ConfigMap watchword-config: {key} is not a WATCHWORD__SECTION__KEY name")
for f, secret in find("Secret"):
    for key, value in (get(secret, "stringData") or {}).items():
        if "PRIVATE KEY" in str(value) and "PLACEHOLDER" not in str(value):
            err(f, f"Secret data {key} looks like a real key: examples must hold a placeholder")
    if get(secret, "data"):
        err(f, "example Secret must use stringData with a placeholder, not data")

kust = docs.get("kustomization.yaml")
if not kust:
    err("kustomization.yaml", "missing")
else:
    listed = get(kust[0], "resources", []) or []
    for r in listed:
        if not os.path.isfile(os.path.join(directory, r)):
            err("kustomization.yaml", f"lists {r}, which does not exist")
    for f in files:
        if f not in listed and f not in ("kustomization.yaml", "secret.example.yaml"):
            err("kustomization.yaml", f"does not list {f}")
    if "secret.example.yaml" in listed:
        err("kustomization.yaml", "must not list secret.example.yaml (it would replace the real key)")
    if kustomize.startswith("FAIL"):
        err("kustomization.yaml", f"kubectl kustomize: {kustomize[5:].strip()}")

# 3. Report.
for f in files:
    if f in errors:
        print(f"FAIL {f}")
        for msg in errors[f]:
            print(f"  - {msg}")
    else:
        n = len(docs.get(f, []))
        print(f"ok   {f} ({n} resource{'s' if n != 1 else ''})")
extra = sorted(set(errors) - set(files))
for f in extra:
    print(f"FAIL {f}")
    for msg in errors[f]:
        print(f"  - {msg}")
print(f"schemas: Kubernetes {version}, strict, kubernetes-validate {kubernetes_validate.__version__}"
      + ("" if kustomize else "; kubectl not found, kustomize build skipped"))
failed = len([f for f in files if f in errors]) + len(extra)
print(f"k8s: {len(files) - len([f for f in files if f in errors])} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
