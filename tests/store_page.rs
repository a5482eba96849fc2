//! The credentials page reads one page from the database (filters, order, LIMIT/OFFSET and
//! counts in SQL). Its fast path is held to a simple one: for seeded random queries, every
//! engine's page equals the page that plain Rust cuts from the whole listing, sorted and
//! filtered as the page documents (labels by their lowercase bytes, rows without a value last,
//! ties by id, everything reversed when descending).

mod store_support;

use std::cmp::Ordering;

use bccreds::model::ConditionStatus;
use bccreds::store::{ListQuery, ListedCredential, PageQuery, SortColumn, Store};
use chrono::{TimeZone, Utc};
use store_support::{credential, each_engine, ownership};

const SORTS: [SortColumn; 7] = [
    SortColumn::Label,
    SortColumn::ApiUrl,
    SortColumn::Status,
    SortColumn::Ready,
    SortColumn::ManagedBy,
    SortColumn::LastVerified,
    SortColumn::Reason,
];

/// The order the page documents, on whole listed rows.
fn compare(a: &ListedCredential, b: &ListedCredential, sort: SortColumn) -> Ordering {
    fn last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let rank = |r: &ListedCredential| {
        r.ready().map(|s| match s {
            ConditionStatus::False => 0,
            ConditionStatus::True => 1,
            ConditionStatus::Unknown => 2,
        })
    };
    let lower = |s: &str| s.to_lowercase().into_bytes();
    match sort {
        SortColumn::Label => lower(&a.label).cmp(&lower(&b.label)),
        SortColumn::ApiUrl => lower(&a.api_url).cmp(&lower(&b.api_url)),
        SortColumn::Status => b.active.cmp(&a.active),
        SortColumn::Ready => last(rank(a), rank(b)),
        SortColumn::ManagedBy => last(a.owner_id.as_deref(), b.owner_id.as_deref()),
        SortColumn::LastVerified => last(a.last_verified_at, b.last_verified_at),
        SortColumn::Reason => last(a.failure(), b.failure()),
        SortColumn::Updated => a.updated_at.cmp(&b.updated_at),
    }
}

/// The page as plain Rust cuts it from every row: (ids, matching).
fn reference(all: &[ListedCredential], q: &PageQuery) -> (Vec<i64>, u64) {
    let needle = bccreds::store::fold(q.search.trim());
    let mut rows: Vec<&ListedCredential> = all
        .iter()
        .filter(|r| needle.is_empty() || bccreds::store::fold(&r.label).contains(&needle))
        .filter(|r| q.active.is_none_or(|a| r.active == a))
        .filter(|r| q.ready.is_none_or(|s| r.ready() == Some(s)))
        .filter(|r| q.managed.is_none_or(|m| r.owner_id.is_some() == m))
        .collect();
    rows.sort_by(|a, b| {
        let order = compare(a, b, q.sort).then(a.id.cmp(&b.id));
        if q.descending {
            order.reverse()
        } else {
            order
        }
    });
    let ids = rows
        .iter()
        .skip(q.offset as usize)
        .take(q.limit as usize)
        .map(|r| r.id)
        .collect();
    (ids, rows.len() as u64)
}

