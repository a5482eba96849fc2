//! The SQL under schemas/ documents what the migrations really create, per engine.

use bccreds::store::{schema_sql, Dialect};

#[test]
fn checked_in_store_schemas_match_the_migrations() {
    for (dialect, file) in [
        (Dialect::Sqlite, "schemas/connector-store.sqlite.sql"),
        (Dialect::MySql, "schemas/connector-store.mysql.sql"),
        (Dialect::Postgres, "schemas/connector-store.postgres.sql"),
    ] {
        let generated = schema_sql(dialect, "").expect("sql");
        let checked_in = std::fs::read_to_string(file).unwrap_or_default();
        if std::env::var_os("BCCREDS_REGENERATE").is_some() {
            std::fs::write(file, &generated).expect("write");
            continue;
        }
        assert!(
            checked_in == generated,
            "{file} is stale; regenerate with: BCCREDS_REGENERATE=1 cargo test --test store_schema_docs"
        );
    }
}
