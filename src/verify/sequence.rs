//! The verification sequence: the store first, then together the catalog summary and, where the
//! manifest maps them, currencies (a currency mapping) and locales and channel locales (a locale
//! mapping); then the mappings against what the store offers. A manifest without mappings costs
//! two requests of the store's shared API quota.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::client::{ApiResponse, BigCommerceClient, CallError};
use super::outcome::{MappingProblem, Outcome, VerifiedStore, CAPABILITY_PRODUCTS_READ};
use super::VerifyRequest;
use crate::model::StoreInfo;

/// Largest number of currency pages read; a store has far fewer currencies than this allows.
const MAX_CURRENCY_PAGES: u32 = 20;
const CURRENCY_PAGE_SIZE: usize = 250;

#[derive(Deserialize)]
struct StoreBody {
    id: String,
    name: Option<String>,
    domain: Option<String>,
    language: Option<String>,
    currency: Option<String>,
    default_channel_id: Option<u64>,
}

#[derive(Deserialize)]
struct CurrencyBody {
    currency_code: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct LocaleBody {
    data: LocaleData,
}

#[derive(Deserialize)]
struct LocaleData {
    default_shopper_language: Option<String>,
}

/// A step that ended the verification: a verdict, or no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Failure {
    InvalidToken,
    StoreNotFound,
    Forbidden(String),
    RateLimited,
    Unreachable(String),
}

impl From<Failure> for Outcome {
    fn from(failure: Failure) -> Outcome {
        match failure {
            Failure::InvalidToken => Outcome::InvalidToken,
            Failure::StoreNotFound => Outcome::StoreNotFound,
            Failure::Forbidden(endpoint) => Outcome::Forbidden { endpoint },
            Failure::RateLimited => Outcome::RateLimited,
            Failure::Unreachable(detail) => Outcome::Unreachable { detail },
        }
    }
}

