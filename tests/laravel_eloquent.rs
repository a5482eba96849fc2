//! bccreds and the real Laravel framework on the connector's credential table, on every
//! configured engine (SQLite always; MariaDB and PostgreSQL with `BCCREDS_TEST_MYSQL_URL` /
//! `BCCREDS_TEST_POSTGRES_URL`).
//!
//! UnoPim's side is `tests/laravel/eloquent.php`: Debian's php-laravel-framework (Laravel 8),
//! whose schema builder creates the tables as the connector's migration does and whose Eloquent
//! model, with the connector's `encrypted` and `array` casts, writes, reads and deletes rows as
//! the credentials page does. bccreds' side is the built `bccreds` binary (and, for the daemons'
//! case, an in-process `Reconciler`) against the in-process BigCommerce simulator
//! (`tests/laravel_world/`).

mod common;
mod laravel_world;
mod store_support;

use common::{Manifest, Source};
use laravel_world::*;
use serde_json::{json, Value};
use store_support::each_engine;

/// (a) What bccreds creates and updates, Laravel reads: Eloquent decrypts the token and client
/// secret with UnoPim's APP_KEY and its `array` casts give the mappings and store info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eloquent_reads_and_decrypts_rows_bccreds_created_and_updated() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        let first = Manifest::prod()
            .client_id("client-1")
            .client_secret(Source::file("prod-secret"))
            .default_locale("en_US")
            .default_currency("USD")
            .locale_mapping(&[("en_US", "en"), ("fr_FR", "fr")])
            .currency_mapping(&[("USD", "USD"), ("EUR", "EUR")]);
        w.put(&first);
        w.put(&Manifest::outlet());
        w.apply(&db, "", &[], "creating two credentials", [2, 0, 0, 0, 0])
            .await;

        let rows = laravel_rows(&db, "").await;
        assert_eq!(labels(&rows), ["Outlet", "Production"], "[{e:?}] {rows:#?}");
        let prod = row(e, &rows, "Production");
        let decrypts = "Eloquent's `encrypted` cast must decrypt what bccreds wrote";
        expect_column(e, prod, "accessToken", json!("tok-prod-1"), decrypts);
        expect_column(e, prod, "clientSecret", json!("secret-prod"), decrypts);
        expect_column(e, prod, "clientId", json!("client-1"), "clientId");
        let api = json!("https://api.bigcommerce.com/stores/abc123/");
        expect_column(e, prod, "apiUrl", api, "apiUrl");
        expect_column(e, prod, "status", json!(true), "the `boolean` cast");
        expect_column(e, prod, "defaultLocale", json!("en_US"), "defaultLocale");
        expect_column(e, prod, "defaultCurrency", json!("USD"), "defaultCurrency");
        let locales = [("en_US", "en"), ("fr_FR", "fr")];
        expect_mapping(e, prod, "localeMapping", &locales, "the manifest's mapping");
        let currencies = [("USD", "USD"), ("EUR", "EUR")];
        expect_mapping(
            e,
            prod,
            "currencyMapping",
            &currencies,
            "the manifest's mapping",
        );
        let info = "storeInfo through the `array` cast";
        assert_eq!(
            prod["storeInfo"]["hash"], "abc123",
            "[{e:?}] {info}: {prod:#}"
        );
        assert_eq!(
            prod["storeInfo"]["name"], "Production",
            "[{e:?}] {info}: {prod:#}"
        );
        assert!(
            prod["created_at"].is_string() && prod["updated_at"].is_string(),
            "[{e:?}] Eloquent reads bccreds' timestamps as dates: {prod:#}"
        );
        let outlet = row(e, &rows, "Outlet");
        expect_column(e, outlet, "accessToken", json!("tok-outlet"), decrypts);
        expect_column(e, outlet, "clientSecret", Value::Null, "no client secret");
        expect_mapping(e, outlet, "localeMapping", &[], "no mapping");
        expect_mapping(e, outlet, "currencyMapping", &[], "no mapping");
        let prod_id = prod["id"].clone();

        // An update: new label, token, mappings and status, on the same row.
        let update = Manifest::prod()
            .label("Production EU")
            .token(Source::file("prod-2"))
            .active(false)
            .client_id("client-1")
            .default_locale("de_DE")
            .default_currency("EUR")
            .locale_mapping(&[("de_DE", "de")])
            .currency_mapping(&[("EUR", "EUR")]);
        w.put(&update);
        w.apply(&db, "", &[], "updating one credential", [0, 1, 0, 1, 0])
            .await;
        let rows = laravel_rows(&db, "").await;
        assert_eq!(
            labels(&rows),
            ["Outlet", "Production EU"],
            "[{e:?}] {rows:#?}"
        );
        let prod = row(e, &rows, "Production EU");
        expect_column(e, prod, "id", prod_id, "the update rewrites the same row");
        expect_column(e, prod, "accessToken", json!("tok-prod-2"), decrypts);
        expect_column(e, prod, "status", json!(false), "`active: false`");
        expect_column(e, prod, "defaultLocale", json!("de_DE"), "defaultLocale");
        expect_column(e, prod, "defaultCurrency", json!("EUR"), "defaultCurrency");
        expect_mapping(e, prod, "localeMapping", &[("de_DE", "de")], "updated");
        expect_mapping(e, prod, "currencyMapping", &[("EUR", "EUR")], "updated");
        db
    })
    .await;
}

