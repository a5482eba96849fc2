//! Checks of a loaded fixture that its types cannot express, so a typo in a hand-written fixture
//! fails at start-up instead of making a test pass or fail for the wrong reason.

use std::collections::HashSet;

use super::fixture::{Fault, Fixture};

/// The `apiVersion` a fixture may carry.
pub const FIXTURE_API_VERSION: &str = "simulator.bccreds.unopim.io/v1";
/// The `kind` a fixture may carry.
pub const FIXTURE_KIND: &str = "BigCommerceFixture";

impl Fixture {
    /// Reports the first inconsistency: wrong apiVersion or kind, duplicate store hashes,
    /// channel ids or tokens, a token of a store the fixture lacks, or an impossible fault.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = self
            .api_version
            .as_deref()
            .filter(|v| *v != FIXTURE_API_VERSION)
        {
            return Err(format!("apiVersion `{v}` is not {FIXTURE_API_VERSION}"));
        }
        if let Some(k) = self.kind.as_deref().filter(|k| *k != FIXTURE_KIND) {
            return Err(format!("kind `{k}` is not {FIXTURE_KIND}"));
        }
        if !matches!(self.unknown_store_status, 403 | 404) {
            return Err(format!(
                "unknownStoreStatus is {}; BigCommerce answers an unknown store with 403 or 404",
                self.unknown_store_status
            ));
        }
        let mut hashes = HashSet::new();
        for (i, store) in self.stores.iter().enumerate() {
            let at = format!("stores[{i}]");
            if store.hash.is_empty()
                || !store
                    .hash
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "{at}.hash `{}` must be non-empty letters, digits, `-` or `_`",
                    store.hash
                ));
            }
            if !hashes.insert(store.hash.as_str()) {
                return Err(format!("{at}.hash `{}` appears twice", store.hash));
            }
            if store.window_ms == 0 {
                return Err(format!("{at}.windowMs must be at least 1"));
            }
            let mut ids = HashSet::new();
            for (j, channel) in store.channels.iter().enumerate() {
                if !ids.insert(channel.id) {
                    return Err(format!(
                        "{at}.channels[{j}].id {} appears twice",
                        channel.id
                    ));
                }
                if let Some(default) = &channel.default_currency {
                    if !channel.currencies.is_empty() && !channel.currencies.contains(default) {
                        return Err(format!(
                            "{at}.channels[{j}].defaultCurrency `{default}` is not in its currencies"
                        ));
                    }
                }
            }
            check_faults(&store.faults, &format!("{at}.faults"))?;
        }
        let mut tokens = HashSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            let at = format!("tokens[{i}]");
            // Messages name the token by position only: fixtures are test data, but tokens are
            // still never printed.
            if token.token.is_empty() {
                return Err(format!("{at}.token is empty"));
            }
            if !tokens.insert(token.token.as_str()) {
                return Err(format!("{at}.token repeats an earlier token"));
            }
            if !hashes.contains(token.store.as_str()) {
                return Err(format!(
                    "{at}.store `{}` is not a store of this fixture",
                    token.store
                ));
            }
            check_faults(&token.faults, &format!("{at}.faults"))?;
        }
        Ok(())
    }
}

fn check_faults(faults: &[Fault], at: &str) -> Result<(), String> {
    for (i, fault) in faults.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if let Some(status) = fault.status {
            if !(200..=599).contains(&status) {
                return Err(format!("{at}.status {status} is not between 200 and 599"));
            }
            if fault.drop_connection {
                return Err(format!(
                    "{at} has both status and dropConnection; a dropped connection has no status"
                ));
            }
        }
        if fault.reset_ms.is_some() && fault.status != Some(429) {
            return Err(format!("{at}.resetMs only applies to status 429"));
        }
        if fault.status.is_none() && !fault.drop_connection && fault.latency_ms == 0 {
            return Err(format!(
                "{at} does nothing; give it a status, latencyMs or dropConnection"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::simulator::{Fixture, FixtureError};

    fn check(yaml: &str) -> Result<Fixture, String> {
        Fixture::from_yaml(yaml, "f.yaml").map_err(|e| match e {
            FixtureError::Invalid { message, .. } => message,
            other => other.to_string(),
        })
    }

    #[test]
    fn a_small_fixture_is_fine() {
        let f = check(
            "apiVersion: simulator.bccreds.unopim.io/v1\nkind: BigCommerceFixture\nstores:\n- {hash: a1, name: A}\ntokens:\n- {token: t, store: a1, faults: [{status: 429, resetMs: 10, times: 1}]}\n",
        )
        .expect("valid");
        assert_eq!(f.stores[0].quota, 150);
        assert_eq!(f.unknown_store_status, 404);
    }

    #[test]
    fn mistakes_are_reported_with_their_place() {
        let cases = [
            ("kind: Other\n", "kind `Other`"),
            ("apiVersion: v1\n", "apiVersion `v1`"),
            ("unknownStoreStatus: 500\n", "unknownStoreStatus is 500"),
            ("stores: [{hash: a, name: A}, {hash: a, name: B}]\n", "stores[1].hash `a` appears twice"),
            ("stores: [{hash: 'a/b', name: A}]\n", "stores[0].hash"),
            ("stores: [{hash: a, name: A, windowMs: 0}]\n", "stores[0].windowMs"),
            (
                "stores: [{hash: a, name: A, channels: [{id: 1, name: x}, {id: 1, name: y}]}]\n",
                "stores[0].channels[1].id 1 appears twice",
            ),
            (
                "stores: [{hash: a, name: A, channels: [{id: 1, name: x, currencies: [USD], defaultCurrency: EUR}]}]\n",
                "defaultCurrency `EUR`",
            ),
            ("stores: [{hash: a, name: A, faults: [{status: 42}]}]\n", "stores[0].faults[0].status 42"),
            (
                "stores: [{hash: a, name: A, faults: [{status: 500, dropConnection: true}]}]\n",
                "both status and dropConnection",
            ),
            ("stores: [{hash: a, name: A, faults: [{status: 500, resetMs: 5}]}]\n", "resetMs only"),
            ("stores: [{hash: a, name: A, faults: [{path: v2/}]}]\n", "does nothing"),
            ("tokens: [{token: t, store: zz}]\n", "tokens[0].store `zz`"),
            (
                "stores: [{hash: a, name: A}]\ntokens: [{token: secret-t, store: a}, {token: secret-t, store: a}]\n",
                "tokens[1].token repeats",
            ),
        ];
        for (yaml, expected) in cases {
            let message = check(yaml).expect_err(yaml);
            assert!(message.contains(expected), "{yaml}: {message}");
            assert!(!message.contains("secret-t"), "{message}");
        }
    }
}
