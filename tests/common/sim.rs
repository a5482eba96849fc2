//! The in-process BigCommerce simulator, started one way for every test.

use bccreds::simulator::{Fixture, Simulator};

/// The scopes a verification needs.
pub const SCOPES: &str = "[store_v2_information_read_only, store_v2_products_read_only]";

/// A fixture of the store abc123 named `name`, each of `tokens` granted [`SCOPES`] on it.
pub fn one_store(name: &str, tokens: &[&str]) -> String {
    let mut yaml = format!("stores:\n  - hash: abc123\n    name: {name}\ntokens:\n");
    for token in tokens {
        yaml += &format!("  - {{token: {token}, store: abc123, scopes: {SCOPES}}}\n");
    }
    yaml
}

/// The simulator serving the fixture `yaml` on a free loopback port.
pub async fn simulator(yaml: &str) -> Simulator {
    start_fixture(Fixture::from_yaml(yaml, "test fixture").expect("fixture")).await
}

/// The simulator serving `fixture` on a free loopback port.
pub async fn start_fixture(fixture: Fixture) -> Simulator {
    Simulator::start(fixture, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("the simulator starts")
}
