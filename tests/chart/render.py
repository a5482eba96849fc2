#!/usr/bin/env python3
"""Renders charts/bccreds with Helm's own engine and checks what it produces.

Helm comes from helm-python-sdk (module `helm_python`), which embeds Helm's Go SDK, so neither a
`helm` binary nor a cluster is needed: `python3 -m pip install -r tests/chart/requirements.txt`.
Run from anywhere; paths are relative to the repository root. `tests/chart_render.rs` runs this
under `cargo test`, with BCCREDS_BIN set to the built binary so that the rendered arguments are
also given to `bccreds controller --help` (clap checks them without starting anything).

The rendered objects are also validated against Kubernetes' own OpenAPI schemas (strict: unknown
fields are errors) for the oldest supported version, 1.28, and the newest that
kubernetes-validate ships, with kubernetes-validate.

Each check prints `ok` or `FAIL`; the last line is `N passed, N failed`, and the exit code is 1
when anything failed. Exit code 3 means helm-python-sdk, kubernetes-validate or PyYAML is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

try:
    import helm_python as helm
    import kubernetes_validate
    import yaml
except ImportError as exc:  # pragma: no cover - reported to the Rust test
    print(f"cannot import the Helm engine, kubernetes-validate or PyYAML: {exc}", file=sys.stderr)
    print("install them with: python3 -m pip install -r tests/chart/requirements.txt", file=sys.stderr)
    sys.exit(3)

ROOT = Path(__file__).resolve().parents[2]
# The chart under test; another directory may be given as the first argument (to check the checks).
CHART = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "charts" / "bccreds"
RELEASE = "bccreds"
NAMESPACE = "bccreds-system"
STORE_SECRET = "bccreds-store"
BASE = {"store": {"existingSecret": STORE_SECRET}}

# What the controller needs wherever it watches credentials, as (apiGroup, resource, verb), Secrets
# aside: their verbs depend on secretAccess.
COMMON_RULES = {
    *(("bigcommerce.unopim.io", "bigcommercecredentials", v) for v in ("get", "list", "watch", "patch", "update")),
    *(("bigcommerce.unopim.io", "bigcommercecredentials/status", v) for v in ("get", "patch", "update")),
    ("bigcommerce.unopim.io", "bigcommercecredentials/finalizers", "update"),
    *(("events.k8s.io", "events", v) for v in ("create", "patch")),
    *(("", "events", v) for v in ("create", "patch")),
}
# The Secret verbs of each secretAccess mode: `get` can read a Secret it names, never enumerate them.
SECRET_VERBS = {"watch": {"get", "list", "watch"}, "get": {"get"}}
SECRET_ACCESS_MODES = tuple(SECRET_VERBS)


def watch_rules(mode: str) -> set[tuple[str, str, str]]:
    """The exact rules of the ClusterRole (or of each per-namespace Role) in a secretAccess mode."""
    return COMMON_RULES | {("", "secrets", v) for v in SECRET_VERBS[mode]}


WATCH_RULES = watch_rules("watch")
LEASE_VERBS = {"get", "create", "update", "patch"}

passed = 0
failed = 0


def check(name: str, condition: bool, detail: Any = "") -> None:
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}{': ' + str(detail) if detail != '' else ''}")


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def render(chart: Any, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """`helm template` with BASE + extra: every rendered object, NOTES.txt excluded."""
    values = merge(BASE, extra or {})
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc["__template"] = path
                objects.append(doc)
    return objects


def render_error(chart: Any, extra: dict[str, Any]) -> str | None:
    """The error rendering fails with, or None when it renders."""
    try:
        chart.render(merge(BASE, extra), name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        return str(exc)
    return None


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}, found {len(found)}")
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def secret_verbs(role: dict[str, Any]) -> set[str]:
    """The verbs a Role or ClusterRole grants on core Secrets."""
    return {v for g, r, v in rule_set(role["rules"]) if (g, r) == ("", "secrets")}


def watch_role_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ClusterRole and Roles with the controller's rules (the leader-election Role aside)."""
    return [o for o in objects if o["kind"] in ("Role", "ClusterRole") and not any("leases" in rule["resources"] for rule in o["rules"])]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise AssertionError(f"expected one container, found {len(containers)}")
    return containers[0]