/// Turns a non-2xx answer into the failure it means; `Ok` for 2xx.
fn judge(endpoint: &str, response: &Result<ApiResponse, CallError>) -> Result<(), Failure> {
    let response = match response {
        Ok(r) => r,
        Err(CallError::RateLimited) => return Err(Failure::RateLimited),
        Err(CallError::TokenNotSendable) => return Err(Failure::InvalidToken),
        Err(CallError::Unreachable(detail)) => {
            return Err(Failure::Unreachable(format!("{endpoint}: {detail}")))
        }
    };
    match response.status {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => Err(Failure::InvalidToken),
        StatusCode::FORBIDDEN => Err(Failure::Forbidden(endpoint.to_string())),
        StatusCode::NOT_FOUND => Err(Failure::StoreNotFound),
        s => Err(Failure::Unreachable(format!(
            "{endpoint}: unexpected HTTP {}",
            s.as_u16()
        ))),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(endpoint: &str, body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|_| {
        Failure::Unreachable(format!(
            "{endpoint}: the answer is not the JSON BigCommerce sends"
        ))
    })
}

/// Verifies one credential; see the module documentation for the order of calls.
pub async fn verify(client: &BigCommerceClient, req: &VerifyRequest) -> Outcome {
    let hash = req.store_hash.as_str();
    let token = &req.token;
    let store = client.get(hash, "v2/store", token).await;
    if let Err(failure) = judge("v2/store", &store) {
        return failure.into();
    }
    // judge() has turned every Err into a failure already.
    let Ok(store) = store else {
        return Failure::Unreachable("v2/store: no usable answer".into()).into();
    };
    let store: StoreBody = match parse("v2/store", &store.body) {
        Ok(body) => body,
        Err(failure) => return failure.into(),
    };
    if !store.id.eq_ignore_ascii_case(hash) {
        return Outcome::StoreNotFound;
    }
    let channel = store.default_channel_id.unwrap_or(1);
    // Only the calls this manifest needs: currencies for a currency mapping, the locale calls
    // for a locale mapping. The store and the catalog summary (the Products scope) always.
    let wants_currencies = !req.currency_mapping.is_empty();
    let wants_locales = !req.locale_mapping.is_empty();
    let (currencies, locale, channel_locales, summary) = tokio::join!(
        async {
            if wants_currencies {
                currencies(client, hash, token).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if wants_locales {
                Some(client.get(hash, "v3/settings/store/locale", token).await)
            } else {
                None
            }
        },
        async {
            if wants_locales {
                channel_locales(client, hash, token, channel).await
            } else {
                Vec::new()
            }
        },
        client.get(hash, "v3/catalog/summary", token),
    );
    let shopper_language = match &locale {
        None => Ok(None),
        Some(locale) => judge("v3/settings/store/locale", locale).and_then(|()| match locale {
            Ok(r) => parse::<LocaleBody>("v3/settings/store/locale", &r.body)
                .map(|b| b.data.default_shopper_language),
            Err(_) => Ok(None),
        }),
    };
    let summary = judge("v3/catalog/summary", &summary);
    let outcomes = [
        currencies.as_ref().err(),
        shopper_language.as_ref().err(),
        summary.as_ref().err(),
    ];
    if let Some(worst) = outcomes.into_iter().flatten().min_by_key(|f| precedence(f)) {
        return worst.clone().into();
    }
    let mut locales: Vec<String> = Vec::new();
    let candidates = [store.language.clone(), shopper_language.ok().flatten()];
    for code in candidates.into_iter().flatten().chain(channel_locales) {
        if !locales.iter().any(|l| l.eq_ignore_ascii_case(&code)) {
            locales.push(code);
        }
    }
    let verified = VerifiedStore {
        info: StoreInfo {
            hash: hash.to_string(),
            name: store.name,
            domain: store.domain,
            language: store.language,
            currency: store.currency,
        },
        currencies: currencies.unwrap_or_default(),
        locales,
        capabilities: vec![CAPABILITY_PRODUCTS_READ.to_string()],
    };
    let problems = mapping_problems(req, &verified);
    if problems.is_empty() {
        Outcome::Verified(verified)
    } else {
        Outcome::MappingInvalid {
            store: verified,
            problems,
        }
    }
}

/// Verdicts about the credential outrank transient trouble.
fn precedence(failure: &Failure) -> u8 {
    match failure {
        Failure::InvalidToken => 0,
        Failure::StoreNotFound => 1,
        Failure::Forbidden(_) => 2,
        Failure::RateLimited => 3,
        Failure::Unreachable(_) => 4,
    }
}

/// Enabled currency codes over all pages; 204 means no (more) currencies.
async fn currencies(
    client: &BigCommerceClient,
    hash: &str,
    token: &crate::secret::SecretValue,
) -> Result<Vec<String>, Failure> {
    let mut codes = Vec::new();
    for page in 1..=MAX_CURRENCY_PAGES {
        let path = format!("v2/currencies?page={page}&limit={CURRENCY_PAGE_SIZE}");
        let response = client.get(hash, &path, token).await;
        judge("v2/currencies", &response)?;
        let Ok(response) = response else { break };
        if response.status == StatusCode::NO_CONTENT || response.body.is_empty() {
            break;
        }
        let items: Vec<CurrencyBody> = parse("v2/currencies", &response.body)?;
        let full = items.len() >= CURRENCY_PAGE_SIZE;
        codes.extend(
            items
                .into_iter()
                .filter(|c| c.enabled)
                .map(|c| c.currency_code),
        );
        if !full {
            break;
        }
    }
    Ok(codes)
}

/// Channel locales from the GraphQL Admin API; best effort, so every failure means "none".
async fn channel_locales(
    client: &BigCommerceClient,
    hash: &str,
    token: &crate::secret::SecretValue,
    channel: u64,
) -> Vec<String> {
    let query = json!({
        "query": format!(
            "query {{ store {{ locales(input: {{channelId: \"bc/store/channel/{channel}\"}}) {{ edges {{ node {{ code status isDefault }} }} }} }} }}"
        )
    });
    let Ok(response) = client
        .call(Method::POST, hash, "graphql", token, Some(&query))
        .await
    else {
        return Vec::new();
    };
    if !response.status.is_success() {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&response.body) else {
        return Vec::new();
    };
    value
        .pointer("/data/store/locales/edges")
        .and_then(|e| e.as_array())
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e.pointer("/node/code").and_then(|c| c.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Mapping entries whose BigCommerce side the store does not offer.
pub fn mapping_problems(req: &VerifyRequest, store: &VerifiedStore) -> Vec<MappingProblem> {
    let mut problems = Vec::new();
    let mut check =
        |mapping: &'static str, entries: &BTreeMap<String, String>, offered: &[String]| {
            for (from, to) in entries {
                if !offered.iter().any(|o| o.eq_ignore_ascii_case(to)) {
                    problems.push(MappingProblem {
                        mapping,
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
            }
        };
    check("localeMapping", &req.locale_mapping, &store.locales);
    check("currencyMapping", &req.currency_mapping, &store.currencies);
    problems
}
