//! The reconciler end to end: real manifest files, the simulator, and the store on every
//! configured engine.

mod common;
mod store_support;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use bccreds::model::{ConditionStatus, ConditionType, Reason};
use bccreds::reconcile::{
    Action, Coverage, OnRevoked, PassReport, Reconciler, ReconcilerConfig, Scan,
};
use bccreds::source::FileSource;
use bccreds::store::{CredentialData, Ownership, SecretUpdate};
use bccreds::validate::ValidateOptions;
use bccreds::verify::{BigCommerceClient, ClientOptions, RetryPolicy};
use common::{Manifest, Source, World};
use store_support::{each_engine, TestDb};

const FIXTURE: &str = r#"
stores:
  - hash: abc123
    name: Production
    currencies: [{code: USD}, {code: EUR}]
  - hash: def456
    name: Outlet
tokens:
  - token: tok-prod-1
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
  - token: tok-prod-2
    store: abc123
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
  - token: tok-outlet
    store: def456
    scopes: [store_v2_information_read_only, store_v2_products_read_only]
"#;

/// A world on `db` whose connector tables carry `prefix` (beside other worlds on the same
/// database), its reconciler configured by `config`.
async fn world(db: &TestDb, prefix: &str, config: impl FnOnce(&mut ReconcilerConfig)) -> World {
    World::builder(FIXTURE)
        .store(db.store(prefix).await)
        .config(config)
        .secret("prod", "tok-prod-1")
        .secret("outlet", "tok-outlet")
        .build()
        .await
}

fn summary(r: &PassReport) -> [usize; 5] {
    let s = r.summary;
    [s.created, s.updated, s.deleted, s.unchanged, s.failed]
}

