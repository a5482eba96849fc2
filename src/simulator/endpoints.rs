//! The endpoints the simulator serves and the OAuth scopes each one needs.

use axum::http::Method;

/// A path after `/stores/{hash}/` that the simulator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `v2/store`.
    Store,
    /// `v2/time`.
    Time,
    /// `v2/currencies`.
    Currencies,
    /// `v3/settings/store/locale`.
    Locale,
    /// `v3/channels`.
    Channels,
    /// `v3/channels/{id}`.
    Channel(u64),
    /// `v3/channels/{id}/currency-assignments`.
    CurrencyAssignments(u64),
    /// `graphql` (the GraphQL Admin API).
    GraphQl,
    /// `v3/catalog/summary`.
    CatalogSummary,
}

const INFORMATION: &str = "store_v2_information";
const CHANNELS: &str = "store_channel_settings";
const PRODUCTS: &str = "store_v2_products";

impl Endpoint {
    /// The endpoint at `path`, which has no query and no leading slash; trailing or doubled
    /// slashes are not forgiven, as the real gateway does not forgive them either.
    pub fn parse(path: &str) -> Option<Endpoint> {
        let endpoint = match path {
            "v2/store" => Endpoint::Store,
            "v2/time" => Endpoint::Time,
            "v2/currencies" => Endpoint::Currencies,
            "v3/settings/store/locale" => Endpoint::Locale,
            "v3/channels" => Endpoint::Channels,
            "graphql" => Endpoint::GraphQl,
            "v3/catalog/summary" => Endpoint::CatalogSummary,
            _ => {
                let rest = path.strip_prefix("v3/channels/")?;
                let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
                let id = parse_id(id)?;
                match tail {
                    "" if !rest.ends_with('/') => Endpoint::Channel(id),
                    "currency-assignments" => Endpoint::CurrencyAssignments(id),
                    _ => return None,
                }
            }
        };
        Some(endpoint)
    }

    /// The scope (without `_read_only`) the endpoint needs; `None` for any valid token.
    pub fn scope(self) -> Option<&'static str> {
        match self {
            Endpoint::Time => None,
            Endpoint::Store | Endpoint::Currencies | Endpoint::Locale => Some(INFORMATION),
            Endpoint::Channels
            | Endpoint::Channel(_)
            | Endpoint::CurrencyAssignments(_)
            | Endpoint::GraphQl => Some(CHANNELS),
            Endpoint::CatalogSummary => Some(PRODUCTS),
        }
    }

    /// Whether a request with `method` only reads; GraphQL queries are POSTed but read.
    fn reads(self, method: &Method) -> bool {
        method == Method::GET
            || method == Method::HEAD
            || (self == Endpoint::GraphQl && method == Method::POST)
    }

    /// Whether a token with `scopes` may call this endpoint with `method`.
    pub fn allowed(self, scopes: &[String], method: &Method) -> bool {
        let Some(scope) = self.scope() else {
            return true;
        };
        scopes.iter().any(|s| {
            s == scope
                || (self.reads(method)
                    && s.strip_suffix("_read_only")
                        .is_some_and(|base| base == scope))
        })
    }
}

/// A channel id: ASCII digits only, so `+1` or ` 1` are not ids.
fn parse_id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_parse() {
        assert_eq!(Endpoint::parse("v2/store"), Some(Endpoint::Store));
        assert_eq!(Endpoint::parse("graphql"), Some(Endpoint::GraphQl));
        assert_eq!(
            Endpoint::parse("v3/channels/12"),
            Some(Endpoint::Channel(12))
        );
        assert_eq!(
            Endpoint::parse("v3/channels/1/currency-assignments"),
            Some(Endpoint::CurrencyAssignments(1))
        );
    }

    #[test]
    fn near_misses_do_not_parse() {
        for path in [
            "",
            "v2/store/",
            "v2//store",
            "v3/channels/",
            "v3/channels/x",
            "v3/channels/+1",
            "v3/channels/1/",
            "v3/channels/1/currency-assignments/",
            "v3/channels/1/other",
            "v3/catalog/products",
        ] {
            assert_eq!(Endpoint::parse(path), None, "{path}");
        }
    }

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn read_only_scopes_allow_reads_only() {
        let ro = scopes(&[
            "store_v2_information_read_only",
            "store_channel_settings_read_only",
        ]);
        assert!(Endpoint::Store.allowed(&ro, &Method::GET));
        assert!(Endpoint::Store.allowed(&ro, &Method::HEAD));
        assert!(!Endpoint::Store.allowed(&ro, &Method::PUT));
        assert!(Endpoint::GraphQl.allowed(&ro, &Method::POST));
        assert!(!Endpoint::Channels.allowed(&ro, &Method::POST));
        assert!(!Endpoint::CatalogSummary.allowed(&ro, &Method::GET));
    }

    #[test]
    fn full_scopes_allow_everything_and_time_needs_none() {
        let full = scopes(&["store_v2_products"]);
        assert!(Endpoint::CatalogSummary.allowed(&full, &Method::GET));
        assert!(Endpoint::CatalogSummary.allowed(&full, &Method::POST));
        assert!(!Endpoint::Currencies.allowed(&full, &Method::GET));
        assert!(Endpoint::Time.allowed(&[], &Method::GET));
        // A different scope that merely starts with the right words is not enough.
        let other = scopes(&["store_v2_information_extra_read_only"]);
        assert!(!Endpoint::Store.allowed(&other, &Method::GET));
    }
}
