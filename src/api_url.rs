//! Normalising a credential's `apiUrl` to the canonical store API path.

use thiserror::Error;
use url::Url;

/// The host BigCommerce serves the store-level API on.
pub const DEFAULT_ALLOWED_HOST: &str = "api.bigcommerce.com";

/// A normalised `apiUrl`: `https://{host}/stores/{hash}/` and the store hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiUrl {
    /// The canonical URL, with exactly one trailing slash and no `v2/`/`v3/`.
    pub normalized: String,
    /// The store hash taken from the path.
    pub store_hash: String,
}

/// Why an `apiUrl` is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApiUrlError {
    /// Not a URL at all.
    #[error("is not a valid URL")]
    NotAUrl,
    /// Anything but https would send the token in clear text.
    #[error("must use https, not {0}")]
    NotHttps(String),
    /// The host is not one bccreds may send tokens to.
    #[error("host `{host}` is not allowed (allowed: {allowed}); the token would be sent there")]
    HostNotAllowed {
        /// The URL's host.
        host: String,
        /// The allow-list, comma-separated.
        allowed: String,
    },
    /// User info, a port, a query or a fragment have no place in the API path.
    #[error("must not contain {0}")]
    Extra(&'static str),
    /// The path is not `/stores/{hash}/` with an optional `v2/` or `v3/`.
    #[error("path must be /stores/{{store_hash}}/ as shown on the API account screen")]
    BadPath,
}

/// Normalises `raw` and checks its host against `allowed_hosts`.
pub fn normalize(raw: &str, allowed_hosts: &[String]) -> Result<ApiUrl, ApiUrlError> {
    let url = Url::parse(raw.trim()).map_err(|_| ApiUrlError::NotAUrl)?;
    if url.scheme() != "https" {
        return Err(ApiUrlError::NotHttps(url.scheme().to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiUrlError::Extra("user info"));
    }
    if url.port().is_some() {
        return Err(ApiUrlError::Extra("a port"));
    }
    if url.query().is_some() {
        return Err(ApiUrlError::Extra("a query string"));
    }
    if url.fragment().is_some() {
        return Err(ApiUrlError::Extra("a fragment"));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if !allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Err(ApiUrlError::HostNotAllowed {
            host,
            allowed: allowed_hosts.join(", "),
        });
    }
    let segments: Vec<&str> = url.path().split('/').skip(1).collect();
    let store_hash = match segments.as_slice() {
        ["stores", hash] | ["stores", hash, ""] => *hash,
        ["stores", hash, "v2" | "v3"] | ["stores", hash, "v2" | "v3", ""] => *hash,
        _ => return Err(ApiUrlError::BadPath),
    };
    if store_hash.is_empty() || !store_hash.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiUrlError::BadPath);
    }
    let store_hash = store_hash.to_ascii_lowercase();
    Ok(ApiUrl {
        normalized: format!("https://{host}/stores/{store_hash}/"),
        store_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![DEFAULT_ALLOWED_HOST.to_string()]
    }

    #[test]
    fn accepts_the_forms_the_api_account_screen_shows() {
        for raw in [
            "https://api.bigcommerce.com/stores/abc123/",
            "https://api.bigcommerce.com/stores/abc123",
            "https://api.bigcommerce.com/stores/abc123/v3/",
            "https://api.bigcommerce.com/stores/abc123/v2",
            "https://API.BigCommerce.com/stores/ABC123/",
        ] {
            let got = normalize(raw, &allowed()).unwrap();
            assert_eq!(
                got.normalized, "https://api.bigcommerce.com/stores/abc123/",
                "{raw}"
            );
            assert_eq!(got.store_hash, "abc123");
        }
    }

    #[test]
    fn refuses_what_could_leak_the_token() {
        let cases = [
            ("http://api.bigcommerce.com/stores/abc/", "https"),
            ("https://evil.example/stores/abc/", "not allowed"),
            (
                "https://user:pw@api.bigcommerce.com/stores/abc/",
                "user info",
            ),
            ("https://api.bigcommerce.com:8443/stores/abc/", "port"),
            ("https://api.bigcommerce.com/stores/abc/?x=1", "query"),
            ("https://api.bigcommerce.com/stores/abc/v3/catalog", "path"),
            ("https://api.bigcommerce.com/stores//", "path"),
            ("https://api.bigcommerce.com/stores/ab-c/", "path"),
            ("not a url", "valid URL"),
        ];
        for (raw, want) in cases {
            let err = normalize(raw, &allowed()).unwrap_err().to_string();
            assert!(err.contains(want), "{raw}: {err}");
        }
    }
}
