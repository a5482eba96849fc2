//! The checked-in schema and CRD match the code, the CRD is structural, and its CEL rules work.

mod common;

use std::fs;

use kube::core::cel::Validator;
use serde_json::{json, Value};

const FIX: &str = "regenerate with: cargo run -q -- schema > schemas/bigcommercecredential.schema.json && cargo run -q -- crd > schemas/bigcommercecredential.crd.yaml";

/// The file at `path` equals what the code generates, and what `bccreds COMMAND` prints.
fn assert_fresh(path: &str, generated: String, command: &str) {
    let checked_in = fs::read_to_string(path).expect("checked-in artifact");
    assert!(checked_in == generated, "{path} is stale; {FIX}");
    let out = common::run(&[command]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), checked_in);
}

#[test]
fn checked_in_json_schema_matches_the_code() {
    assert_fresh(
        "schemas/bigcommercecredential.schema.json",
        bccreds::schema::manifest_schema_json(),
        "schema",
    );
}

#[test]
fn checked_in_crd_matches_the_code() {
    assert_fresh(
        "schemas/bigcommercecredential.crd.yaml",
        bccreds::schema::crd_yaml(),
        "crd",
    );
}

#[test]
fn crd_has_the_names_scope_and_columns_kubectl_shows() {
    let crd = bccreds::schema::crd();
    assert_eq!(
        crd["metadata"]["name"],
        "bigcommercecredentials.bigcommerce.unopim.io"
    );
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["bcc"]));
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Label", "API URL", "Status", "Ready", "Age"]);
}

/// Kubernetes' structural-schema rules that a derived schema can break.
fn structural_violations(node: &Value, path: &str, in_junctor: bool, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&json!(true));
    if in_junctor {
        for banned in [
            "type",
            "description",
            "default",
            "additionalProperties",
            "nullable",
        ] {
            if obj.contains_key(banned) {
                out.push(format!("{path}: `{banned}` inside anyOf/oneOf/allOf/not"));
            }
        }
    } else if !obj.contains_key("type") && !preserve && !int_or_string {
        out.push(format!("{path}: no type"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!(
            "{path}: properties and additionalProperties together"
        ));
    }
    if obj.get("additionalProperties") == Some(&json!(false)) {
        out.push(format!("{path}: additionalProperties: false"));
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, v) in props {
            structural_violations(v, &format!("{path}.{k}"), in_junctor, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = obj.get(key).filter(|v| v.is_object()) {
            structural_violations(v, &format!("{path}.{key}"), in_junctor, out);
        }
    }
    for junctor in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = obj.get(junctor) {
            for (i, b) in branches.iter().enumerate() {
                structural_violations(b, &format!("{path}.{junctor}[{i}]"), true, out);
            }
        }
    }
}

fn openapi_schema() -> Value {
    bccreds::schema::crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn crd_schema_is_structural() {
    let mut problems = Vec::new();
    structural_violations(&openapi_schema(), "$", false, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn object(spec: Value) -> Value {
    json!({
        "apiVersion": "bigcommerce.unopim.io/v1alpha1",
        "kind": "BigCommerceCredential",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": spec
    })
}

fn good_spec() -> Value {
    json!({
        "label": "Shop",
        "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
        "accessToken": {"secretKeyRef": {"name": "bc", "key": "token"}},
        "defaultCurrency": "USD",
        "currencyMapping": {"USD": "USD"},
        "defaultLocale": "en_US",
        "localeMapping": {"en_US": "en"}
    })
}

fn cel_messages(spec: Value) -> Vec<String> {
    match Validator::new().validate(&openapi_schema(), &object(spec), None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

#[test]
fn cel_rules_accept_a_good_credential() {
    assert_eq!(cel_messages(good_spec()), Vec::<String>::new());
    let mut v3 = good_spec();
    v3["apiUrl"] = json!("https://api.bigcommerce.com/stores/abc123/v3/");
    assert_eq!(cel_messages(v3), Vec::<String>::new());
}

#[test]
fn cel_rules_reject_what_the_api_server_must_refuse() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "apiUrl",
            json!("http://api.bigcommerce.com/stores/abc123/"),
            "apiUrl must be the API path",
        ),
        (
            "apiUrl",
            json!("https://api.bigcommerce.com/stores/abc123/v3/catalog"),
            "apiUrl must be the API path",
        ),
        (
            "accessToken",
            json!({"file": "token"}),
            "file and env sources exist only in file mode",
        ),
        (
            "clientSecret",
            json!({"env": "X"}),
            "file and env sources exist only in file mode",
        ),
        (
            "accessToken",
            json!({"secretKeyRef": {"name": "a", "key": "b"}, "env": "X"}),
            "set exactly one",
        ),
        (
            "defaultCurrency",
            json!("EUR"),
            "defaultCurrency must be one of the currencyMapping keys",
        ),
        (
            "defaultLocale",
            json!("de_DE"),
            "defaultLocale must be one of the localeMapping keys",
        ),
    ];
    for (field, value, want) in cases {
        let mut spec = good_spec();
        spec[field] = value.clone();
        let messages = cel_messages(spec);
        assert!(
            messages.iter().any(|m| m.contains(want)),
            "{field}={value}: got {messages:?}, want {want}"
        );
    }
}