/// `(label, managed)` of each item of `bccreds list --output json`.
fn managed(items: &[Value]) -> Vec<(String, bool)> {
    items
        .iter()
        .map(|i| {
            let label = i["label"].as_str().unwrap_or_default().to_string();
            (label, i["managed"] == true)
        })
        .collect()
}

fn owned(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(l, m)| (l.to_string(), *m)).collect()
}

/// (b) The connector's own Laravel migration makes the table (and a child table with a foreign
/// key to it) and the credentials page makes rows, with `[]` mappings; bccreds lists them, adopts
/// one, updates it and deletes it, and Laravel reads the table after each step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bccreds_lists_adopts_updates_and_deletes_rows_laravel_made() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        // UnoPim's DB_PREFIX, applied by Laravel's connection and by bccreds' --table-prefix.
        let prefix = "uno_";
        let w = World::new().await;
        let made = laravel(&db, prefix, "migrate", json!({})).await;
        assert_eq!(
            made["tables"],
            json!([
                "wk_bigcommerce_credentials",
                "wk_bigcommerce_channel_mappings"
            ]),
            "[{e:?}] Laravel's migration, including the child table's foreignId()->constrained()"
        );
        let hand_row = json!({"row": {
            "label": "Hand Made",
            "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
            "clientId": null,
            "clientSecret": "hand-secret",
            "accessToken": "tok-hand",
            "status": true,
            "defaultLocale": null,
            "defaultCurrency": null,
            "localeMapping": [],
            "currencyMapping": [],
            "storeInfo": null,
        }});
        let hand = laravel(&db, prefix, "insert", hand_row).await["id"].clone();
        let other_row = json!({"row": {
            "label": "Other Shop",
            "apiUrl": "https://api.bigcommerce.com/stores/def456/",
            "accessToken": "tok-outlet",
            "status": false,
            "defaultLocale": "en_US",
            "localeMapping": {"en_US": "en"},
            "currencyMapping": [],
        }});
        laravel(&db, prefix, "insert", other_row).await;

        let listed = w
            .list(&db, prefix, "rows Laravel made, with `[]` mappings")
            .await;
        assert_eq!(
            managed(&listed),
            owned(&[("Hand Made", false), ("Other Shop", false)]),
            "[{e:?}] bccreds list shows Laravel's rows as unmanaged: {listed:#?}"
        );

        // A credential of bccreds' own beside it, so that the manifest tree never becomes empty.
        let keeper = Manifest::new("keeper")
            .namespace("shop")
            .label("Keeper")
            .store("def456")
            .token(Source::file("outlet"));
        w.put(&keeper);
        // Adoption: the same label, no token (the hand-made one is kept and verified).
        let adopting = Manifest::new("hand")
            .namespace("shop")
            .label("Hand Made")
            .adopt()
            .default_locale("en_US")
            .locale_mapping(&[("en_US", "en")]);
        w.put(&adopting);
        let report = w
            .apply(
                &db,
                prefix,
                &[],
                "adopting the row Laravel made",
                [1, 0, 0, 0, 0],
            )
            .await;
        let items = report["items"].as_array().expect("items");
        let adoption = items.iter().find(|i| i["label"] == "Hand Made");
        assert_eq!(
            adoption.map(|i| (&i["action"], &i["result"])),
            Some((&json!("Adopt"), &json!("adopted"))),
            "[{e:?}] {report:#}"
        );
        assert_eq!(report["summary"]["adopted"], 1, "[{e:?}] {report:#}");
        let rows = laravel_rows(&db, prefix).await;
        let adopted = row(e, &rows, "Hand Made");
        expect_column(
            e,
            adopted,
            "id",
            hand.clone(),
            "adoption keeps Laravel's row",
        );
        let kept = "adoption keeps the hand-made secret, and Eloquent still decrypts it";
        expect_column(e, adopted, "accessToken", json!("tok-hand"), kept);
        expect_column(e, adopted, "clientSecret", json!("hand-secret"), kept);
        expect_mapping(e, adopted, "localeMapping", &[("en_US", "en")], "adopted");
        expect_column(e, adopted, "defaultLocale", json!("en_US"), "adopted");
        assert_eq!(
            adopted["storeInfo"]["hash"], "abc123",
            "[{e:?}] bccreds records what BigCommerce said: {adopted:#}"
        );
        let other = row(e, &rows, "Other Shop");
        let untouched = "the other hand-made row is untouched";
        expect_column(e, other, "status", json!(false), untouched);
        expect_mapping(e, other, "localeMapping", &[("en_US", "en")], untouched);
        expect_column(e, other, "currencyMapping", json!([]), untouched);
        let listed = w.list(&db, prefix, "after adoption").await;
        assert_eq!(
            managed(&listed),
            owned(&[("Hand Made", true), ("Keeper", true), ("Other Shop", false)]),
            "[{e:?}] the adopted row is managed, the other hand-made one is not: {listed:#?}"
        );

        // A later change of the manifest updates the adopted row.
        w.secret("hand-2", "tok-prod-2");
        let adopting = adopting
            .token(Source::file("hand-2"))
            .active(false)
            .currency_mapping(&[("USD", "USD")]);
        w.put(&adopting);
        w.apply(
            &db,
            prefix,
            &[],
            "updating the adopted row",
            [0, 1, 0, 1, 0],
        )
        .await;
        let rows = laravel_rows(&db, prefix).await;
        let updated = row(e, &rows, "Hand Made");
        expect_column(e, updated, "id", hand, "the update keeps Laravel's row");
        let new = "Eloquent decrypts the new token";
        expect_column(e, updated, "accessToken", json!("tok-prod-2"), new);
        expect_column(e, updated, "status", json!(false), "`active: false`");
        expect_mapping(e, updated, "currencyMapping", &[("USD", "USD")], "updated");

        // Removing the manifest deletes the row; the unmanaged one stays.
        w.remove("hand.yaml");
        w.apply(
            &db,
            prefix,
            &[],
            "deleting the adopted row",
            [0, 0, 1, 1, 0],
        )
        .await;
        let rows = laravel_rows(&db, prefix).await;
        assert_eq!(
            labels(&rows),
            ["Keeper", "Other Shop"],
            "[{e:?}] Laravel sees the adopted row gone and the others kept: {rows:#?}"
        );
        let other = row(e, &rows, "Other Shop");
        expect_column(e, other, "accessToken", json!("tok-outlet"), untouched);
        db
    })
    .await;
}

