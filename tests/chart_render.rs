//! The Helm chart (`charts/bccreds`) and the Kubernetes examples.
//!
//! The chart is rendered by Helm's own engine through `tests/chart/render.py`, which uses
//! helm-python-sdk (Helm's Go SDK in a wheel, no `helm` binary) and checks the objects against
//! Kubernetes' schemas with kubernetes-validate. Without those installed, this test
//! prints a note and checks what it can without Helm; CI installs it
//! (`python3 -m pip install -r tests/chart/requirements.txt`) and sets `BCCREDS_REQUIRE_HELM=1`,
//! and then a missing Helm engine fails. Whatever is installed, the CRD copy, the values against
//! `values.schema.json`, the RBAC rules (in both `secretAccess` modes) and security settings in
//! the template text, the schema's `secretAccess` and `logFormat` values against what
//! `bccreds controller` accepts, the chart README's values table and Secret access section, and
//! the examples are always checked here.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

const INSTALL: &str = "python3 -m pip install -r tests/chart/requirements.txt";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart(rel: &str) -> PathBuf {
    root().join("charts/bccreds").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `base` with `extra` merged in, objects key by key, as Helm coalesces values.
fn merged(base: &Value, extra: &Value) -> Value {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            let mut out = b.clone();
            for (k, v) in e {
                let m = out.get(k).map_or_else(|| v.clone(), |old| merged(old, v));
                out.insert(k.clone(), m);
            }
            Value::Object(out)
        }
        _ => extra.clone(),
    }
}

#[test]
fn the_chart_ships_the_generated_crd_byte_for_byte() {
    let copy = std::fs::read(chart("crds/bigcommercecredential.crd.yaml")).expect("chart CRD");
    let source =
        std::fs::read(root().join("schemas/bigcommercecredential.crd.yaml")).expect("schemas CRD");
    assert!(
        copy == source,
        "charts/bccreds/crds/bigcommercecredential.crd.yaml differs from \
         schemas/bigcommercecredential.crd.yaml; refresh it with \
         `cp schemas/bigcommercecredential.crd.yaml charts/bccreds/crds/`"
    );
    let crds: Vec<_> = std::fs::read_dir(chart("crds"))
        .expect("crds/")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(crds, ["bigcommercecredential.crd.yaml"]);
}

#[test]
fn chart_metadata_is_as_published() {
    let meta = yaml(&chart("Chart.yaml"));
    for (key, want) in [
        ("apiVersion", "v2"),
        ("name", "bccreds"),
        ("version", "0.1.0"),
        ("appVersion", "0.1.0"),
        ("kubeVersion", ">=1.28.0-0"),
    ] {
        assert_eq!(meta[key], json!(want), "Chart.yaml {key}");
    }
    assert!(meta["description"].as_str().is_some_and(|d| !d.is_empty()));
}

#[test]
fn values_follow_the_schema() {
    let schema: Value = serde_json::from_str(&read(&chart("values.schema.json"))).expect("JSON");
    assert_eq!(
        schema["$schema"],
        json!("http://json-schema.org/draft-07/schema#")
    );
    let validator = jsonschema::validator_for(&schema).expect("values.schema.json compiles");
    let defaults = yaml(&chart("values.yaml"));
    let store = json!({"store": {"existingSecret": "bccreds-store"}});

    // The defaults need the store Secret's name, and nothing else.
    assert!(!validator.is_valid(&defaults), "no store.existingSecret");
    assert!(validator.is_valid(&merged(&defaults, &store)));
    let example = yaml(&chart("ci/example-values.yaml"));
    assert!(validator.is_valid(&merged(&defaults, &example)));
    for bad in [
        json!({"onRevoked": "delete"}),
        json!({"replicaCount": "2"}),
        json!({"watchNamespaces": ["Not_A_Namespace"]}),
        json!({"watchNamespaces": ["a", "a"]}),
        json!({"watchNamespace": ["a"]}),
        json!({"store": {"existingSecret": ""}}),
        json!({"leaderElection": {"enabled": "yes"}}),
        json!({"metrics": {"port": 70000}}),
        json!({"secretAccess": "list"}),
        json!({"secretAccess": "Get"}),
        json!({"secretAccess": null}),
        json!({"secretAccess": "get", "secretRecheckInterval": "soon"}),
        json!({"secretAccess": "get", "secretRecheckInterval": ""}),
        json!({"logFormat": "yaml"}),
        json!({"logLevel": 3}),
    ] {
        let values = merged(&merged(&defaults, &store), &bad);
        assert!(!validator.is_valid(&values), "accepted {bad}");
    }
    for good in [
        json!({"secretAccess": "get"}),
        json!({"secretAccess": "get", "secretRecheckInterval": "1h 30m"}),
        json!({"logFormat": "json", "logLevel": "bccreds=debug"}),
    ] {
        let values = merged(&merged(&defaults, &store), &good);
        assert!(validator.is_valid(&values), "refused {good}");
    }

    // The documented defaults.
    assert_eq!(defaults["replicaCount"], json!(2));
    assert_eq!(defaults["leaderElection"]["enabled"], json!(true));
    assert_eq!(defaults["watchNamespaces"], json!([]));
    assert_eq!(
        defaults["store"],
        json!({"existingSecret": "", "urlKey": "store-url", "appKeyKey": "app-key", "previousKeysKey": ""})
    );
    assert_eq!(defaults["image"]["tag"], json!(""));
    assert_eq!(defaults["onRevoked"], json!("keep"));
    // Empty: RUST_LOG stays unset, so bccreds logs its own lines at info and nothing from other
    // crates (a bare `info` would turn on every library's info lines).
    assert_eq!(defaults["logLevel"], json!(""));
    assert_eq!(defaults["logFormat"], json!("text"));
    assert_eq!(defaults["secretAccess"], json!("watch"));
    assert_eq!(defaults["secretRecheckInterval"], json!("1m"));
    assert_eq!(defaults["metrics"]["service"]["port"], json!(9464));
    assert_eq!(defaults["serviceMonitor"]["enabled"], json!(false));
    assert_eq!(
        defaults["resources"],
        json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}})
    );
    assert_eq!(
        defaults["podSecurityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let sc = &defaults["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], json!(true));
    assert_eq!(sc["allowPrivilegeEscalation"], json!(false));
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}));
}

