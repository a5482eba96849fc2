//! JSON bodies of the simulated endpoints, shaped like BigCommerce's.
//!
//! Fields bccreds never reads are included with plausible values, so clients written against
//! the simulator do not break on the real API's fuller objects.

use serde_json::{json, Value};

use super::fixture::{CurrencyFixture, StoreFixture};

/// Currencies per page of `v2/currencies` when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` BigCommerce accepts.
pub const MAX_LIMIT: usize = 250;

// A fixed date keeps responses reproducible; the value only has to look like BigCommerce's.
const LAST_UPDATED: &str = "Tue, 03 Mar 2026 09:15:00 +0000";
const CREATED: &str = "2025-06-02T10:00:00Z";

/// A channel as served, after the fixture's defaults are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Channel id.
    pub id: u64,
    /// Channel name.
    pub name: String,
    /// Enabled currency codes.
    pub currencies: Vec<String>,
    /// The channel's default currency.
    pub default_currency: String,
    /// GraphQL locale codes, the default first.
    pub locales: Vec<String>,
}

/// The store's domain: the fixture's, or BigCommerce's default for a store without one.
pub fn domain(store: &StoreFixture) -> String {
    if store.domain.is_empty() {
        format!("store-{}.mybigcommerce.com", store.hash)
    } else {
        store.domain.clone()
    }
}

/// Codes of the store's enabled currencies; the store currency alone when none are listed.
fn enabled_codes(store: &StoreFixture) -> Vec<String> {
    let codes: Vec<String> = store
        .currencies
        .iter()
        .filter(|c| c.enabled)
        .map(|c| c.code.clone())
        .collect();
    if codes.is_empty() {
        vec![store.currency.clone()]
    } else {
        codes
    }
}

/// The store's channels; a store without any has the default storefront, channel 1.
///
/// Missing currencies and locales of a channel fall back to the store's.
pub fn channels(store: &StoreFixture) -> Vec<Channel> {
    if store.channels.is_empty() {
        return vec![Channel {
            id: 1,
            name: store.name.clone(),
            currencies: enabled_codes(store),
            default_currency: store.currency.clone(),
            locales: vec![store.language.clone()],
        }];
    }
    store
        .channels
        .iter()
        .map(|c| {
            let currencies = if c.currencies.is_empty() {
                enabled_codes(store)
            } else {
                c.currencies.clone()
            };
            let default_currency = c
                .default_currency
                .clone()
                .or_else(|| c.currencies.first().cloned())
                .unwrap_or_else(|| store.currency.clone());
            let locales = if c.locales.is_empty() {
                vec![store.language.clone()]
            } else {
                c.locales.clone()
            };
            Channel {
                id: c.id,
                name: c.name.clone(),
                currencies,
                default_currency,
                locales,
            }
        })
        .collect()
}

/// The store's channel `id`, if it has one.
pub fn channel(store: &StoreFixture, id: u64) -> Option<Channel> {
    channels(store).into_iter().find(|c| c.id == id)
}

fn symbol(code: &str) -> String {
    match code {
        "USD" | "CAD" | "AUD" | "NZD" | "MXN" => "$".into(),
        "EUR" => "€".into(),
        "GBP" => "£".into(),
        "JPY" | "CNY" => "¥".into(),
        "INR" => "₹".into(),
        other => other.into(),
    }
}

