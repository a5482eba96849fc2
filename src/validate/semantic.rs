//! Checks the JSON Schema cannot express: URL normalisation, code formats, mapping rules,
//! secret-source rules and annotations. Pure functions over one credential.

use std::collections::BTreeMap;

use crate::api_url;
use crate::model::{
    BigCommerceCredential, SecretSource, ADOPT_ANNOTATION, DELETION_POLICY_ANNOTATION,
    MAX_API_URL_CHARS,
};
use crate::yaml::Segment;

use super::codes::{is_iso4217_currency, is_unopim_locale};

const CURRENCY_WHAT: &str = "an ISO 4217 currency code such as USD or EUR";

/// A problem in one credential, located by its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Path of the offending node.
    pub path: Vec<Segment>,
    /// Whether the finding is about a mapping key rather than its value.
    pub at_key: bool,
    /// What is wrong.
    pub message: String,
}

/// What the semantic checks need to know beyond the credential.
#[derive(Clone, Debug)]
pub struct SemanticOptions {
    /// Hosts `apiUrl` may name.
    pub allowed_hosts: Vec<String>,
    /// Kubernetes mode: only secretKeyRef sources are possible.
    pub kubernetes: bool,
    /// Glob patterns (`*`, `?`) of the environment variables `env:` sources may read.
    pub env_allow: Vec<String>,
}

/// The variables `env:` sources may read without `--env-allow`.
pub const DEFAULT_ENV_ALLOW: [&str; 2] = ["BC_*", "BIGCOMMERCE_*"];

/// Whether `name` matches the glob `pattern`: `*` is any run of characters, `?` one character.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic wildcard matching with one backtrack point: linear for a single `*`, and never
    // worse than O(p·n) however many there are.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn path(parts: &[&str]) -> Vec<Segment> {
    parts.iter().map(|p| Segment::Key(p.to_string())).collect()
}

fn at(parts: &[&str], message: impl Into<String>) -> Finding {
    Finding {
        path: path(parts),
        at_key: false,
        message: message.into(),
    }
}