/// (apiGroup, resource, verb) triples of a list of RBAC rules.
fn rule_set(rules: &Value) -> BTreeSet<(String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    };
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

fn triples(list: &[(&str, &str, &[&str])]) -> BTreeSet<(String, String, String)> {
    list.iter()
        .flat_map(|(g, r, verbs)| {
            verbs
                .iter()
                .map(|v| (g.to_string(), r.to_string(), v.to_string()))
        })
        .collect()
}

/// The text of a named template in `_helpers.tpl`: up to the `{{- end }}` before the next
/// comment or definition (the body may hold `if` blocks of its own).
fn helper(name: &str) -> String {
    let text = read(&chart("templates/_helpers.tpl"));
    let start = format!("{{{{- define \"{name}\" -}}}}\n");
    let body = &text[text.find(&start).unwrap_or_else(|| panic!("no {name}")) + start.len()..];
    let next = ["\n{{/*", "\n{{- define"]
        .iter()
        .filter_map(|m| body.find(m))
        .min()
        .unwrap_or(body.len());
    let body = body[..next].trim_end();
    let body = body.strip_suffix("{{- end }}").expect("end");
    body.to_string()
}

/// The values of `secretAccess`, as the schema and the binary know them.
const SECRET_ACCESS: [&str; 2] = ["watch", "get"];