/// (c) A row deleted on the credentials page (Eloquent's delete) is recreated by the next
/// `bccreds apply`, and Laravel reads the new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_deleted_through_eloquent_is_recreated_by_the_next_apply() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.put(&Manifest::prod().locale_mapping(&[("en_US", "en")]));
        w.apply(&db, "", &[], "creating the credential", [1, 0, 0, 0, 0])
            .await;
        assert_eq!(
            labels(&laravel_rows(&db, "").await),
            ["Production"],
            "[{e:?}]"
        );

        let deleted = laravel(&db, "", "delete", json!({"label": "Production"})).await;
        assert_eq!(
            deleted["deleted"], 1,
            "[{e:?}] Eloquent deletes the row bccreds made"
        );
        assert!(
            laravel_rows(&db, "").await.is_empty(),
            "[{e:?}] the row is gone"
        );

        let report = w
            .apply(
                &db,
                "",
                &[],
                "after the row was deleted outside bccreds",
                [1, 0, 0, 0, 0],
            )
            .await;
        assert_eq!(report["items"][0]["action"], "Create", "[{e:?}] {report:#}");
        let rows = laravel_rows(&db, "").await;
        let prod = row(e, &rows, "Production");
        assert_eq!(
            prod["accessToken"], "tok-prod-1",
            "[{e:?}] the recreated row's token: {prod:#}"
        );
        assert_eq!(
            mapping(&prod["localeMapping"]),
            map(&[("en_US", "en")]),
            "[{e:?}] {prod:#}"
        );
        assert_eq!(
            w.list(&db, "", "after recreation").await[0]["managedBy"],
            OWNER,
            "[{e:?}] the recreated row is managed"
        );
        w.apply(&db, "", &[], "a resync after recreation", [0, 0, 0, 1, 0])
            .await;
        db
    })
    .await;
}