/// BigCommerce locale: a loose language tag (`en`, `fr`, `en-US`, `en-UK`, `ua`).
pub fn is_bigcommerce_locale(code: &str) -> bool {
    let mut parts = code.split(['-', '_']);
    let first_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Runs every per-credential check.
pub fn check(cred: &BigCommerceCredential, opts: &SemanticOptions) -> Vec<Finding> {
    let spec = &cred.spec;
    let mut out = Vec::new();

    match api_url::normalize(&spec.api_url, &opts.allowed_hosts) {
        Err(e) => out.push(at(&["spec", "apiUrl"], format!("apiUrl {e}"))),
        Ok(url) if url.normalized.chars().count() > MAX_API_URL_CHARS => out.push(at(
            &["spec", "apiUrl"],
            format!(
                "apiUrl is {} characters once normalized; the store's column holds {MAX_API_URL_CHARS}",
                url.normalized.chars().count()
            ),
        )),
        Ok(_) => {}
    }
    if spec.label.trim().is_empty() {
        out.push(at(&["spec", "label"], "label must not be blank"));
    } else if spec.label.chars().any(char::is_control) {
        out.push(at(
            &["spec", "label"],
            "label must not contain control characters",
        ));
    }

    check_mapping(
        &mut out,
        "localeMapping",
        &spec.locale_mapping,
        (
            is_unopim_locale,
            "a UnoPim locale code such as en_US, de_DE or az_Cyrl_AZ",
        ),
        (
            is_bigcommerce_locale,
            "a BigCommerce locale such as en, fr or en-US",
        ),
    );
    check_mapping(
        &mut out,
        "currencyMapping",
        &spec.currency_mapping,
        (is_iso4217_currency, CURRENCY_WHAT),
        (is_iso4217_currency, CURRENCY_WHAT),
    );
    check_default(
        &mut out,
        "defaultLocale",
        spec.default_locale.as_deref(),
        (
            is_unopim_locale,
            "a UnoPim locale code such as en_US, de_DE or az_Cyrl_AZ",
        ),
        ("localeMapping", &spec.locale_mapping),
    );
    check_default(
        &mut out,
        "defaultCurrency",
        spec.default_currency.as_deref(),
        (is_iso4217_currency, CURRENCY_WHAT),
        ("currencyMapping", &spec.currency_mapping),
    );

    for (field, source) in spec.secret_sources() {
        check_source(&mut out, field, source, opts);
    }
    check_annotations(&mut out, cred.metadata.annotations.as_ref());
    out
}

type CodeRule = (fn(&str) -> bool, &'static str);

fn check_mapping(
    out: &mut Vec<Finding>,
    field: &str,
    mapping: &BTreeMap<String, String>,
    (key_ok, key_what): CodeRule,
    (value_ok, value_what): CodeRule,
) {
    for (key, value) in mapping {
        let mut p = path(&["spec", field]);
        p.push(Segment::Key(key.clone()));
        if !key_ok(key) {
            out.push(Finding {
                path: p.clone(),
                at_key: true,
                message: format!("`{key}` is not {key_what}"),
            });
        }
        if !value_ok(value) {
            out.push(Finding {
                path: p,
                at_key: false,
                message: format!("`{value}` is not {value_what}"),
            });
        }
    }
}

fn check_default(
    out: &mut Vec<Finding>,
    field: &str,
    value: Option<&str>,
    (known, what): CodeRule,
    (mapping_field, mapping): (&str, &BTreeMap<String, String>),
) {
    if let Some(value) = value {
        // Only values of the right shape get here: the schema refused the others, quoting them.
        if !known(value) {
            out.push(at(&["spec", field], format!("`{value}` is not {what}")));
        } else if !mapping.is_empty() && !mapping.contains_key(value) {
            let keys: Vec<&str> = mapping.keys().map(String::as_str).collect();
            out.push(at(
                &["spec", field],
                format!(
                    "{field} `{value}` must be one of the {mapping_field} keys ({})",
                    keys.join(", ")
                ),
            ));
        }
    }
}

fn check_source(
    out: &mut Vec<Finding>,
    field: &str,
    source: &SecretSource,
    opts: &SemanticOptions,
) {
    let kind = source.kind();
    if opts.kubernetes && !matches!(source, SecretSource::SecretKeyRef(_)) {
        out.push(at(
            &["spec", field, kind],
            format!("{kind} sources exist only in file mode; in Kubernetes use secretKeyRef"),
        ));
        return;
    }
    if let SecretSource::Env(name) = source {
        // A manifest's author must not be able to copy the reconciler's own environment (its
        // APP_KEY, its database password) into a column UnoPim shows.
        if !opts.env_allow.iter().any(|p| glob_matches(p, name)) {
            out.push(at(
                &["spec", field, "env"],
                format!(
                    "environment variable `{name}` is not allowed: env sources may read only {} (--env-allow); allow it with --env-allow {name}",
                    opts.env_allow.join(", ")
                ),
            ));
        }
    }
    if let SecretSource::File(rel) = source {
        let p = std::path::Path::new(rel);
        if p.is_absolute() || rel.starts_with('\\') {
            out.push(at(
                &["spec", field, "file"],
                "file must be a path relative to --secrets-dir, not an absolute path",
            ));
        } else if p
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
            || rel.split(['/', '\\']).any(|s| s == "..")
        {
            out.push(at(
                &["spec", field, "file"],
                "file must stay inside --secrets-dir; `..` is not allowed",
            ));
        } else if rel.contains('\0') {
            out.push(at(&["spec", field, "file"], "file must not contain NUL"));
        }
    }
}

fn check_annotations(out: &mut Vec<Finding>, annotations: Option<&BTreeMap<String, String>>) {
    let Some(annotations) = annotations else {
        return;
    };
    let mut check = |key: &str, allowed: &[&str]| {
        if let Some(value) = annotations.get(key) {
            if !allowed.contains(&value.as_str()) {
                out.push(at(
                    &["metadata", "annotations", key],
                    format!("`{key}` must be {}, not `{value}`", allowed.join(" or ")),
                ));
            }
        }
    };
    check(DELETION_POLICY_ANNOTATION, &["Delete", "Orphan"]);
    check(ADOPT_ANNOTATION, &["true", "false"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_globs() {
        for (pattern, name, matches) in [
            ("BC_*", "BC_TOKEN", true),
            ("BC_*", "BC_", true),
            ("BC_*", "APP_KEY", false),
            ("BC_*", "XBC_TOKEN", false),
            ("BIGCOMMERCE_*", "BIGCOMMERCE_EU_TOKEN", true),
            ("APP_KEY", "APP_KEY", true),
            ("APP_KEY", "APP_KEYS", false),
            ("SHOP_?_TOKEN", "SHOP_1_TOKEN", true),
            ("SHOP_?_TOKEN", "SHOP_12_TOKEN", false),
            ("*_TOKEN", "EU_SHOP_TOKEN", true),
            ("*_TOKEN_*", "A_TOKEN_TOKEN_B", true),
            ("*", "ANYTHING", true),
            ("", "X", false),
        ] {
            assert_eq!(glob_matches(pattern, name), matches, "{pattern} {name}");
        }
    }

    #[test]
    fn bigcommerce_locales_are_loose_tags() {
        for ok in ["en", "fr", "en-US", "en-UK", "ua", "zh-Hans"] {
            assert!(is_bigcommerce_locale(ok), "{ok}");
        }
        for bad in ["", "e", "en-", "english-language", "en US"] {
            assert!(!is_bigcommerce_locale(bad), "{bad}");
        }
    }
}