def env_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(objects).get("env", [])}


def secret_ref(env: dict[str, dict[str, Any]], name: str) -> tuple[str, str] | None:
    ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
    return (ref["name"], ref["key"]) if ref else None


def field_ref(env: dict[str, dict[str, Any]], name: str) -> str | None:
    ref = env.get(name, {}).get("valueFrom", {}).get("fieldRef")
    return ref["fieldPath"] if ref else None


def guarded(name: str, fn: Callable[[], None]) -> None:
    """Runs a group of checks; an exception in it counts as one failure, not a crash."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - any failure is a test failure
        check(name, False, f"{type(exc).__name__}: {exc}")


def check_metadata(chart: Any) -> None:
    meta = chart.metadata
    check("Chart.yaml: apiVersion v2", meta.get("apiVersion") == "v2", meta.get("apiVersion"))
    check("Chart.yaml: name bccreds", chart.name == "bccreds", chart.name)
    check("Chart.yaml: version 0.1.0", chart.version == "0.1.0", chart.version)
    check("Chart.yaml: appVersion 0.1.0", meta.get("appVersion") == "0.1.0", meta.get("appVersion"))
    check("Chart.yaml: kubeVersion >=1.28.0-0", meta.get("kubeVersion") == ">=1.28.0-0", meta.get("kubeVersion"))
    check("Chart.yaml: has a description", bool(meta.get("description")))
    copy = (CHART / "crds" / "bigcommercecredential.crd.yaml").read_bytes()
    source = (ROOT / "schemas" / "bigcommercecredential.crd.yaml").read_bytes()
    check("crds/ is byte-identical to schemas/bigcommercecredential.crd.yaml", copy == source)
    crds = chart.crds
    names = [c.get("filename") or c.get("name") for c in crds]
    check(
        "Helm finds exactly one CRD, crds/bigcommercecredential.crd.yaml, with the schemas/ text",
        len(crds) == 1 and names[0].endswith("crds/bigcommercecredential.crd.yaml") and crds[0].get("data", "").encode() == source,
        names,
    )
    crd = yaml.safe_load(copy)
    check("the CRD is bigcommercecredentials.bigcommerce.unopim.io", crd["metadata"]["name"] == "bigcommercecredentials.bigcommerce.unopim.io")


def check_values(chart: Any) -> None:
    defaults = chart.values
    check("values: replicaCount 2", defaults.get("replicaCount") == 2, defaults.get("replicaCount"))
    check("values: leaderElection.enabled true", defaults["leaderElection"]["enabled"] is True)
    check("values: watchNamespaces [] (all namespaces)", defaults.get("watchNamespaces") == [])
    check("values: store keys", (defaults["store"]["urlKey"], defaults["store"]["appKeyKey"]) == ("store-url", "app-key"))
    check("values: serviceMonitor off", defaults["serviceMonitor"]["enabled"] is False)
    check("values: metrics port 9464", (defaults["metrics"]["port"], defaults["metrics"]["service"]["port"]) == (9464, 9464))
    check("values: logLevel \"\" (RUST_LOG unset: bccreds at info, other crates off)", defaults.get("logLevel") == "", defaults.get("logLevel"))
    check("values: logFormat text", defaults.get("logFormat") == "text", defaults.get("logFormat"))
    check("values: secretAccess watch", defaults.get("secretAccess") == "watch", defaults.get("secretAccess"))
    check("values: secretRecheckInterval 1m", defaults.get("secretRecheckInterval") == "1m", defaults.get("secretRecheckInterval"))
    check(
        "values: resources 50m/64Mi requests, 500m/128Mi limits",
        defaults["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        defaults["resources"],
    )

    def schema_error(values: dict[str, Any] | None) -> str | None:
        try:
            chart.validate_schema(values)
        except helm.HelmValuesError as exc:
            return str(exc)
        return None

    check("schema: the defaults alone are refused (store.existingSecret is required)", "existingSecret" in (schema_error(None) or ""), schema_error(None))
    check("schema: defaults + store.existingSecret pass", schema_error(BASE) is None, schema_error(BASE))
    for label, extra, needle in [
        ("onRevoked outside keep|deactivate", {"onRevoked": "delete"}, "onRevoked"),
        ("a misspelt top-level key", {"watchNamespace": ["a"]}, "watchNamespace"),
        ("replicaCount as a string", {"replicaCount": "2"}, "replicaCount"),
        ("a namespace that is no DNS label", {"watchNamespaces": ["Shop_1"]}, "watchNamespaces"),
        ("the same namespace twice", {"watchNamespaces": ["a", "a"]}, "watchNamespaces"),
        ("leaderElection.enabled as a string", {"leaderElection": {"enabled": "yes"}}, "enabled"),
        ("an empty store.existingSecret", {"store": {"existingSecret": ""}}, "existingSecret"),
        ("secretAccess outside watch|get (list)", {"secretAccess": "list"}, "secretAccess"),
        ("secretAccess in capitals", {"secretAccess": "Get"}, "secretAccess"),
        ("secretRecheckInterval that is no duration", {"secretAccess": "get", "secretRecheckInterval": "soon"}, "secretRecheckInterval"),
        ("an empty secretRecheckInterval", {"secretAccess": "get", "secretRecheckInterval": ""}, "secretRecheckInterval"),
        ("logFormat outside text|json", {"logFormat": "yaml"}, "logFormat"),
    ]:
        err = schema_error(merge(BASE, extra))
        check(f"schema: refuses {label}", err is not None and needle in err, err)
        rendered = render_error(chart, extra)
        check(f"render: refuses {label}", rendered is not None, rendered)
    example = yaml.safe_load((CHART / "ci" / "example-values.yaml").read_text())
    check("schema: ci/example-values.yaml passes", schema_error(example) is None, schema_error(example))
    for label, extra in [
        ("secretAccess get", {"secretAccess": "get"}),
        ("secretAccess get, secretRecheckInterval 1h 30m", {"secretAccess": "get", "secretRecheckInterval": "1h 30m"}),
        ("logFormat json, logLevel bccreds=debug", {"logFormat": "json", "logLevel": "bccreds=debug"}),
    ]:
        err = schema_error(merge(BASE, extra))
        check(f"schema: accepts {label}", err is None, err)


def check_cluster_scope(chart: Any) -> None:
    objects = render(chart)
    check(
        "cluster scope: kinds",
        kinds(objects) == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"]),
        kinds(objects),
    )
    check("cluster scope: no Secret is rendered", not of_kind(objects, "Secret"))
    check("cluster scope: no ServiceMonitor by default", not of_kind(objects, "ServiceMonitor"))
    namespaced = [o for o in objects if o["kind"] not in ("ClusterRole", "ClusterRoleBinding")]
    check(
        "every namespaced object is in the release namespace",
        all(o["metadata"].get("namespace") == NAMESPACE for o in namespaced),
        [(o["kind"], o["metadata"].get("namespace")) for o in namespaced],
    )
    for o in objects:
        labels = o["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"):
            if key not in labels:
                check(f"{o['kind']} {o['metadata']['name']} has label {key}", False)

    cluster_role = one(objects, "ClusterRole")
    check("ClusterRole: exactly the controller's rules", rule_set(cluster_role["rules"]) == WATCH_RULES, rule_set(cluster_role["rules"]) ^ WATCH_RULES)
    check("ClusterRole: gets, lists and watches Secrets (secretAccess watch)", secret_verbs(cluster_role) == SECRET_VERBS["watch"], secret_verbs(cluster_role))
    check("ClusterRole: no resourceNames and no wildcards", all("resourceNames" not in r and "*" not in r["verbs"] + r["resources"] + r["apiGroups"] for r in cluster_role["rules"]))
    binding = one(objects, "ClusterRoleBinding")
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    check("ClusterRoleBinding: binds the ClusterRole", binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role["metadata"]["name"]}, binding["roleRef"])
    check("ClusterRoleBinding: to the ServiceAccount", binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}], binding["subjects"])
    check_leases(objects, sa)
    check_deployment(objects, sa)

    service = one(objects, "Service")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    check("Service: selects the controller's pods", all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items()), service["spec"]["selector"])
    check("Service: metrics port 9464 -> the named container port", service["spec"]["ports"] == [{"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"}], service["spec"]["ports"])


def check_leases(objects: list[dict[str, Any]], sa: str) -> None:
    lease_roles = [r for r in of_kind(objects, "Role") if any("leases" in rule["resources"] for rule in r["rules"])]
    check("leases: one Role", len(lease_roles) == 1, len(lease_roles))
    role = lease_roles[0]
    check("leases: the Role is in the release namespace", role["metadata"]["namespace"] == NAMESPACE, role["metadata"]["namespace"])
    check(
        "leases: exactly get, create, update, patch on coordination.k8s.io leases",
        rule_set(role["rules"]) == {("coordination.k8s.io", "leases", v) for v in LEASE_VERBS},
        rule_set(role["rules"]),
    )
    named = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    check("leases: get/update/patch only on the controller's own Lease", named == {f"{RELEASE}-leader"} and all(rule.get("resourceNames") or rule["verbs"] == ["create"] for rule in role["rules"]), role["rules"])
    others = [o for o in objects if o["kind"] in ("Role", "ClusterRole") and o is not role and any("leases" in rule["resources"] for rule in o["rules"])]
    check("leases: no other Role or ClusterRole grants leases", not others)
    bindings = [b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    check("leases: a RoleBinding in the release namespace to the ServiceAccount", len(bindings) == 1 and bindings[0]["metadata"]["namespace"] == NAMESPACE and bindings[0]["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}] and bindings[0]["roleRef"]["kind"] == "Role", bindings)


def check_deployment(objects: list[dict[str, Any]], sa: str) -> None:
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(objects)
    check("Deployment: 2 replicas", deployment["spec"]["replicas"] == 2)
    check("Deployment: selector labels are on the pods", all(deployment["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in deployment["spec"]["selector"]["matchLabels"].items()))
    check("Deployment: runs as the ServiceAccount, token mounted", pod["serviceAccountName"] == sa and pod.get("automountServiceAccountToken") is True)
    psc = pod["securityContext"]
    check("pod: runAsNonRoot, uid/gid/fsGroup 65532", (psc.get("runAsNonRoot"), psc.get("runAsUser"), psc.get("runAsGroup"), psc.get("fsGroup")) == (True, 65532, 65532, 65532), psc)
    check("pod: seccomp RuntimeDefault", psc.get("seccompProfile") == {"type": "RuntimeDefault"}, psc.get("seccompProfile"))
    csc = c["securityContext"]
    check("container: readOnlyRootFilesystem", csc.get("readOnlyRootFilesystem") is True, csc)
    check("container: allowPrivilegeEscalation false", csc.get("allowPrivilegeEscalation") is False, csc)
    check("container: capabilities drop ALL, add none", csc.get("capabilities") == {"drop": ["ALL"]}, csc.get("capabilities"))
    check("container: not privileged", not csc.get("privileged"))
    check("pod: no volumes (nothing is written to disk)", not pod.get("volumes") and not c.get("volumeMounts"), (pod.get("volumes"), c.get("volumeMounts")))
    check("container: image bccreds:<appVersion>", c["image"] == "bccreds:0.1.0", c["image"])
    check("container: resources", c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}, c["resources"])
    ports = c["ports"]
    check("container: metrics port 9464", ports == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}], ports)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        got = c.get(probe, {}).get("httpGet")
        check(f"container: {probe} GET {path} on the metrics port", got == {"path": path, "port": "metrics"}, got)

    args = c["args"]
    check("args: `controller` first", args[:1] == ["controller"], args)
    check("args: listens on 0.0.0.0:9464 (reachable by the probes)", "--listen=0.0.0.0:9464" in args, args)
    check("args: leader election on, own Lease in the release namespace", {"--leader-election", f"--lease-name={RELEASE}-leader", f"--lease-namespace={NAMESPACE}"} <= set(args), args)
    check("args: no --namespace (all namespaces)", not [a for a in args if a.startswith("--namespace")], args)
    check("args: --reverify-interval=6h --on-revoked=keep", {"--reverify-interval=6h", "--on-revoked=keep"} <= set(args), args)
    check("args: no store URL or key on the command line", not [a for a in args if a.startswith(("--store", "--app-key"))], args)
    check("args: --secret-access=watch, no --secret-recheck-interval", [a for a in args if a.startswith("--secret-")] == ["--secret-access=watch"], args)
    check("args: --log-format=text", [a for a in args if a.startswith("--log-format")] == ["--log-format=text"], args)

    env = env_of(objects)
    check("env: BCCREDS_STORE from the existing Secret", secret_ref(env, "BCCREDS_STORE") == (STORE_SECRET, "store-url"), env.get("BCCREDS_STORE"))
    check("env: APP_KEY from the existing Secret", secret_ref(env, "APP_KEY") == (STORE_SECRET, "app-key"), env.get("APP_KEY"))
    check("env: no APP_PREVIOUS_KEYS unless asked", "APP_PREVIOUS_KEYS" not in env)
    check("env: POD_NAME from the downward API", field_ref(env, "POD_NAME") == "metadata.name", env.get("POD_NAME"))
    check("env: POD_NAMESPACE from the downward API", field_ref(env, "POD_NAMESPACE") == "metadata.namespace", env.get("POD_NAMESPACE"))
    check("env: no RUST_LOG by default (the binary's own filter: bccreds at info, other crates off)", "RUST_LOG" not in env, env.get("RUST_LOG"))
    check("env: the namespace list is not passed twice", "BCCREDS_NAMESPACES" not in env)
    check("container: no envFrom (only the named keys are exposed)", "envFrom" not in c)


def check_namespaced(chart: Any) -> None:
    watched = ["a", "b"]
    objects = render(chart, {"watchNamespaces": watched})
    check("namespaced: no ClusterRole or ClusterRoleBinding", not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding"), kinds(objects))
    check(
        "namespaced: kinds",
        kinds(objects) == sorted(["ServiceAccount", "Deployment", "Service"] + ["Role", "RoleBinding"] * 3),
        kinds(objects),
    )
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    watch_roles = [r for r in of_kind(objects, "Role") if not any("leases" in rule["resources"] for rule in r["rules"])]
    check("namespaced: one watch Role per namespace", sorted(r["metadata"]["namespace"] for r in watch_roles) == watched, [r["metadata"]["namespace"] for r in watch_roles])
    for role in watch_roles:
        ns = role["metadata"]["namespace"]
        check(f"namespaced: Role in {ns} has exactly the controller's rules", rule_set(role["rules"]) == WATCH_RULES, rule_set(role["rules"]) ^ WATCH_RULES)
        check(f"namespaced: Role in {ns} gets, lists and watches Secrets", secret_verbs(role) == SECRET_VERBS["watch"], secret_verbs(role))
        bindings = [b for b in of_kind(objects, "RoleBinding") if b["metadata"]["namespace"] == ns]
        check(
            f"namespaced: RoleBinding in {ns} binds that Role to the ServiceAccount in the release namespace",
            len(bindings) == 1
            and bindings[0]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
            and bindings[0]["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}],
            bindings,
        )
    secret_readers = sorted(
        o["metadata"].get("namespace", "<cluster>")
        for o in objects
        if o["kind"] in ("Role", "ClusterRole") and any("secrets" in rule["resources"] for rule in o["rules"])
    )
    check("namespaced: Secrets are readable only in the watched namespaces", secret_readers == watched, secret_readers)
    check_leases(objects, sa)
    args = container(objects)["args"]
    check("namespaced: args --namespace=a --namespace=b", [a for a in args if a.startswith("--namespace")] == ["--namespace=a", "--namespace=b"], args)


def check_secret_access(chart: Any) -> None:
    """Both secretAccess modes, at cluster scope and per namespace: the Secret verbs are exactly
    the mode's (and everything else is unchanged), and the Deployment's arguments carry the mode."""
    watched = ["a", "b"]
    for mode in SECRET_ACCESS_MODES:
        for scope, extra in (("cluster scope", {}), ("namespaced", {"watchNamespaces": watched})):
            label = f"secretAccess {mode}, {scope}"
            objects = render(chart, {**extra, "secretAccess": mode})
            roles = watch_role_objects(objects)
            want_kind, want_where = ("ClusterRole", ["<cluster>"]) if scope == "cluster scope" else ("Role", watched)
            where = sorted(r["metadata"].get("namespace", "<cluster>") for r in roles)
            check(f"{label}: the controller's rules are in {want_kind} {want_where}", all(r["kind"] == want_kind for r in roles) and where == want_where, [(r["kind"], r["metadata"].get("namespace")) for r in roles])
            for role in roles:
                at = role["metadata"].get("namespace", "cluster")
                got = rule_set(role["rules"])
                check(f"{label}: {role['kind']} ({at}) has exactly the controller's rules", got == watch_rules(mode), got ^ watch_rules(mode))
                check(f"{label}: {role['kind']} ({at}) Secret verbs are exactly {sorted(SECRET_VERBS[mode])}", secret_verbs(role) == SECRET_VERBS[mode], secret_verbs(role))
            readers = sorted(o["metadata"].get("namespace", "<cluster>") for o in objects if o["kind"] in ("Role", "ClusterRole") and secret_verbs(o))
            check(f"{label}: Secrets are readable only {'cluster-wide' if scope == 'cluster scope' else 'in the watched namespaces'}", readers == want_where, readers)
            if mode == "get":
                enumerating = [(o["kind"], o["metadata"].get("namespace")) for o in objects if o["kind"] in ("Role", "ClusterRole") and secret_verbs(o) & {"list", "watch"}]
                check(f"{label}: nothing may list or watch Secrets", not enumerating, enumerating)
            args = container(objects)["args"]
            want = [f"--secret-access={mode}"] + (["--secret-recheck-interval=1m"] if mode == "get" else [])
            check(f"{label}: args {' '.join(want)}", [a for a in args if a.startswith("--secret-")] == want, args)
    args = container(render(chart, {"secretAccess": "get", "secretRecheckInterval": "1h 30m"}))["args"]
    check("secretAccess get: secretRecheckInterval becomes --secret-recheck-interval", "--secret-recheck-interval=1h 30m" in args, args)
    args = container(render(chart, {"secretAccess": "watch", "secretRecheckInterval": "5m"}))["args"]
    check("secretAccess watch: secretRecheckInterval is not passed", not [a for a in args if a.startswith("--secret-recheck-interval")], args)


def check_service_monitor(chart: Any) -> None:
    objects = render(chart, {"serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prometheus"}}})
    monitors = of_kind(objects, "ServiceMonitor")
    check("serviceMonitor: rendered when enabled", len(monitors) == 1, kinds(objects))
    if not monitors:
        return
    sm = monitors[0]
    service = one(objects, "Service")
    check("serviceMonitor: monitoring.coreos.com/v1", sm["apiVersion"] == "monitoring.coreos.com/v1", sm["apiVersion"])
    check("serviceMonitor: in the release namespace, with its extra labels", sm["metadata"]["namespace"] == NAMESPACE and sm["metadata"]["labels"].get("release") == "prometheus", sm["metadata"])
    check(
        "serviceMonitor: selects the metrics Service",
        all(service["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()),
        sm["spec"]["selector"],
    )
    check("serviceMonitor: only the release namespace", sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}, sm["spec"]["namespaceSelector"])
    endpoint = sm["spec"]["endpoints"]
    check("serviceMonitor: scrapes /metrics on port metrics every 15s", len(endpoint) == 1 and (endpoint[0]["port"], endpoint[0]["path"], endpoint[0]["interval"]) == ("metrics", "/metrics", "15s"), endpoint)
    err = render_error(chart, {"serviceMonitor": {"enabled": True}, "metrics": {"service": {"enabled": False}}})
    check("serviceMonitor without the metrics Service is refused", err is not None and "metrics.service.enabled" in err, err)
    without = render(chart, {"metrics": {"service": {"enabled": False}}})
    check("metrics.service.enabled false: no Service", not of_kind(without, "Service"), kinds(without))


def check_options(chart: Any) -> None:
    objects = render(
        chart,
        {
            "replicaCount": 1,
            "leaderElection": {"enabled": False},
            "store": {"urlKey": "url", "appKeyKey": "key", "previousKeysKey": "previous"},
            "tablePrefix": "unopim_",
            "owner": "team a",
            "reverifyInterval": "1h 30m",
            "onRevoked": "deactivate",
            "bigcommerceBaseUrl": "https://bigcommerce-proxy.example.com",
            "logLevel": "info,bccreds=debug",
            "logFormat": "json",
            "image": {"repository": "registry.example.com/bccreds", "tag": "0.1.0-rc.1"},
            "serviceAccount": {"create": False, "name": "existing-sa"},
            "extraArgs": ["--concurrency=4"],
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
            "podLabels": {"team": "pim"},
            "priorityClassName": "system-cluster-critical",
        },
    )
    check("no leader election: no Lease Role", not [r for r in of_kind(objects, "Role") if any("leases" in rule["resources"] for rule in r["rules"])], kinds(objects))
    check("serviceAccount.create false: no ServiceAccount, bindings name the given one", not of_kind(objects, "ServiceAccount") and one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "existing-sa")
    c = container(objects)
    args = c["args"]
    check("no leader election: no --leader-election", not [a for a in args if a.startswith(("--leader-election", "--lease"))], args)
    expected = ["--table-prefix=unopim_", "--owner=team a", "--reverify-interval=1h 30m", "--on-revoked=deactivate", "--bigcommerce-base-url=https://bigcommerce-proxy.example.com", "--concurrency=4"]
    check("values become arguments", all(a in args for a in expected), args)
    check("logFormat json: --log-format=json", [a for a in args if a.startswith("--log-format")] == ["--log-format=json"], args)
    env = env_of(objects)
    check("store keys are configurable", secret_ref(env, "BCCREDS_STORE") == (STORE_SECRET, "url") and secret_ref(env, "APP_KEY") == (STORE_SECRET, "key"), env)
    check("APP_PREVIOUS_KEYS from the existing Secret when asked", secret_ref(env, "APP_PREVIOUS_KEYS") == (STORE_SECRET, "previous"), env.get("APP_PREVIOUS_KEYS"))
    check("extraEnv and logLevel", env.get("HTTPS_PROXY", {}).get("value") == "http://proxy:3128" and env["RUST_LOG"]["value"] == "info,bccreds=debug", env)
    check("image repository and tag", c["image"] == "registry.example.com/bccreds:0.1.0-rc.1", c["image"])
    pod = one(objects, "Deployment")["spec"]["template"]
    check("podLabels and priorityClassName", pod["metadata"]["labels"].get("team") == "pim" and pod["spec"].get("priorityClassName") == "system-cluster-critical")
    err = render_error(chart, {"replicaCount": 2, "leaderElection": {"enabled": False}})
    check("two replicas without leader election are refused", err is not None and "leaderElection" in err, err)
    example = yaml.safe_load((CHART / "ci" / "example-values.yaml").read_text())
    objects = render(chart, example)
    check("ci/example-values.yaml renders: Role in shop, no ClusterRole", [r["metadata"]["namespace"] for r in of_kind(objects, "Role") if not any("leases" in rule["resources"] for rule in r["rules"])] == ["shop"] and not of_kind(objects, "ClusterRole"))


def check_kubernetes_schemas(chart: Any) -> None:
    """Every rendered object (the ServiceMonitor aside: a CRD's kind), the CRD and the example
    Secret against Kubernetes' OpenAPI schemas, strictly."""
    scenarios = {
        "cluster scope": {},
        "namespaced": {"watchNamespaces": ["a", "b"]},
        "cluster scope, secretAccess get": {"secretAccess": "get"},
        "namespaced, secretAccess get": {"watchNamespaces": ["a", "b"], "secretAccess": "get"},
        "every option": {
            "leaderElection": {"enabled": False},
            "replicaCount": 1,
            "store": {"previousKeysKey": "previous"},
            "imagePullSecrets": [{"name": "regcred"}],
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
            "podAnnotations": {"a": "b"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
            "priorityClassName": "high",
            "metrics": {"service": {"annotations": {"a": "b"}}},
            "serviceAccount": {"annotations": {"a": "b"}},
            "logLevel": "bccreds=debug",
            "logFormat": "json",
        },
    }
    versions = ["1.28.0", kubernetes_validate.latest_version()]
    for version in versions:
        for label, extra in scenarios.items():
            errors = []
            for o in render(chart, extra):
                if o["kind"] == "ServiceMonitor":
                    continue
                obj = {k: v for k, v in o.items() if k != "__template"}
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except Exception as exc:  # noqa: BLE001 - each is one finding
                    errors.append(f"{o['kind']} {o['metadata'].get('name')}: {getattr(exc, 'message', exc)}")
            check(f"Kubernetes {version} schemas (strict) accept the rendered objects ({label})", not errors, errors)
        others = [
            ROOT / "schemas" / "bigcommercecredential.crd.yaml",
            ROOT / "examples" / "kubernetes" / "secret.yaml",
        ]
        errors = []
        for path in others:
            for doc in yaml.safe_load_all(path.read_text()):
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except Exception as exc:  # noqa: BLE001 - each is one finding
                    errors.append(f"{path.name}: {getattr(exc, 'message', exc)}")
        check(f"Kubernetes {version} schemas (strict) accept the CRD and the example Secret", not errors, errors)


def check_arguments_parse(chart: Any) -> None:
    """The rendered arguments are accepted by `bccreds controller`, when BCCREDS_BIN names the
    binary (the Rust test sets it): `--help` after them makes clap check every argument and
    value, then print help instead of starting the controller."""
    binary = os.environ.get("BCCREDS_BIN")
    if not binary:
        print("note: BCCREDS_BIN is not set; the rendered arguments were not given to bccreds")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCCREDS_")}
    probe = subprocess.run([binary, "controller", "--help"], env=env, capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"note: {binary} has no `controller` command yet; the rendered arguments were not checked")
        return
    for label, extra in {
        "cluster scope": {},
        "namespaced": {"watchNamespaces": ["a", "b"]},
        "cluster scope, secretAccess get": {"secretAccess": "get"},
        "namespaced, secretAccess get, recheck 1h 30m, JSON logs": {
            "watchNamespaces": ["a", "b"],
            "secretAccess": "get",
            "secretRecheckInterval": "1h 30m",
            "logFormat": "json",
        },
        "every option": {
            "tablePrefix": "unopim_",
            "owner": "team a",
            "reverifyInterval": "1h 30m",
            "onRevoked": "deactivate",
            "bigcommerceBaseUrl": "https://bigcommerce-proxy.example.com",
            "metrics": {"listenAddress": "[::]", "port": 8080},
            "logFormat": "json",
        },
    }.items():
        args = container(render(chart, extra))["args"]
        run = subprocess.run([binary, *args, "--help"], env=env, capture_output=True, text=True, check=False)
        check(f"`bccreds {' '.join(args[:1])}` accepts the rendered arguments ({label})", run.returncode == 0, (args, run.stderr.strip()))


def check_lint() -> None:
    example = yaml.safe_load((CHART / "ci" / "example-values.yaml").read_text())
    get = {"secretAccess": "get"}
    for label, values in (
        ("cluster scope", BASE),
        ("ci/example-values.yaml", example),
        ("cluster scope, secretAccess get", merge(BASE, get)),
        ("ci/example-values.yaml, secretAccess get", merge(example, get)),
    ):
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.28.0")
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
        check(f"helm lint --strict ({label}): no warnings or errors", not problems, problems)
    report = helm.lint(CHART, merge(BASE, {"secretAccess": "list"}), strict=True, namespace=NAMESPACE, kube_version="v1.28.0")
    errors = report.get("errors", [])
    check("helm lint --strict refuses secretAccess list", any("secretAccess" in e for e in errors), report)


def main() -> int:
    print(
        f"Helm SDK {helm.helm_sdk_version()} (helm-c {helm.helm_c_version()}, helm-python-sdk {helm.__version__}), "
        f"kubernetes-validate {kubernetes_validate.__version__}, PyYAML {yaml.__version__}"
    )
    with helm.Chart.load(CHART) as chart:
        for name, fn in (
            ("metadata", lambda: check_metadata(chart)),
            ("values", lambda: check_values(chart)),
            ("cluster scope", lambda: check_cluster_scope(chart)),
            ("namespaced", lambda: check_namespaced(chart)),
            ("secretAccess", lambda: check_secret_access(chart)),
            ("serviceMonitor", lambda: check_service_monitor(chart)),
            ("options", lambda: check_options(chart)),
            ("kubernetes schemas", lambda: check_kubernetes_schemas(chart)),
            ("arguments", lambda: check_arguments_parse(chart)),
            ("lint", check_lint),
        ):
            guarded(name, fn)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