/// `GET v2/store`: a bare object.
pub fn store(store: &StoreFixture, index: usize) -> Value {
    let domain = domain(store);
    let channel_count = store.channels.len().max(1);
    // Built in two halves: one json! of every field exceeds the macro recursion limit.
    let mut body = json!({
        "id": store.hash,
        "account_uuid": format!("00000000-0000-4000-8000-{:012}", index + 1),
        "domain": domain,
        "secure_url": format!("https://{domain}"),
        "control_panel_base_url": format!("https://store-{}.mybigcommerce.com", store.hash),
        "status": "live",
        "name": store.name,
        "first_name": "Demo",
        "last_name": "Merchant",
        "address": "1 Example Street\nAustin, Texas 78701\nUnited States",
        "country": "United States",
        "country_code": "US",
        "phone": "",
        "admin_email": format!("admin@{domain}"),
        "order_email": format!("orders@{domain}"),
        "favicon_url": "",
        "timezone": {
            "name": "UTC",
            "raw_offset": 0,
            "dst_offset": 0,
            "dst_correction": false,
            "date_format": {"display": "jS M Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A"}
        },
    });
    let rest = json!({
        "language": store.language,
        "currency": store.currency,
        "currency_symbol": symbol(&store.currency),
        "decimal_separator": ".",
        "thousands_separator": ",",
        "decimal_places": 2,
        "currency_symbol_location": "left",
        "weight_units": "LBS",
        "dimension_units": "Inches",
        "plan_name": "Standard",
        "plan_level": "Standard",
        "plan_is_trial": false,
        "industry": "",
        "logo": [],
        "is_price_entered_with_tax": false,
        "store_id": 1_000_000 + index,
        "default_site_id": 1000,
        "default_channel_id": 1,
        "features": {
            "stencil_enabled": true,
            "sitewidehttps_enabled": true,
            "facebook_catalog_id": "",
            "checkout_type": "optimized",
            "wishlists_enabled": false,
            "graphql_storefront_api_enabled": true,
            "shopper_consent_tracking_enabled": false,
            "multi_storefront_enabled": store.channels.len() > 1,
            "storefront_limits": {"active": channel_count, "total_including_inactive": channel_count}
        }
    });
    if let (Some(map), Value::Object(more)) = (body.as_object_mut(), rest) {
        map.extend(more);
    }
    body
}

/// `GET v2/time`.
pub fn time(unix_seconds: u64) -> Value {
    json!({"time": unix_seconds})
}

fn currency(store: &StoreFixture, index: usize, c: &CurrencyFixture) -> Value {
    json!({
        "id": index + 1,
        "is_default": c.code == store.currency,
        "last_updated": LAST_UPDATED,
        "country_iso2": "",
        "default_for_country_codes": [],
        "currency_code": c.code,
        "currency_exchange_rate": c.exchange_rate.clone().unwrap_or_else(|| "1.0000000000".into()),
        "name": c.name.clone().unwrap_or_else(|| c.code.clone()),
        "token": symbol(&c.code),
        "auto_update": false,
        "token_location": "left",
        "decimal_token": ".",
        "thousands_token": ",",
        "decimal_places": 2,
        "enabled": c.enabled,
        "is_transactional": true
    })
}

/// One page (1-based) of `GET v2/currencies`; `None` when the page is empty (a 204).
pub fn currencies_page(store: &StoreFixture, page: usize, limit: usize) -> Option<Value> {
    let start = page.saturating_sub(1).saturating_mul(limit);
    let items: Vec<Value> = store
        .currencies
        .iter()
        .enumerate()
        .skip(start)
        .take(limit)
        .map(|(i, c)| currency(store, i, c))
        .collect();
    (!items.is_empty()).then_some(Value::Array(items))
}

/// `page` and `limit` from a query string, with BigCommerce's defaults and cap.
pub fn paging(query: Option<&str>) -> (usize, usize) {
    let (mut page, mut limit) = (1, DEFAULT_LIMIT);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match (key.as_ref(), value.parse::<usize>()) {
            ("page", Ok(n)) => page = n.max(1),
            ("limit", Ok(n)) => limit = n.clamp(1, MAX_LIMIT),
            _ => {}
        }
    }
    (page, limit)
}

/// `GET v3/settings/store/locale`.
pub fn locale(store: &StoreFixture) -> Value {
    let language = store.shopper_language.as_ref().unwrap_or(&store.language);
    json!({
        "data": {
            "default_shopper_language": language,
            "shopper_language_selection_method": "default_shopper_language",
            "store_country": "United States"
        },
        "meta": {}
    })
}

