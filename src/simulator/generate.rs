//! Generated stores for large fixtures: one `generate` entry stands for N stores, each with its
//! own token, so that a benchmark's 100,000 stores need neither a 100,000-entry YAML file nor
//! the YAML loader's node budget.

use serde::Deserialize;

use super::fixture::{Fault, Fixture, StoreFixture, TokenFixture};

/// Most stores one fixture may generate; the simulator keeps every store in memory.
pub const MAX_GENERATED_STORES: u64 = 1_000_000;

/// N stores made from patterns, where `{i}` is replaced by 1, 2, … N.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Generate {
    /// How many stores.
    pub count: u64,
    /// The store hash, e.g. `gen{i}`.
    pub hash: String,
    /// The store name, e.g. `Generated store {i}`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Each store's one token, e.g. `tok-gen-{i}`.
    pub token: String,
    /// The tokens' scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Requests allowed per window, per store.
    #[serde(default)]
    pub quota: Option<u64>,
    /// Window length in milliseconds.
    #[serde(default)]
    pub window_ms: Option<u64>,
    /// Delay before every answer of these stores, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

fn default_name() -> String {
    "Generated store {i}".into()
}

impl Generate {
    fn check(&self, at: &str) -> Result<(), String> {
        if self.count > MAX_GENERATED_STORES {
            return Err(format!(
                "{at}.count {} is over the limit of {MAX_GENERATED_STORES} generated stores",
                self.count
            ));
        }
        for (field, pattern) in [("hash", &self.hash), ("token", &self.token)] {
            if self.count > 1 && !pattern.contains("{i}") {
                return Err(format!(
                    "{at}.{field} `{pattern}` needs `{{i}}`, so that each of the {} stores gets its own",
                    self.count
                ));
            }
        }
        Ok(())
    }
}

/// `fixture` with every `generate` entry expanded into stores and tokens.
pub fn expand(mut fixture: Fixture) -> Result<Fixture, String> {
    let generate = std::mem::take(&mut fixture.generate);
    for (n, g) in generate.iter().enumerate() {
        g.check(&format!("generate[{n}]"))?;
        let base = StoreFixture::default();
        fixture.stores.reserve(g.count as usize);
        fixture.tokens.reserve(g.count as usize);
        for i in 1..=g.count {
            let fill = |pattern: &str| pattern.replace("{i}", &i.to_string());
            let hash = fill(&g.hash);
            fixture.stores.push(StoreFixture {
                hash: hash.clone(),
                name: fill(&g.name),
                quota: g.quota.unwrap_or(base.quota),
                window_ms: g.window_ms.unwrap_or(base.window_ms),
                faults: if g.latency_ms > 0 {
                    vec![Fault {
                        latency_ms: g.latency_ms,
                        ..Fault::default()
                    }]
                } else {
                    Vec::new()
                },
                ..StoreFixture::default()
            });
            fixture.tokens.push(TokenFixture {
                token: fill(&g.token),
                store: hash,
                scopes: g.scopes.clone(),
                faults: Vec::new(),
            });
        }
    }
    Ok(fixture)
}