/// (c, long-running) The same for a reconciler that stays up, as `bccreds watch` and
/// `bccreds controller` do, on a table made by Laravel's migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_reconciler_recreates_a_row_deleted_through_eloquent() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        laravel(&db, "", "migrate", json!({})).await;
        let rec = w.reconciler_on(&db, "").await;
        w.put(&Manifest::prod().currency_mapping(&[("USD", "USD")]));
        let first = w.pass_with(&rec, &db, "creating the credential").await;
        assert_eq!(summary(&first), [1, 0, 0, 0, 0], "[{e:?}] {first:?}");
        assert_eq!(
            labels(&laravel_rows(&db, "").await),
            ["Production"],
            "[{e:?}]"
        );

        let deleted = laravel(&db, "", "delete", json!({"label": "Production"})).await;
        assert_eq!(
            deleted["deleted"], 1,
            "[{e:?}] Eloquent deletes the row bccreds made"
        );

        let again = w
            .pass_with(&rec, &db, "after the row was deleted outside bccreds")
            .await;
        assert_eq!(
            summary(&again),
            [1, 0, 0, 0, 0],
            "[{e:?}] the deleted row must be created again: {again:?}"
        );
        let rows = laravel_rows(&db, "").await;
        let prod = row(e, &rows, "Production");
        assert_eq!(prod["accessToken"], "tok-prod-1", "[{e:?}] {prod:#}");
        assert_eq!(
            mapping(&prod["currencyMapping"]),
            map(&[("USD", "USD")]),
            "[{e:?}] {prod:#}"
        );
        let steady = w.pass_with(&rec, &db, "a resync after recreation").await;
        assert_eq!(summary(&steady), [0, 0, 0, 1, 0], "[{e:?}] {steady:?}");
        rec.store().close().await;
        db
    })
    .await;
}

/// (d) The credentials page also writes into a table bccreds made (when bccreds ran before the
/// connector's migration): Eloquent's insert with `[]` mappings works there and bccreds lists
/// the row as unmanaged beside its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eloquent_writes_into_a_table_bccreds_made_and_bccreds_lists_it() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.put(&Manifest::prod());
        w.apply(&db, "", &[], "creating the credential", [1, 0, 0, 0, 0])
            .await;
        laravel(
            &db,
            "",
            "insert",
            json!({"row": {
                "label": "Hand Made",
                "apiUrl": "https://api.bigcommerce.com/stores/def456/",
                "accessToken": "tok-outlet",
                "clientSecret": "hand-secret",
                "localeMapping": [],
                "currencyMapping": [],
            }}),
        )
        .await;
        let rows = laravel_rows(&db, "").await;
        assert_eq!(
            labels(&rows),
            ["Hand Made", "Production"],
            "[{e:?}] {rows:#?}"
        );
        let hand = row(e, &rows, "Hand Made");
        assert_eq!(
            hand["status"], true,
            "[{e:?}] the column default of bccreds' table: {hand:#}"
        );
        let listed = w
            .list(&db, "", "a row Eloquent inserted into bccreds' table")
            .await;
        assert_eq!(
            managed(&listed),
            owned(&[("Hand Made", false), ("Production", true)]),
            "[{e:?}] bccreds list shows the row Eloquent inserted as unmanaged: {listed:#?}"
        );
        // The managed row is still in sync: Laravel's insert changed nothing of it.
        w.apply(
            &db,
            "",
            &[],
            "a resync beside the hand-made row",
            [0, 0, 0, 1, 0],
        )
        .await;
        db
    })
    .await;
}

