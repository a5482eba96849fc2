//! The one template for BigCommerceCredential manifests, so that a change of the manifest format
//! is made once for every test.

use std::fmt::Write as _;
use std::path::Path;

/// Where a secret comes from, as a manifest says it.
#[derive(Clone, Debug)]
pub enum Source {
    /// `env: VAR`.
    Env(String),
    /// `file: PATH`, under `--secrets-dir`.
    File(String),
    /// `secretKeyRef: {name: NAME, key: KEY}`, a Secret in the credential's namespace.
    SecretKeyRef(String, String),
}

impl Source {
    pub fn env(var: &str) -> Source {
        Source::Env(var.into())
    }

    pub fn file(path: &str) -> Source {
        Source::File(path.into())
    }

    pub fn secret(name: &str, key: &str) -> Source {
        Source::SecretKeyRef(name.into(), key.into())
    }

    fn render(&self) -> String {
        match self {
            Source::Env(var) => format!("env: {var}"),
            Source::File(path) => format!("file: {path}"),
            Source::SecretKeyRef(name, key) => {
                format!("secretKeyRef: {{name: {name}, key: {key}}}")
            }
        }
    }
}

/// A clientId: plain text in the manifest, or read from a secret source.
#[derive(Clone, Debug)]
enum ClientId {
    Literal(String),
    From(Source),
}

/// A BigCommerceCredential manifest: `Manifest::new(name)` is store abc123 labelled `name`,
/// without a token, and each method changes one field.
#[derive(Clone, Debug)]
pub struct Manifest {
    name: String,
    namespace: Option<String>,
    annotations: Vec<(String, String)>,
    label: String,
    api_url: String,
    access_token: Option<Source>,
    client_id: Option<ClientId>,
    client_secret: Option<Source>,
    active: Option<bool>,
    default_locale: Option<String>,
    default_currency: Option<String>,
    locale_mapping: Vec<(String, String)>,
    currency_mapping: Vec<(String, String)>,
}

impl Manifest {
    pub fn new(name: &str) -> Manifest {
        Manifest {
            name: name.into(),
            namespace: None,
            annotations: Vec::new(),
            label: name.into(),
            api_url: store_url("abc123"),
            access_token: None,
            client_id: None,
            client_secret: None,
            active: None,
            default_locale: None,
            default_currency: None,
            locale_mapping: Vec::new(),
            currency_mapping: Vec::new(),
        }
    }

    /// `shop/prod`: "Production" on store abc123, its token the secret file `prod`.
    pub fn prod() -> Manifest {
        Manifest::new("prod")
            .namespace("shop")
            .label("Production")
            .token(Source::file("prod"))
    }

    /// `shop/outlet`: "Outlet" on store def456, its token the secret file `outlet`.
    pub fn outlet() -> Manifest {
        Manifest::new("outlet")
            .namespace("shop")
            .label("Outlet")
            .store("def456")
            .token(Source::file("outlet"))
    }

    /// `NAME.yaml`.
    pub fn file_name(&self) -> String {
        format!("{}.yaml", self.name)
    }

    pub fn namespace(mut self, namespace: &str) -> Manifest {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn label(mut self, label: &str) -> Manifest {
        self.label = label.into();
        self
    }

    /// The apiUrl of the BigCommerce store `hash`.
    pub fn store(self, hash: &str) -> Manifest {
        self.api_url(&store_url(hash))
    }

    pub fn api_url(mut self, url: &str) -> Manifest {
        self.api_url = url.into();
        self
    }

    pub fn token(mut self, source: Source) -> Manifest {
        self.access_token = Some(source);
        self
    }

    pub fn client_id(mut self, value: &str) -> Manifest {
        self.client_id = Some(ClientId::Literal(value.into()));
        self
    }

    pub fn client_id_from(mut self, source: Source) -> Manifest {
        self.client_id = Some(ClientId::From(source));
        self
    }

    pub fn client_secret(mut self, source: Source) -> Manifest {
        self.client_secret = Some(source);
        self
    }

    pub fn active(mut self, active: bool) -> Manifest {
        self.active = Some(active);
        self
    }

    pub fn default_locale(mut self, code: &str) -> Manifest {
        self.default_locale = Some(code.into());
        self
    }

    pub fn default_currency(mut self, code: &str) -> Manifest {
        self.default_currency = Some(code.into());
        self
    }

    pub fn locale_mapping(mut self, pairs: &[(&str, &str)]) -> Manifest {
        self.locale_mapping = owned(pairs);
        self
    }

    pub fn currency_mapping(mut self, pairs: &[(&str, &str)]) -> Manifest {
        self.currency_mapping = owned(pairs);
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Manifest {
        self.annotations.push((key.into(), value.into()));
        self
    }

    /// `Delete` or `Orphan`, by annotation.
    pub fn deletion_policy(self, policy: &str) -> Manifest {
        self.annotation("bigcommerce.unopim.io/deletion-policy", policy)
    }

    /// Asks to adopt a row with the same label that no manifest manages.
    pub fn adopt(self) -> Manifest {
        self.annotation("bigcommerce.unopim.io/adopt", "true")
    }

    /// The YAML document.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n",
        );
        let _ = writeln!(out, "  name: {}", self.name);
        if let Some(namespace) = &self.namespace {
            let _ = writeln!(out, "  namespace: {namespace}");
        }
        if !self.annotations.is_empty() {
            out.push_str("  annotations:\n");
            for (key, value) in &self.annotations {
                // Quoted, so that "true" stays a string as Kubernetes requires.
                let _ = writeln!(out, "    {key}: \"{value}\"");
            }
        }
        let _ = writeln!(out, "spec:\n  label: {}", scalar(&self.label));
        let _ = writeln!(out, "  apiUrl: {}", self.api_url);
        if let Some(token) = &self.access_token {
            let _ = writeln!(out, "  accessToken:\n    {}", token.render());
        }
        match &self.client_id {
            Some(ClientId::Literal(value)) => {
                let _ = writeln!(out, "  clientId: {value}");
            }
            Some(ClientId::From(source)) => {
                let _ = writeln!(out, "  clientId:\n    {}", source.render());
            }
            None => {}
        }
        if let Some(secret) = &self.client_secret {
            let _ = writeln!(out, "  clientSecret:\n    {}", secret.render());
        }
        if let Some(active) = self.active {
            let _ = writeln!(out, "  active: {active}");
        }
        if let Some(code) = &self.default_locale {
            let _ = writeln!(out, "  defaultLocale: {code}");
        }
        if let Some(code) = &self.default_currency {
            let _ = writeln!(out, "  defaultCurrency: {code}");
        }
        for (key, pairs) in [
            ("localeMapping", &self.locale_mapping),
            ("currencyMapping", &self.currency_mapping),
        ] {
            if !pairs.is_empty() {
                let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let _ = writeln!(out, "  {key}: {{{}}}", pairs.join(", "));
            }
        }
        out
    }

    /// Writes the document to `path`.
    pub fn write(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        std::fs::write(path, self.render())
            .unwrap_or_else(|e| panic!("write manifest {}: {e}", path.display()));
    }
}

fn store_url(hash: &str) -> String {
    format!("https://api.bigcommerce.com/stores/{hash}/")
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `text` as a YAML scalar: plain where YAML reads it back as the same string, else quoted.
fn scalar(text: &str) -> String {
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic())
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._()-/".contains(c));
    if plain && !["true", "false", "null", "yes", "no"].contains(&text.to_lowercase().as_str()) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}
