//! Planner tests (kept apart so that plan.rs stays readable).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::desired::{
    secret_digest, spec_hash, Coverage, Desired, Entry, Invalid, Scan, SourceKey,
};
use super::plan::{plan, Action, PlanInput};
use super::step::Step;
use crate::crypto::SecretFingerprints;
use crate::model::{DeletionPolicy, Reason};
use crate::secret::SecretValue;
use crate::store::{
    CredentialData, ListedCredential, Ownership, SecretUpdate, StoredCredential, StoredData,
};

fn key(name: &str) -> SourceKey {
    SourceKey {
        namespace: "shop".into(),
        name: name.into(),
    }
}

pub(super) fn desired(name: &str, label: &str) -> Desired {
    let data = CredentialData {
        label: label.into(),
        api_url: "https://api.bigcommerce.com/stores/abc/".into(),
        client_id: None,
        client_secret: SecretUpdate::Keep,
        access_token: SecretUpdate::Set(SecretValue::new("tok")),
        active: true,
        default_locale: None,
        default_currency: None,
        locale_mapping: BTreeMap::new(),
        currency_mapping: BTreeMap::new(),
        store_info: None,
    };
    Desired {
        key: key(name),
        generation: None,
        origin: format!("{name}.yaml:1"),
        spec_sha256: spec_hash(&data, DeletionPolicy::Delete),
        secret_digest: secret_digest(&data),
        source_path: None,
        data,
        store_hash: "abc".into(),
        policy: DeletionPolicy::Delete,
        adopt: false,
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

/// The owned row bccreds would have written for `d`, verified `age_min` minutes ago.
pub(super) fn owned(id: i64, d: &Desired, age_min: i64) -> (Ownership, Option<StoredCredential>) {
    let stored = StoredCredential {
        id,
        data: StoredData {
            label: d.data.label.clone(),
            api_url: d.data.api_url.clone(),
            client_id: None,
            client_secret: None,
            access_token: SecretValue::new("tok"),
            active: true,
            default_locale: None,
            default_currency: None,
            locale_mapping: BTreeMap::new(),
            currency_mapping: BTreeMap::new(),
            store_info: None,
        },
        created_at: None,
        updated_at: None,
    };
    let own = Ownership {
        credential_id: id,
        owner_id: "me".into(),
        source_key: d.key.clone(),
        spec_sha256: d.spec_sha256.clone(),
        secret_sha256: d.secret_digest.clone(),
        last_verified_at: Some(now() - chrono::Duration::minutes(age_min)),
        last_result: Some(Reason::Verified),
        last_message: None,
        deletion_policy: DeletionPolicy::Delete,
        source_path: None,
    };
    (own, Some(stored))
}

fn row(id: i64, label: &str, owner: Option<&str>) -> ListedCredential {
    ListedCredential {
        id,
        label: label.into(),
        api_url: String::new(),
        active: true,
        owner_id: owner.map(str::to_string),
        last_result: None,
        last_verified_at: None,
        updated_at: None,
    }
}

fn run(
    entries: Vec<Entry>,
    complete: bool,
    owned: &[(Ownership, Option<StoredCredential>)],
    rows: &[ListedCredential],
    allow_empty: bool,
) -> Vec<Step> {
    let scan = Scan {
        entries,
        scope: None,
        coverage: if complete {
            Coverage::Complete
        } else {
            Coverage::Incomplete
        },
        problems: Vec::new(),
    };
    plan(&PlanInput {
        scan: &scan,
        owned,
        all_rows: rows,
        unreadable: &BTreeMap::new(),
        now: now(),
        reverify_interval: Duration::from_secs(3600),
        allow_empty,
        prune: true,
        on_revoked_deactivate: false,
        fingerprints: &SecretFingerprints::unkeyed(),
    })
}

fn actions(steps: &[Step]) -> Vec<(String, Action, Reason)> {
    steps
        .iter()
        .map(|s| (s.key().name.clone(), s.action(), s.head().reason))
        .collect()
}

pub(super) fn entry(d: Desired) -> Entry {
    Entry::Desired(Box::new(d))
}

#[test]
fn new_unchanged_stale_and_changed() {
    let a = desired("a", "A");
    let b = desired("b", "B");
    let c = desired("c", "C");
    let mut c_changed = desired("c", "C");
    c_changed.spec_sha256 = "different".into();
    let owned_rows = [
        owned(2, &b, 5),
        owned(3, &c, 5),
        owned(4, &desired("d", "D"), 120),
    ];
    let d = desired("d", "D");
    let steps = run(
        vec![entry(a), entry(b), entry(c_changed), entry(d)],
        true,
        &owned_rows,
        &[],
        false,
    );
    assert_eq!(
        actions(&steps),
        [
            ("a".into(), Action::Create, Reason::New),
            ("b".into(), Action::Unchanged, Reason::UpToDate),
            ("c".into(), Action::Update, Reason::Changed),
            ("d".into(), Action::Reverify, Reason::ReverifyDue),
        ]
    );
}

#[test]
fn drift_is_detected_and_kept_secrets_are_not_drift() {
    let b = desired("b", "B");
    let mut tampered = owned(2, &b, 5);
    if let Some(s) = tampered.1.as_mut() {
        s.data.label = "Tampered".into();
        s.data.active = false;
    }
    let steps = run(vec![entry(b.clone())], true, &[tampered], &[], false);
    assert_eq!(
        (steps[0].action(), steps[0].head().reason),
        (Action::Update, Reason::Drift)
    );
    assert!(
        steps[0].head().message.contains("label, status"),
        "{}",
        steps[0].head().message
    );

    let mut keep = desired("b", "B");
    keep.data.access_token = SecretUpdate::Keep;
    keep.secret_digest = secret_digest(&keep.data);
    let mut stored = owned(2, &keep, 5);
    if let Some(s) = stored.1.as_mut() {
        s.data.access_token = SecretValue::new("whatever-is-stored");
    }
    let steps = run(vec![entry(keep)], true, &[stored], &[], false);
    assert_eq!(steps[0].action(), Action::Unchanged);
}

#[test]
fn gone_manifests_are_deleted_or_orphaned_but_only_after_a_complete_scan() {
    let a = desired("a", "A");
    let gone = desired("gone", "Gone");
    let mut orphan = owned(3, &desired("orphan", "Orphan"), 5);
    orphan.0.deletion_policy = DeletionPolicy::Orphan;
    let owned_rows = [owned(2, &gone, 5), orphan];
    let steps = run(vec![entry(a.clone())], true, &owned_rows, &[], false);
    assert_eq!(
        actions(&steps)[1..],
        [
            ("gone".into(), Action::Delete, Reason::Deleted),
            ("orphan".into(), Action::Orphan, Reason::Orphaned)
        ]
    );
    let steps = run(vec![entry(a)], false, &owned_rows, &[], false);
    assert!(steps[1..]
        .iter()
        .all(|s| s.action() == Action::Skip && s.head().reason == Reason::IncompleteScan));
}

#[test]
fn an_empty_desired_set_deletes_nothing_without_allow_empty() {
    let owned_rows = [owned(2, &desired("a", "A"), 5)];
    let steps = run(Vec::new(), true, &owned_rows, &[], false);
    assert_eq!(
        (steps[0].action(), steps[0].head().reason, steps[0].fails()),
        (Action::Skip, Reason::EmptySetGuard, true)
    );
    let steps = run(Vec::new(), true, &owned_rows, &[], true);
    assert_eq!(steps[0].action(), Action::Delete);
}

#[test]
fn labels_taken_by_other_rows_conflict_unless_adopted() {
    let rows = [row(7, "hand made", None), row(8, "Theirs", Some("other"))];
    let mut adopt = desired("h2", "Hand Made");
    adopt.adopt = true;
    let steps = run(
        vec![
            entry(desired("h", "Hand Made")),
            entry(adopt),
            entry(desired("t", "THEIRS")),
        ],
        true,
        &[],
        &rows,
        false,
    );
    assert_eq!(
        actions(&steps),
        [
            ("h".into(), Action::Skip, Reason::LabelConflict),
            ("h2".into(), Action::Adopt, Reason::Adopt),
            ("t".into(), Action::Skip, Reason::LabelConflict),
        ]
    );
    assert!(steps[0]
        .head()
        .message
        .contains("bigcommerce.unopim.io/adopt"));
    assert!(steps[2].head().message.contains("owner `other`"));
    assert_eq!(steps[1].row_id(), Some(7));
}

#[test]
fn creating_needs_a_token_and_a_deleted_row_is_recreated() {
    let mut no_token = desired("n", "N");
    no_token.data.access_token = SecretUpdate::Keep;
    let r = desired("r", "R");
    let stale = (owned(9, &r, 5).0, None);
    let steps = run(vec![entry(no_token), entry(r)], true, &[stale], &[], false);
    assert_eq!(
        actions(&steps),
        [
            ("n".into(), Action::Skip, Reason::SecretNotFound),
            ("r".into(), Action::Create, Reason::New)
        ]
    );
    assert!(steps[1].head().message.contains("deleted outside bccreds"));
}

#[test]
fn invalid_manifests_keep_their_rows() {
    let owned_rows = [owned(2, &desired("a", "A"), 5)];
    let invalid = Entry::Invalid(Invalid {
        key: key("a"),
        label: Some("A".into()),
        generation: None,
        reason: Reason::InvalidSpec,
        message: "bad apiUrl".into(),
    });
    let steps = run(vec![invalid], true, &owned_rows, &[], false);
    assert_eq!(steps.len(), 1, "no delete for an invalid manifest");
    assert_eq!(
        (steps[0].action(), steps[0].row_id(), steps[0].fails()),
        (Action::Skip, Some(2), true)
    );
    assert!(steps[0].head().message.contains("kept"));
}

#[test]
fn a_failed_last_verification_is_verified_again() {
    let b = desired("b", "B");
    let mut failed = owned(2, &b, 5);
    failed.0.last_result = Some(Reason::InvalidToken);
    let steps = run(vec![entry(b)], true, &[failed], &[], false);
    assert_eq!(
        (steps[0].action(), steps[0].head().reason),
        (Action::Reverify, Reason::LastVerificationFailed)
    );
}

#[test]
fn a_gone_object_is_deleted_by_its_policy_and_other_rows_are_left_alone() {
    let owned_rows = [
        owned(1, &desired("a", "A"), 5),
        owned(2, &desired("b", "B"), 5),
    ];
    let gone = |name: &str, policy| {
        Entry::Gone(super::desired::Gone {
            key: key(name),
            policy,
        })
    };
    let plan_of = |entries| {
        let scan = Scan::of_entries(entries);
        plan(&PlanInput {
            scan: &scan,
            owned: &owned_rows,
            all_rows: &[],
            unreadable: &BTreeMap::new(),
            now: now(),
            reverify_interval: Duration::from_secs(3600),
            allow_empty: false,
            prune: true,
            on_revoked_deactivate: false,
            fingerprints: &SecretFingerprints::unkeyed(),
        })
    };
    let steps = plan_of(vec![gone("a", DeletionPolicy::Delete)]);
    assert_eq!(
        actions(&steps),
        [("a".into(), Action::Delete, Reason::Deleted)],
        "only the gone object's row, not b's"
    );
    assert_eq!(steps[0].row_id(), Some(1));
    assert_eq!(steps[0].head().label, "A");
    // The object's own annotation decides, as the finalizer has it at deletion.
    let steps = plan_of(vec![gone("b", DeletionPolicy::Orphan)]);
    assert_eq!(
        actions(&steps),
        [("b".into(), Action::Orphan, Reason::Orphaned)]
    );
    // An object that never had a row leaves nothing to do.
    assert!(plan_of(vec![gone("never", DeletionPolicy::Delete)]).is_empty());
    // A one-object scan of a live object plans that object only.
    let steps = plan_of(vec![entry(desired("a", "A"))]);
    assert_eq!(
        actions(&steps),
        [("a".into(), Action::Unchanged, Reason::UpToDate)]
    );
}

#[test]
fn an_unreadable_row_is_overwritten_only_with_the_secrets_it_lost() {
    let d = desired("a", "A");
    let (own, _) = owned(1, &d, 5);
    let owned_rows = [(own, None)];
    let problem = crate::store::ColumnError {
        column: "clientSecret",
        reason: "cannot be decrypted".into(),
    };
    let unreadable = BTreeMap::from([(1, problem)]);
    let plan_with = |d: Desired| {
        let scan = Scan::of_entries(vec![entry(d)]);
        plan(&PlanInput {
            scan: &scan,
            owned: &owned_rows,
            all_rows: &[],
            unreadable: &unreadable,
            now: now(),
            reverify_interval: Duration::from_secs(3600),
            allow_empty: false,
            prune: true,
            on_revoked_deactivate: false,
            fingerprints: &SecretFingerprints::unkeyed(),
        })
    };
    // The manifest keeps the client secret, which cannot be read: the row is kept.
    let steps = plan_with(d.clone());
    assert_eq!(
        (steps[0].action(), steps[0].head().reason, steps[0].fails()),
        (Action::Skip, Reason::StoredRowUnreadable, true)
    );
    assert!(
        steps[0].head().message.contains("by setting clientSecret"),
        "{}",
        steps[0].head().message
    );
    // With the client secret in the manifest, it is verified and overwritten.
    let mut full = d;
    full.data.client_secret = SecretUpdate::Set(SecretValue::new("s"));
    let steps = plan_with(full);
    assert_eq!(
        (steps[0].action(), steps[0].head().reason, steps[0].row_id()),
        (Action::Update, Reason::StoredRowUnreadable, Some(1))
    );
}

#[test]
fn a_stored_fingerprint_under_an_old_key_or_a_plain_digest_is_the_same_secret() {
    let old = crate::crypto::Encrypter::new(crate::crypto::AppKey::generate(), Vec::new());
    let rotated = crate::crypto::Encrypter::new(
        crate::crypto::AppKey::generate(),
        vec![crate::crypto::AppKey::generate()],
    );
    let fingerprints = SecretFingerprints::keyed(&rotated);
    let a = desired("a", "A");
    let plan_with = |stored_fingerprint: String| {
        let mut row = owned(1, &a, 5);
        row.0.secret_sha256 = stored_fingerprint;
        let scan = Scan {
            entries: vec![entry(a.clone())],
            scope: None,
            coverage: Coverage::Complete,
            problems: Vec::new(),
        };
        let steps = plan(&PlanInput {
            scan: &scan,
            owned: &[row],
            all_rows: &[],
            unreadable: &BTreeMap::new(),
            now: now(),
            reverify_interval: Duration::from_secs(3600),
            allow_empty: false,
            prune: true,
            on_revoked_deactivate: false,
            fingerprints: &fingerprints,
        });
        (steps[0].action(), steps[0].head().message.clone())
    };
    let current = fingerprints.current(&a.secret_digest);
    assert_eq!(plan_with(current).0, Action::Unchanged);
    // What an older bccreds stored: the plain digest. Same secret, so nothing to verify.
    assert_eq!(plan_with(a.secret_digest.clone()).0, Action::Unchanged);
    // Under a key that is not among the previous ones: cannot be told apart from a change.
    let (action, message) = plan_with(SecretFingerprints::keyed(&old).current(&a.secret_digest));
    assert_eq!(action, Action::Update);
    assert!(message.contains("a secret changed"), "{message}");
    let changed = {
        let mut d = a.clone();
        d.data.access_token = SecretUpdate::Set(SecretValue::new("another-token"));
        secret_digest(&d.data)
    };
    assert_eq!(plan_with(fingerprints.current(&changed)).0, Action::Update);
}

#[test]
fn a_rename_of_metadata_name_takes_the_row_over() {
    let old = desired("a", "A");
    let row = owned(1, &old, 5);
    // The same label (case aside) and API URL under a new name: one update of row 1.
    let steps = run(
        vec![entry(desired("a2", "a"))],
        true,
        std::slice::from_ref(&row),
        &[],
        false,
    );
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        (
            steps[0].key().name.as_str(),
            steps[0].action(),
            steps[0].row_id()
        ),
        ("a2", Action::Update, Some(1))
    );
    assert!(steps[0].head().message.contains("renamed from shop/a"));
    // Another API URL is another credential: delete and create.
    let mut elsewhere = desired("a2", "A");
    elsewhere.data.api_url = "https://api.bigcommerce.com/stores/xyz/".into();
    let steps = run(vec![entry(elsewhere)], true, &[row], &[], false);
    let actions: Vec<Action> = steps.iter().map(Step::action).collect();
    assert_eq!(actions, [Action::Create, Action::Delete]);
}