/// (e) A later connector migration adding a table with `foreignId()->constrained()` to the
/// credential table works when bccreds made that table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_laravel_foreign_key_can_reference_the_table_bccreds_made() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        let w = World::new().await;
        w.put(&Manifest::prod());
        w.apply(
            &db,
            "",
            &[],
            "creating the credential table",
            [1, 0, 0, 0, 0],
        )
        .await;
        let made = laravel(&db, "", "child", json!({})).await;
        assert_eq!(
            made["tables"],
            json!(["wk_bigcommerce_channel_mappings"]),
            "[{e:?}]"
        );
        db
    })
    .await;
}

/// (f) bccreds' store reads a row of a table Laravel made with its own column types (on MySQL
/// `BIGINT UNSIGNED` ids and `TIMESTAMP` columns): the same id, the decrypted secrets, the
/// mappings and the timestamps Eloquent wrote. The mappings are not empty here, so that this
/// case fails only for ids, types and timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reads_ids_and_timestamps_of_a_table_laravel_made() {
    if !have_laravel() {
        return;
    }
    each_engine(|db| async move {
        let e = db.engine;
        laravel(&db, "", "migrate", json!({})).await;
        let id = laravel(
            &db,
            "",
            "insert",
            json!({"row": {
                "label": "Hand Made",
                "apiUrl": "https://api.bigcommerce.com/stores/abc123/",
                "clientId": "client-9",
                "clientSecret": "hand-secret",
                "accessToken": "tok-hand",
                "status": true,
                "defaultLocale": "en_US",
                "defaultCurrency": "USD",
                "localeMapping": {"en_US": "en"},
                "currencyMapping": {"USD": "USD"},
            }}),
        )
        .await["id"]
            .as_i64()
            .expect("id");
        let rows = laravel_rows(&db, "").await;
        let hand = row(e, &rows, "Hand Made");

        let store = db.store("").await;
        let found = store.find_by_label("hand made").await.unwrap_or_else(|err| {
            panic!("[{e:?}] bccreds cannot read the row Eloquent wrote into Laravel's table: {err}")
        });
        let (cred, owner) =
            found.unwrap_or_else(|| panic!("[{e:?}] bccreds does not find the row Eloquent wrote"));
        assert!(owner.is_none(), "[{e:?}] a hand-made row has no owner");
        assert_eq!(cred.id, id, "[{e:?}] the id Laravel reported");
        assert_eq!(
            cred.data.access_token.expose(),
            "tok-hand",
            "[{e:?}] bccreds decrypts Eloquent's `encrypted` token"
        );
        assert_eq!(
            cred.data
                .client_secret
                .as_ref()
                .map(|s| s.expose().to_string()),
            Some("hand-secret".to_string()),
            "[{e:?}] bccreds decrypts Eloquent's `encrypted` client secret"
        );
        assert_eq!(cred.data.client_id.as_deref(), Some("client-9"), "[{e:?}]");
        assert!(cred.data.active, "[{e:?}] status");
        assert_eq!(cred.data.locale_mapping, map(&[("en_US", "en")]), "[{e:?}]");
        assert_eq!(
            cred.data.currency_mapping,
            map(&[("USD", "USD")]),
            "[{e:?}]"
        );
        let stamp = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        assert_eq!(
            stamp(cred.created_at).as_deref(),
            hand["created_at"].as_str(),
            "[{e:?}] created_at as bccreds reads it vs as Eloquent wrote it (UTC)"
        );
        assert_eq!(
            stamp(cred.updated_at).as_deref(),
            hand["updated_at"].as_str(),
            "[{e:?}] updated_at as bccreds reads it vs as Eloquent wrote it (UTC)"
        );
        let listed = store
            .list(&bccreds::store::ListQuery::default())
            .await
            .unwrap_or_else(|err| panic!("[{e:?}] Store::list on Laravel's table: {err}"));
        assert_eq!(listed.len(), 1, "[{e:?}] {listed:?}");
        assert_eq!(listed[0].id, id, "[{e:?}] {listed:?}");
        assert_eq!(
            stamp(listed[0].updated_at).as_deref(),
            hand["updated_at"].as_str(),
            "[{e:?}] {listed:?}"
        );
        store.close().await;
        db
    })
    .await;
}