#[tokio::test]
async fn create_update_delete_and_an_unchanged_resync_without_requests() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod());
        w.put(&Manifest::outlet());
        let first = w.pass().await;
        assert_eq!(summary(&first), [2, 0, 0, 0, 0], "{first:?}");
        assert_eq!(
            w.labels_active().await,
            [("Outlet".into(), true), ("Production".into(), true)]
        );
        assert_eq!(
            w.condition("prod", ConditionType::Ready),
            (ConditionStatus::True, Reason::Ready)
        );

        w.sim.clear_requests();
        assert_eq!(summary(&w.pass().await), [0, 0, 0, 2, 0]);
        assert!(
            w.sim.requests().is_empty(),
            "an unchanged resync called BigCommerce: {:?}",
            w.sim.requests()
        );

        w.put(
            &Manifest::prod()
                .label("Production EU")
                .currency_mapping(&[("EUR", "EUR")]),
        );
        assert_eq!(summary(&w.pass().await), [0, 1, 0, 1, 0]);
        assert_eq!(w.labels_active().await[1].0, "Production EU");

        fs::remove_file(w.manifests().join("outlet.yaml")).expect("rm");
        assert_eq!(summary(&w.pass().await), [0, 0, 1, 1, 0]);
        assert_eq!(w.labels_active().await, [("Production EU".into(), true)]);
        assert!(
            w.rec.statuses().iter().all(|s| s.name != "outlet"),
            "a deleted manifest's status is forgotten"
        );
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_wrong_token_or_a_broken_file_keeps_the_stored_row() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod());
        w.pass().await;
        let before = w.store.owned("test").await.expect("owned");

        fs::write(w.dir.path().join("secrets/prod"), "tok-wrong").expect("secret");
        let report = w.pass().await;
        assert_eq!(summary(&report), [0, 0, 0, 0, 1]);
        assert_eq!(report.items[0].reason, Reason::InvalidToken);
        assert_eq!(w.condition("prod", ConditionType::Verified), (ConditionStatus::False, Reason::InvalidToken));
        assert_eq!(w.condition("prod", ConditionType::Stored), (ConditionStatus::True, Reason::UpToDate));
        let after = w.store.owned("test").await.expect("owned");
        assert_eq!(after[0].1, before[0].1, "the stored row is untouched");

        fs::write(w.dir.path().join("secrets/prod"), "tok-prod-1").expect("secret");
        w.write("prod.yaml", "apiVersion: bigcommerce.unopim.io/v1alpha1\nkind: BigCommerceCredential\nmetadata:\n  name: prod\n  namespace: shop\nspec:\n  label: [unclosed\n");
        let scan = w.scan();
        assert_eq!(scan.coverage, Coverage::Incomplete);
        assert_eq!((scan.problems[0].line, scan.problems[0].column), (8, 1), "{:?}", scan.problems);
        assert!(scan.problems[0].message.contains("YAML syntax error"));
        let report = w.rec.apply(&scan).await.expect("pass");
        assert_eq!(summary(&report), [0, 0, 0, 1, 0], "{report:?}");
        assert_eq!(report.items[0].reason, Reason::IncompleteScan);
        assert_eq!(w.labels_active().await, [("Production".into(), true)]);
        assert_eq!(w.rec.problems()[0].line, 8);
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn adoption_keeps_the_hand_made_token_and_drift_is_restored() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        // A credential made by hand on the credentials page: no ownership row.
        let hand = CredentialData {
            label: "Hand Made".into(),
            api_url: "https://api.bigcommerce.com/stores/abc123/".into(),
            client_id: None,
            client_secret: SecretUpdate::Keep,
            access_token: SecretUpdate::Set(bccreds::secret::SecretValue::new("tok-prod-2")),
            active: true,
            default_locale: None,
            default_currency: None,
            locale_mapping: Default::default(),
            currency_mapping: Default::default(),
            store_info: None,
        };
        let own = Ownership {
            credential_id: 0,
            owner_id: "someone".into(),
            source_key: bccreds::model::SourceKey::stored("x/y"),
            spec_sha256: String::new(),
            secret_sha256: String::new(),
            last_verified_at: None,
            last_result: None,
            last_message: None,
            deletion_policy: bccreds::model::DeletionPolicy::Delete,
            source_path: None,
        };
        let id = w.store.create(&hand, &own).await.expect("hand row");
        w.store.release("someone", id).await.expect("unowned");

        w.put(&Manifest::new("hand").namespace("shop").label("hand made"));
        let report = w.pass().await;
        assert_eq!(report.items[0].reason, Reason::LabelConflict, "{report:?}");
        w.put(
            &Manifest::new("hand")
                .namespace("shop")
                .label("Hand Made")
                .adopt(),
        );
        let report = w.pass().await;
        assert_eq!(
            (
                report.items[0].action,
                summary(&report),
                report.summary.adopted
            ),
            (Action::Adopt, [0, 0, 0, 0, 0], 1),
            "{report:?}"
        );
        let row = w.store.get(id).await.expect("get").expect("row");
        assert_eq!(
            row.data.access_token.expose(),
            "tok-prod-2",
            "the hand-made token is kept"
        );
        assert_eq!(w.store.owned("test").await.expect("owned").len(), 1);

        // Drift: someone edits the managed row directly in SQL.
        db.exec(&format!(
            "UPDATE {} SET {} = 'Tampered', {} = {} WHERE {} = {id}",
            db.ident(w.store.credentials_table()),
            db.ident("label"),
            db.ident("status"),
            db.boolean(false),
            db.ident("id")
        ))
        .await;
        let report = w.pass().await;
        assert_eq!(
            (report.items[0].reason, summary(&report)),
            (Reason::Updated, [0, 1, 0, 0, 0]),
            "{report:?}"
        );
        assert!(report.items[0].message.contains("verified"), "{report:?}");
        assert_eq!(w.labels_active().await, [("Hand Made".into(), true)]);
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_shows_after_the_reverify_interval_and_can_deactivate() {
    each_engine(|db| async move {
        for on_revoked in [OnRevoked::Keep, OnRevoked::Deactivate] {
            let w = world(&db, "", |c| {
                c.reverify_interval = Duration::ZERO;
                c.on_revoked = on_revoked;
                c.owner = format!("{on_revoked:?}");
            })
            .await;
            let label = format!("Revoked {on_revoked:?}");
            w.put(&Manifest::prod().label(&label));
            assert_eq!(summary(&w.pass().await), [1, 0, 0, 0, 0]);
            w.sim.revoke_token("tok-prod-1");
            let report = w.pass().await;
            assert_eq!(
                w.condition("prod", ConditionType::Verified),
                (ConditionStatus::False, Reason::InvalidToken)
            );
            let row = w
                .labels_active()
                .await
                .into_iter()
                .find(|(l, _)| *l == label)
                .expect("row stays");
            match on_revoked {
                OnRevoked::Keep => {
                    assert!(row.1, "kept active");
                    assert_eq!(summary(&report), [0, 0, 0, 0, 1]);
                }
                OnRevoked::Deactivate => {
                    assert!(!row.1, "deactivated");
                    assert_eq!(report.items[0].reason, Reason::Deactivated);
                    // Deactivation is not drift: the next pass does not flip it back.
                    let again = w.pass().await;
                    assert!(
                        !w.labels_active()
                            .await
                            .into_iter()
                            .find(|(l, _)| *l == label)
                            .expect("row")
                            .1,
                        "{again:?}"
                    );
                }
            }
            w.store
                .delete(
                    &format!("{on_revoked:?}"),
                    w.store.owned(&format!("{on_revoked:?}")).await.expect("o")[0]
                        .0
                        .credential_id,
                )
                .await
                .expect("cleanup");
        }
        db
    })
    .await;
}