fn channel_object(c: &Channel) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "type": "storefront",
        "platform": "bigcommerce",
        "status": "active",
        "external_id": "",
        "is_listable_from_ui": true,
        "is_visible": true,
        "is_enabled": true,
        "config_meta": {"app": {"id": 0, "sections": []}},
        "icon_url": "",
        "date_created": CREATED,
        "date_modified": CREATED
    })
}

/// `GET v3/channels`: every channel on one page.
pub fn channels_list(store: &StoreFixture) -> Value {
    let list = channels(store);
    let data: Vec<Value> = list.iter().map(channel_object).collect();
    json!({
        "data": data,
        "meta": {"pagination": {
            "total": list.len(),
            "count": list.len(),
            "per_page": DEFAULT_LIMIT,
            "current_page": 1,
            "total_pages": 1,
            "links": {"current": "?page=1&limit=50"}
        }}
    })
}

/// `GET v3/channels/{id}`.
pub fn channel_single(c: &Channel) -> Value {
    json!({"data": channel_object(c), "meta": {}})
}

/// `GET v3/channels/{id}/currency-assignments`.
pub fn currency_assignments(c: &Channel) -> Value {
    json!({
        "data": {
            "channel_id": c.id,
            "enabled_currencies": c.currencies,
            "default_currency": c.default_currency
        },
        "meta": {}
    })
}

/// `GET v3/catalog/summary`.
pub fn catalog_summary(store: &StoreFixture) -> Value {
    json!({
        "data": {
            "inventory_count": store.product_count,
            "variant_count": store.product_count,
            "inventory_value": 0,
            "highest_variant_price": "0.00",
            "average_variant_price": "0.00",
            "lowest_variant_price": "0.00",
            "oldest_variant_date": CREATED,
            "newest_variant_date": CREATED,
            "primary_category_id": 18,
            "primary_category_name": "Shop All"
        },
        "meta": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::fixture::ChannelFixture;

    fn currency(code: &str, enabled: bool) -> CurrencyFixture {
        CurrencyFixture {
            code: code.into(),
            name: None,
            enabled,
            exchange_rate: None,
        }
    }

    fn shop() -> StoreFixture {
        StoreFixture {
            hash: "abc123".into(),
            name: "Shop".into(),
            currencies: vec![
                currency("USD", true),
                currency("EUR", true),
                currency("JPY", false),
            ],
            ..StoreFixture::default()
        }
    }

    #[test]
    fn a_store_without_channels_has_channel_1_from_the_store() {
        let list = channels(&shop());
        assert_eq!(
            list,
            vec![Channel {
                id: 1,
                name: "Shop".into(),
                currencies: vec!["USD".into(), "EUR".into()],
                default_currency: "USD".into(),
                locales: vec!["en".into()],
            }]
        );
    }

    #[test]
    fn a_channel_defaults_to_its_first_currency() {
        let mut s = shop();
        s.channels = vec![ChannelFixture {
            id: 2,
            name: "EU".into(),
            currencies: vec!["EUR".into(), "GBP".into()],
            default_currency: None,
            locales: vec![],
        }];
        let c = channel(&s, 2).expect("channel 2");
        assert_eq!(c.default_currency, "EUR");
        assert_eq!(c.locales, vec!["en".to_string()]);
        assert!(channel(&s, 1).is_none());
    }

    #[test]
    fn paging_has_defaults_and_a_cap() {
        assert_eq!(paging(None), (1, 50));
        assert_eq!(paging(Some("page=2&limit=2")), (2, 2));
        assert_eq!(paging(Some("limit=1000&page=0")), (1, 250));
        assert_eq!(paging(Some("limit=x")), (1, 50));
    }

    #[test]
    fn currency_pages_end_with_none() {
        let s = shop();
        assert_eq!(
            currencies_page(&s, 1, 2).map(|v| v.as_array().map(Vec::len)),
            Some(Some(2))
        );
        let last = currencies_page(&s, 2, 2).expect("page 2");
        assert_eq!(last[0]["id"], json!(3));
        assert_eq!(last[0]["enabled"], json!(false));
        assert!(currencies_page(&s, 3, 2).is_none());
        assert!(currencies_page(&StoreFixture::default(), 1, 50).is_none());
    }
}