/// `bccreds.watchRules` as Helm renders it for one `secretAccess`: its only conditional is the
/// Secret verbs, `{{- if eq .Values.secretAccess "get" }}` … `{{- else }}` … `{{- end }}`, on lines
/// of their own; any other template action fails the test.
fn watch_rules(secret_access: &str) -> Value {
    let mut out = String::new();
    // None outside the conditional; Some(keep) inside it.
    let mut branch: Option<bool> = None;
    let mut conditionals = 0;
    for line in helper("bccreds.watchRules").lines() {
        match line.trim() {
            "{{- if eq .Values.secretAccess \"get\" }}" => {
                assert!(branch.is_none(), "nested conditional");
                conditionals += 1;
                branch = Some(secret_access == "get");
            }
            "{{- else }}" => branch = Some(!branch.expect("else outside if")),
            "{{- end }}" => assert!(branch.take().is_some(), "end outside if"),
            other => {
                assert!(!other.contains("{{"), "unexpected template action: {other}");
                if branch.unwrap_or(true) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    assert!(branch.is_none(), "unclosed conditional");
    assert_eq!(conditionals, 1, "one conditional, on secretAccess");
    serde_yaml_ng::from_str(&out).expect("rules")
}

#[test]
fn rbac_is_least_privilege_in_the_template_text() {
    // The rules are plain YAML inside a named template, shared by the ClusterRole and the Roles;
    // only the Secret verbs depend on secretAccess.
    let common: &[(&str, &str, &[&str])] = &[
        (
            "bigcommerce.unopim.io",
            "bigcommercecredentials",
            &["get", "list", "watch", "patch", "update"],
        ),
        (
            "bigcommerce.unopim.io",
            "bigcommercecredentials/status",
            &["get", "patch", "update"],
        ),
        (
            "bigcommerce.unopim.io",
            "bigcommercecredentials/finalizers",
            &["update"],
        ),
        ("events.k8s.io", "events", &["create", "patch"]),
        ("", "events", &["create", "patch"]),
    ];
    for (mode, secret_verbs) in [("watch", &["get", "list", "watch"][..]), ("get", &["get"])] {
        let mut want = triples(common);
        want.extend(triples(&[("", "secrets", secret_verbs)]));
        assert_eq!(rule_set(&watch_rules(mode)), want, "secretAccess {mode}");
    }
    // Anything but `get` gets the watch rules, and the chart refuses anything but the two modes.
    let validate = helper("bccreds.validate");
    assert!(validate
        .contains("{{- if not (has .Values.secretAccess (list \"watch\" \"get\")) }}\n{{- fail "));

    // A ClusterRole only for all namespaces; a Role per namespace otherwise.
    let templates = chart("templates");
    for file in ["clusterrole.yaml", "clusterrolebinding.yaml"] {
        let text = read(&templates.join(file));
        assert!(
            text.contains("{{- if not .Values.watchNamespaces }}"),
            "{file}"
        );
    }
    for file in ["role.yaml", "rolebinding.yaml"] {
        let text = read(&templates.join(file));
        assert!(
            text.contains("{{- range .Values.watchNamespaces }}"),
            "{file}"
        );
        assert!(text.contains("namespace: {{ . }}"), "{file}");
    }
    for file in ["clusterrole.yaml", "role.yaml"] {
        let text = read(&templates.join(file));
        assert!(text.contains("include \"bccreds.watchRules\""), "{file}");
        assert!(
            !text.contains("secretAccess"),
            "{file}: the mode is the helper's"
        );
        assert!(
            !text.contains("secrets"),
            "{file} grants more than the shared rules"
        );
    }

    // Leases: only when leader election is on, only in the release namespace.
    let leases = read(&templates.join("role-leases.yaml"));
    assert!(leases.contains("{{- if .Values.leaderElection.enabled }}"));
    assert_eq!(
        leases
            .matches("namespace: {{ .Release.Namespace }}")
            .count(),
        3
    );
    let rules_text = &leases[leases.find("rules:\n").expect("rules") + "rules:\n".len()
        ..leases.find("---").expect("binding")];
    let rules_text = rules_text.replace(
        "{{ include \"bccreds.leaseName\" . | quote }}",
        "\"bccreds-leader\"",
    );
    let rules: Value = serde_yaml_ng::from_str(&rules_text).expect("lease rules");
    assert_eq!(
        rule_set(&rules),
        triples(&[(
            "coordination.k8s.io",
            "leases",
            &["get", "create", "update", "patch"]
        )])
    );
    let others = ["clusterrole.yaml", "role.yaml", "_helpers.tpl"];
    for file in others {
        assert!(!read(&templates.join(file)).contains("leases"), "{file}");
    }
}

#[test]
fn templates_render_the_expected_kinds_and_security_settings() {
    let templates = chart("templates");
    for (file, kinds) in [
        ("deployment.yaml", &["Deployment"][..]),
        ("serviceaccount.yaml", &["ServiceAccount"]),
        ("clusterrole.yaml", &["ClusterRole"]),
        ("clusterrolebinding.yaml", &["ClusterRoleBinding"]),
        ("role.yaml", &["Role"]),
        ("rolebinding.yaml", &["RoleBinding"]),
        ("role-leases.yaml", &["Role", "RoleBinding"]),
        ("service.yaml", &["Service"]),
        ("servicemonitor.yaml", &["ServiceMonitor"]),
    ] {
        let text = read(&templates.join(file));
        let found: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert_eq!(found, kinds, "{file}");
    }
    assert!(read(&templates.join("servicemonitor.yaml")).contains(
        "{{- if .Values.serviceMonitor.enabled }}\napiVersion: monitoring.coreos.com/v1\n"
    ));
    assert!(templates.join("NOTES.txt").is_file());

    let deployment = read(&templates.join("deployment.yaml"));
    for needle in [
        "automountServiceAccountToken: true",
        "toYaml .Values.podSecurityContext",
        "toYaml .Values.securityContext",
        "- controller\n",
        "printf \"--listen=%s:%v\" .Values.metrics.listenAddress .Values.metrics.port",
        "- --leader-election\n",
        "- --namespace={{ . }}\n",
        "- --secret-access={{ .Values.secretAccess }}\n",
        "{{- if eq .Values.secretAccess \"get\" }}\n            - {{ printf \"--secret-recheck-interval=%s\" (required ",
        "- --log-format={{ .Values.logFormat }}\n",
        "{{- with .Values.logLevel }}\n            - name: RUST_LOG\n              value: {{ . | quote }}\n            {{- end }}",
        "name: BCCREDS_STORE\n              valueFrom:\n                secretKeyRef:",
        "name: APP_KEY\n              valueFrom:\n                secretKeyRef:",
        "name: POD_NAME\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name",
        "name: POD_NAMESPACE\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.namespace",
        "livenessProbe:\n            httpGet:\n              path: /healthz\n              port: metrics",
        "readinessProbe:\n            httpGet:\n              path: /readyz\n              port: metrics",
    ] {
        assert!(deployment.contains(needle), "deployment.yaml lacks {needle:?}");
    }
    assert!(!deployment.contains("envFrom"));
    assert!(!deployment.contains("volumes:"), "bccreds writes nothing");
}

/// `bccreds` with no `BCCREDS_*` variables from the environment.
fn bccreds() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bccreds"));
    cmd.current_dir(root());
    for (key, _) in std::env::vars() {
        if key.starts_with("BCCREDS_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn the_schema_allows_exactly_what_bccreds_controller_accepts() {
    let schema: Value = serde_json::from_str(&read(&chart("values.schema.json"))).expect("JSON");
    let props = &schema["properties"];
    assert_eq!(props["secretAccess"]["enum"], json!(SECRET_ACCESS));
    assert_eq!(props["logFormat"]["enum"], json!(["text", "json"]));
    let defaults = yaml(&chart("values.yaml"));
    let interval = defaults["secretRecheckInterval"]
        .as_str()
        .expect("a string");
    // `--help` last: clap checks every argument before it, then prints help and starts nothing.
    let accepts = |args: &[String]| {
        let out = bccreds()
            .arg("controller")
            .args(args)
            .arg("--help")
            .output()
            .expect("bccreds runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for mode in SECRET_ACCESS {
        for format in ["text", "json"] {
            let args = [
                format!("--secret-access={mode}"),
                format!("--secret-recheck-interval={interval}"),
                format!("--log-format={format}"),
            ];
            let (ok, stderr) = accepts(&args);
            assert!(ok, "{args:?}: {stderr}");
        }
    }
    for bad in [
        "--secret-access=list",
        "--log-format=yaml",
        "--secret-recheck-interval=soon",
    ] {
        let (ok, _) = accepts(&[bad.to_string()]);
        assert!(!ok, "bccreds controller accepted {bad}");
    }
}

#[test]
fn the_readme_documents_every_value_and_secret_access() {
    let readme = read(&chart("README.md"));
    let defaults = yaml(&chart("values.yaml"));
    for key in defaults.as_object().expect("a map").keys() {
        assert!(
            readme.contains(&format!("| `{key}")) || readme.contains(&format!(", `{key}`")),
            "charts/bccreds/README.md has no row for {key}"
        );
    }
    let section = &readme[readme
        .find("\n## Secret access\n")
        .expect("a Secret access section")..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    for needle in [
        "`watchNamespaces`",
        "`secretAccess: watch`",
        "`secretAccess: get`",
        "`secretRecheckInterval`",
    ] {
        assert!(
            section.contains(needle),
            "the Secret access section lacks {needle}"
        );
    }
}

#[test]
fn the_kubernetes_examples_validate() {
    let credential = read(&root().join("examples/kubernetes/credential.yaml"));
    assert!(credential.starts_with(
        "# yaml-language-server: $schema=../../schemas/bigcommercecredential.schema.json\n"
    ));
    assert!(root()
        .join("examples/kubernetes/../../schemas/bigcommercecredential.schema.json")
        .is_file());
    for args in [&[][..], &["--kubernetes"]] {
        let out = bccreds()
            .arg("validate")
            .args(args)
            .arg("examples/kubernetes")
            .output()
            .expect("bccreds runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "validate {args:?} examples/kubernetes:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Whether `python3` can import what `render.py` needs (the Helm engine, kubernetes-validate and
/// PyYAML); the error when it cannot.
fn helm_engine() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import helm_python, kubernetes_validate, yaml"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("python3 cannot run: {e}")),
    }
}

#[test]
fn the_chart_renders_with_helm() {
    if let Err(why) = helm_engine() {
        let why = why.lines().last().unwrap_or_default().to_string();
        assert!(
            std::env::var_os("BCCREDS_REQUIRE_HELM").is_none_or(|v| v != "1"),
            "BCCREDS_REQUIRE_HELM=1 but the Helm engine is missing ({why}); install it: {INSTALL}"
        );
        // Written past the test harness's capture so that a plain `cargo test` shows it.
        let _ = writeln!(
            std::io::stderr(),
            "note: the Helm chart was not rendered ({why}); `{INSTALL}` installs the Helm engine"
        );
        return;
    }
    // With the binary, render.py also checks that `bccreds controller` accepts the arguments
    // the chart renders.
    let out = Command::new("python3")
        .arg(root().join("tests/chart/render.py"))
        .current_dir(root())
        .env("BCCREDS_BIN", env!("CARGO_BIN_EXE_bccreds"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "tests/chart/render.py failed:\n{report}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{report}");
}