#[tokio::test]
async fn orphan_policy_and_the_empty_set_guard_keep_rows() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod().deletion_policy("Orphan"));
        w.put(&Manifest::outlet());
        w.pass().await;
        fs::remove_file(w.manifests().join("prod.yaml")).expect("rm");
        let report = w.pass().await;
        // Released, not deleted: the orphan has a bucket of its own.
        assert_eq!(summary(&report), [0, 0, 0, 1, 0]);
        assert_eq!(report.summary.orphaned, 1, "{report:?}");
        assert_eq!(w.labels_active().await.len(), 2, "the orphaned row stays");
        assert_eq!(
            w.store.owned("test").await.expect("owned").len(),
            1,
            "and is no longer managed"
        );

        fs::remove_file(w.manifests().join("outlet.yaml")).expect("rm");
        let report = w.pass().await;
        assert_eq!(report.items[0].reason, Reason::EmptySetGuard);
        assert_eq!(summary(&report), [0, 0, 0, 0, 1]);
        assert_eq!(
            w.labels_active().await.len(),
            2,
            "nothing deleted by an empty tree"
        );

        let missing =
            FileSource::new(vec![w.dir.path().join("gone")], ValidateOptions::default()).scan();
        assert_eq!(missing.coverage, Coverage::Incomplete);
        let report = w.rec.apply(&missing).await.expect("pass");
        assert_eq!(
            summary(&report)[2],
            0,
            "a missing directory deletes nothing"
        );
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn unopim_codes_must_be_enabled_when_its_tables_exist() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        let (bool_type, t, f) = match db.engine {
            store_support::Engine::MySql => ("TINYINT(1)", "1", "0"),
            store_support::Engine::Postgres => ("BOOLEAN", "TRUE", "FALSE"),
            store_support::Engine::Sqlite => ("BOOLEAN", "1", "0"),
        };
        db.exec(&format!(
            "CREATE TABLE locales (id INTEGER, code VARCHAR(32), status {bool_type})"
        ))
        .await;
        db.exec(&format!(
            "CREATE TABLE currencies (id INTEGER, code VARCHAR(8), status {bool_type})"
        ))
        .await;
        db.exec(&format!(
            "INSERT INTO locales (id, code, status) VALUES (1, 'en_US', {t}), (2, 'fr_FR', {f})"
        ))
        .await;
        db.exec(&format!(
            "INSERT INTO currencies (id, code, status) VALUES (1, 'USD', {t})"
        ))
        .await;
        let fine = Manifest::new("ok")
            .namespace("shop")
            .label("Fine")
            .token(Source::file("prod"))
            .default_locale("en_US")
            .currency_mapping(&[("USD", "USD")]);
        w.put(&fine);
        let disabled = Manifest::new("bad")
            .namespace("shop")
            .label("Disabled")
            .store("def456")
            .token(Source::file("outlet"))
            .locale_mapping(&[("fr_FR", "fr")]);
        w.put(&disabled);
        let report = w.pass().await;
        assert_eq!(summary(&report), [1, 0, 0, 0, 1], "{report:?}");
        let bad = report.items.iter().find(|i| i.key.name == "bad").expect("bad");
        assert_eq!(bad.reason, Reason::InvalidSpec);
        assert!(
            bad.message.contains(
                "names UnoPim locale `fr_FR` (localeMapping) that UnoPim does not have enabled (enabled locales: en_US)"
            ),
            "{bad:?}"
        );
        assert_eq!(w.labels_active().await, [("Fine".into(), true)]);
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_row_fails_alone_and_a_manifest_with_its_secrets_overwrites_it() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod());
        w.put(&Manifest::outlet());
        assert_eq!(summary(&w.pass().await), [2, 0, 0, 0, 0]);
        let table = db.ident(w.store.credentials_table());
        let set = |column: &str, value: &str, label: &str| {
            format!(
                "UPDATE {table} SET {} = '{value}' WHERE {} = '{label}'",
                db.ident(column),
                db.ident("label")
            )
        };
        // A token no key decrypts, and a mapping that is not JSON (written by hand or by other code).
        db.exec(&set("accessToken", "garbage-ciphertext", "Production"))
            .await;
        let text_json = if db.engine == store_support::Engine::Sqlite {
            set("localeMapping", "not json", "Outlet")
        } else {
            // MySQL and PostgreSQL refuse invalid JSON in a JSON column; text is what gets in.
            format!(
                "UPDATE {table} SET {} = '\"a string\"' WHERE {} = 'Outlet'",
                db.ident("localeMapping"),
                db.ident("label")
            )
        };
        db.exec(&text_json).await;
        if db.engine == store_support::Engine::Sqlite {
            db.exec(&set("updated_at", "yesterday", "Outlet")).await;
        }
        // The manifests keep the stored secrets, so nothing can repair those rows; a new
        // credential beside them is still created.
        w.put(&Manifest::new("prod").namespace("shop").label("Production"));
        w.put(
            &Manifest::new("outlet")
                .namespace("shop")
                .label("Outlet")
                .store("def456"),
        );
        w.put(
            &Manifest::new("new")
                .namespace("shop")
                .label("New")
                .token(Source::file("prod")),
        );
        let report = w.pass().await;
        assert_eq!(summary(&report), [1, 0, 0, 0, 2], "{report:?}");
        for item in report.items.iter().filter(|i| i.key.name != "new") {
            assert_eq!(item.reason, Reason::StoredRowUnreadable, "{item:?}");
            assert!(item.message.contains("cannot be read"), "{item:?}");
            assert!(
                !item.message.contains("garbage") && !item.message.contains("a string"),
                "a stored value leaked: {item:?}"
            );
        }
        let prod = report
            .items
            .iter()
            .find(|i| i.key.name == "prod")
            .expect("prod");
        assert!(prod.message.contains("`accessToken`"), "{prod:?}");
        assert_eq!(
            w.condition("prod", ConditionType::Stored),
            (ConditionStatus::False, Reason::StoredRowUnreadable)
        );
        // With its token in the manifest, the verified credential overwrites the broken row.
        w.put(&Manifest::prod());
        let report = w.pass().await;
        let prod = report
            .items
            .iter()
            .find(|i| i.key.name == "prod")
            .expect("prod");
        assert_eq!(
            (prod.action, prod.reason),
            (Action::Update, Reason::Updated),
            "{prod:?}"
        );
        let (row, _) = w
            .store
            .find_by_label("Production")
            .await
            .expect("the row reads again")
            .expect("row");
        assert_eq!(row.data.access_token.expose(), "tok-prod-1");
        assert_eq!(
            summary(&w.pass().await)[4],
            1,
            "only the outlet still fails"
        );
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_row_deleted_in_unopim_is_recreated_by_the_next_apply() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod());
        assert_eq!(summary(&w.pass().await), [1, 0, 0, 0, 0]);
        // UnoPim's credentials page deletes the row; bccreds' ownership record stays behind.
        db.exec(&format!(
            "DELETE FROM {}",
            db.ident(w.store.credentials_table())
        ))
        .await;
        let steps = w.rec.plan(&w.scan()).await.expect("plan");
        assert!(
            steps[0].head().message.contains("deleted outside bccreds"),
            "{:?}",
            steps[0].head().message
        );
        let report = w.pass().await;
        assert_eq!(summary(&report), [1, 0, 0, 0, 0], "{report:?}");
        assert_eq!(w.labels_active().await, [("Production".into(), true)]);
        let owned = w.store.owned("test").await.expect("owned");
        assert_eq!(owned.len(), 1, "the stale record was replaced");
        assert!(owned[0].1.is_some(), "and points at the new row");
        assert_eq!(
            summary(&w.pass().await),
            [0, 0, 0, 1, 0],
            "then it is unchanged"
        );
        w.store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn a_one_object_pass_touches_only_its_own_object() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod());
        w.put(&Manifest::outlet());
        let entries = w.scan().entries;
        let one = |name: &str| {
            Scan::of_entries(
                entries
                    .iter()
                    .filter(|e| e.key().name == name)
                    .cloned()
                    .collect(),
            )
        };
        assert_eq!(
            summary(&w.rec.apply(&one("prod")).await.expect("pass")),
            [1, 0, 0, 0, 0]
        );
        assert_eq!(
            summary(&w.rec.apply(&one("outlet")).await.expect("pass")),
            [1, 0, 0, 0, 0]
        );
        let before = w.rec.statuses();
        assert_eq!(
            before.len(),
            2,
            "the second object's pass kept the first's status"
        );
        // Passes of one object neither report nor delete the other's row, nor touch its status.
        let again = w.rec.apply(&one("prod")).await.expect("pass");
        assert_eq!(again.items.len(), 1, "{again:?}");
        assert_eq!(again.items[0].key.name, "prod");
        assert_eq!(w.labels_active().await.len(), 2);
        let outlet = |statuses: Vec<bccreds::reconcile::CredentialStatus>| {
            statuses
                .into_iter()
                .find(|s| s.name == "outlet")
                .expect("outlet status")
        };
        assert_eq!(outlet(w.rec.statuses()), outlet(before));
        w.store.close().await;
        db
    })
    .await;
}