/// 40 rows: labels of mixed case, both statuses, four owners and none, every kind of last
/// result (a reason bccreds does not know too), verification times with ties and gaps; which
/// row gets what is drawn from `rng`.
async fn fill(store: &Store, rng: &mut fastrand::Rng) {
    let words = [
        "alpha", "Beta", "gamma", "DELTA", "epsilon", "Zeta", "eta", "THETA",
    ];
    let owners = ["gitops", "Team-B", "ops", "team-a"];
    let results = [
        "Verified",
        "InvalidToken",
        "Unreachable",
        "Forbidden",
        "SomethingNew",
    ];
    for i in 0..40 {
        let label = format!("{} {}", words[rng.usize(..words.len())], i);
        let mut data = credential(&label, "tok");
        data.active = rng.bool();
        data.api_url = format!(
            "https://api.bigcommerce.com/stores/{}{}/",
            ["abc", "Xyz", "mno"][rng.usize(..3)],
            rng.usize(..5)
        );
        let owner = owners[rng.usize(..owners.len())];
        let id = store
            .create(&data, &ownership(owner, &format!("shop/c{i}")))
            .await
            .expect("create");
        match rng.usize(..7) {
            // No verdict yet: Ready is Unknown.
            0 => store
                .record_result(owner, id, "", "")
                .await
                .expect("record"),
            // Not managed at all.
            1 => store.release(owner, id).await.expect("release"),
            _ => {
                let at = Utc
                    .with_ymd_and_hms(2026, 11, 1 + rng.u32(..4), 12, 0, 0)
                    .unwrap();
                let result = results[rng.usize(..results.len())];
                store
                    .record_verification(owner, id, result, "m", at)
                    .await
                    .expect("record");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_equals_the_page_plain_rust_cuts_from_all_rows() {
    each_engine(|db| async move {
        let e = db.engine;
        for seed in [22, 5, 77, 2026, 31337] {
            // Each seed fills tables of its own (a prefix per seed).
            let prefix = format!("s{seed}_");
            let mut rng = fastrand::Rng::with_seed(seed);
            let store = db.store(&prefix).await;
            fill(&store, &mut rng).await;
            // A row whose last result was cleared has no verdict: NULL, as bccreds never writes "".
            db.exec(&format!(
                "UPDATE {} SET last_result = NULL WHERE last_result = ''",
                db.ident(&format!("{prefix}bccreds_ownership"))
            ))
            .await;
            let all = store.list(&ListQuery::default()).await.expect("list");
            assert_eq!(all.len(), 40);
            for n in 0..120 {
                let q = PageQuery {
                    search: ["", "", "a", "ETA", "1", "zz", " be"][rng.usize(..7)].to_string(),
                    sort: SORTS[rng.usize(..SORTS.len())],
                    descending: rng.bool(),
                    active: [None, Some(true), Some(false)][rng.usize(..3)],
                    ready: [
                        None,
                        Some(ConditionStatus::True),
                        Some(ConditionStatus::False),
                        Some(ConditionStatus::Unknown),
                    ][rng.usize(..4)],
                    managed: [None, Some(true), Some(false)][rng.usize(..3)],
                    offset: rng.u64(..45),
                    limit: rng.u64(1..20),
                };
                let page = store.page(&q).await.expect("page");
                let got: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
                let (want, matching) = reference(&all, &q);
                assert_eq!(
                    (got, page.matching),
                    (want, matching),
                    "[{e:?}] seed {seed}, query {n}: {q:?}"
                );
                assert_eq!(page.stored, 40, "[{e:?}]");
                assert!(page.unreadable.is_empty());
            }
            store.close().await;
        }
        db
    })
    .await;
}

/// A label search finds what `fold` finds, whether SQL does the search (SQLite, ASCII needles)
/// or Rust does: labels whose lowercase crosses into ASCII (İ, the Kelvin sign), a combining dot
/// that folding drops, accents that still count, and LIKE's wildcards taken literally. Sorted by
/// status, so that no engine's case mapping of these labels decides the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_search_finds_what_fold_finds() {
    each_engine(|db| async move {
        let e = db.engine;
        let store = db.store("").await;
        let labels = [
            "İzmir Shop",
            "izmir outlet",
            "\u{212a}elvin Store",
            "kelvin shop",
            "a\u{307}b Store",
            "ab Store",
            "Zürich",
            "ZÜRICH 2",
            "Zurich",
            "50% off",
            "under_score",
            "plain",
        ];
        for (i, label) in labels.iter().enumerate() {
            // Numbered, since MariaDB's collation would take some of them for one label.
            let mut data = credential(&format!("{label} {i}"), "tok");
            data.active = i % 2 == 0;
            store
                .create(&data, &ownership("gitops", &format!("shop/l{i}")))
                .await
                .expect("create");
        }
        let all = store.list(&ListQuery::default()).await.expect("list");
        for needle in [
            "izmir", "İZMIR", "kelvin", "KELVIN", "ab", "b st", "zür", "ZÜR", "zurich", "%", "_",
            "0% o", "e", "store", "nothing",
        ] {
            for descending in [false, true] {
                for (offset, limit) in [(0, 50), (1, 2)] {
                    let q = PageQuery {
                        search: needle.to_string(),
                        sort: SortColumn::Status,
                        descending,
                        active: None,
                        ready: None,
                        managed: None,
                        offset,
                        limit,
                    };
                    let page = store.page(&q).await.expect("page");
                    let got: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
                    assert_eq!((got, page.matching), reference(&all, &q), "[{e:?}] {q:?}");
                }
            }
        }
        // The search meets the other filters.
        let q = PageQuery {
            search: "shop".into(),
            sort: SortColumn::Status,
            descending: false,
            active: Some(true),
            ready: Some(ConditionStatus::True),
            managed: Some(true),
            offset: 0,
            limit: 50,
        };
        let page = store.page(&q).await.expect("page");
        let got: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
        assert_eq!((got, page.matching), reference(&all, &q), "[{e:?}] {q:?}");
        store.close().await;
        db
    })
    .await;
}