/// The `bccreds_results_total` samples of a reconciler, as `/metrics` renders them.
fn results_metric(rec: &Reconciler<BigCommerceClient>, client: &BigCommerceClient) -> Vec<String> {
    let mut text = bccreds::server::MetricsText::new();
    bccreds::server::reconciler_metrics(&mut text, rec, client);
    text.finish()
        .lines()
        .filter(|l| l.starts_with("bccreds_results_total{"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn kubernetes_deletion_reports_and_counts_as_file_mode_deletion_does() {
    use bccreds::model::BigCommerceCredential;
    use bccreds::source::kubernetes::scan_deleted;

    each_engine(|db| async move {
        let client = BigCommerceClient::new(&ClientOptions::default()).expect("client");
        let mut lines = Vec::new();
        for kubernetes in [false, true] {
            // Tables of their own per mode, so that both start from the same rows.
            let prefix = if kubernetes { "k8s_" } else { "files_" };
            let w = world(&db, prefix, |_| {}).await;
            let texts = [
                ("prod", Manifest::prod().render()),
                (
                    "outlet",
                    Manifest::outlet().deletion_policy("Orphan").render(),
                ),
            ];
            for (name, text) in &texts {
                w.write(&format!("{name}.yaml"), text);
            }
            assert_eq!(summary(&w.pass().await), [2, 0, 0, 0, 0]);
            let report = if kubernetes {
                // The objects are deleted in the cluster; each finalizer plans its own removal.
                let mut items = Vec::new();
                for (_, text) in &texts {
                    let yaml: serde_json::Value = serde_yaml_ng::from_str(text).expect("yaml");
                    let obj: BigCommerceCredential = serde_json::from_value(yaml).expect("object");
                    let report = w.rec.apply(&scan_deleted(&obj)).await.expect("pass");
                    items.extend(report.items);
                }
                items.sort_by(|a, b| a.key.cmp(&b.key));
                items
            } else {
                for (name, _) in &texts {
                    fs::remove_file(w.manifests().join(format!("{name}.yaml"))).expect("rm");
                }
                // Another manifest keeps the tree from being empty (the empty-set guard).
                w.put(
                    &Manifest::new("other")
                        .namespace("shop")
                        .label("Other")
                        .token(Source::file("prod")),
                );
                let report = w.pass().await;
                report
                    .items
                    .into_iter()
                    .filter(|i| i.key.name != "other")
                    .collect()
            };
            assert_eq!(
                report
                    .iter()
                    .map(|i| (i.action, i.reason))
                    .collect::<Vec<_>>(),
                [
                    (Action::Orphan, Reason::Orphaned),
                    (Action::Delete, Reason::Deleted)
                ],
                "{report:?}"
            );
            assert_eq!(
                w.labels_active().await,
                if kubernetes {
                    vec![("Outlet".to_string(), true)]
                } else {
                    vec![("Other".to_string(), true), ("Outlet".to_string(), true)]
                }
            );
            assert!(
                w.rec
                    .statuses()
                    .iter()
                    .all(|s| s.name != "prod" && s.name != "outlet"),
                "the status of deleted credentials is forgotten"
            );
            // An orphan is released, not deleted: a bucket of its own.
            let results = w.rec.metrics().results;
            let deleted = (
                results.get("deleted").copied(),
                results.get("orphaned").copied(),
            );
            let item_lines: Vec<String> = report.iter().map(|i| i.to_string()).collect();
            let metric: Vec<String> = results_metric(&w.rec, &client)
                .into_iter()
                .filter(|l| l.contains("\"deleted\"") || l.contains("\"orphaned\""))
                .collect();
            assert_eq!(
                metric,
                [
                    "bccreds_results_total{result=\"deleted\"} 1",
                    "bccreds_results_total{result=\"orphaned\"} 1"
                ],
                "{metric:?}"
            );
            lines.push((item_lines, deleted, metric));
            w.store.close().await;
        }
        assert_eq!(lines[0].1, (Some(1), Some(1)), "{lines:?}");
        assert!(
            lines[0]
                .0
                .iter()
                .any(|l| l.starts_with("Orphaned  shop/outlet (Outlet): ")),
            "{lines:?}"
        );
        assert_eq!(lines[0], lines[1], "file mode and Kubernetes mode differ");
        db
    })
    .await;
}

#[tokio::test]
async fn an_attempt_without_a_verdict_records_its_result_but_not_a_verification_time() {
    each_engine(|db| async move {
        let w = world(&db, "", |_| {}).await;
        w.put(&Manifest::prod());
        assert_eq!(summary(&w.pass().await), [1, 0, 0, 0, 0]);
        let ownership = |w: &World| {
            let store = w.store.clone();
            async move {
                let owned = store.owned("test").await.expect("owned");
                assert_eq!(owned.len(), 1);
                owned[0].0.clone()
            }
        };
        let verified = ownership(&w).await;
        assert_eq!(verified.last_result, Some(bccreds::model::Reason::Verified));
        // Verified a day ago, so that a new verification time could not pass for the old one.
        let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
        w.store
            .record_verification(
                "test",
                verified.credential_id,
                "Verified",
                verified.last_message.as_deref().unwrap_or_default(),
                day_ago,
            )
            .await
            .expect("backdate");
        let verified_at = ownership(&w).await.last_verified_at.expect("verified at");
        assert!(verified_at < chrono::Utc::now() - chrono::Duration::hours(23));

        // BigCommerce cannot be reached: a closed port on loopback, no retries.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base_url = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        let client = BigCommerceClient::new(&ClientOptions {
            base_url,
            retry: RetryPolicy {
                max_retries: 0,
                base_delay: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        })
        .expect("client");
        let offline = Reconciler::new(
            w.store.clone(),
            Arc::new(client),
            ReconcilerConfig {
                owner: "test".into(),
                concurrency: 1,
                reverify_interval: Duration::ZERO,
                ..Default::default()
            },
        )
        .one_shot();

        // A re-verification, then an update: neither reaches a verdict.
        for (edit, action) in [(false, Action::Reverify), (true, Action::Update)] {
            if edit {
                w.put(
                    &Manifest::new("prod")
                        .namespace("shop")
                        .label("Production (US)")
                        .token(Source::file("prod")),
                );
            }
            let report = offline.apply(&w.scan()).await.expect("pass");
            assert_eq!(summary(&report), [0, 0, 0, 0, 1], "{report:?}");
            let item = &report.items[0];
            assert_eq!((item.action, item.reason), (action, Reason::Unreachable));
            let line = item.to_string();
            let attempted = format!("{}: ", action.as_str().to_lowercase());
            assert!(
                line.starts_with("Failed    shop/prod (")
                    && line.contains(&format!(
                        "): {attempted}BigCommerce could not be reached for store abc123"
                    )),
                "{line}"
            );
            // A one-shot pass retries nothing, and does not say that it will.
            assert!(!line.contains("retried"), "{line}");
            let own = ownership(&w).await;
            assert_eq!(
                own.last_result,
                Some(bccreds::model::Reason::Unreachable),
                "{action:?}"
            );
            assert!(
                own.last_message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("BigCommerce could not be reached")),
                "{:?}",
                own.last_message
            );
            assert_eq!(
                own.last_verified_at,
                Some(verified_at),
                "{action:?}: an attempt without a verdict is no verification"
            );
        }
        assert_eq!(
            w.labels_active().await,
            [("Production".to_string(), true)],
            "nothing unverified is stored"
        );
        w.store.close().await;
        db
    })
    .await;
}
