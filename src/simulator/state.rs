//! The simulator's mutable state: rate-limit windows, fault counters and the request log.
//!
//! Everything here is plain data driven by a millisecond clock passed in, so window accounting
//! and fault matching are tested without sleeping.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::fixture::{Fault, Fixture, StoreFixture};
use super::LoggedRequest;

/// BigCommerce's Standard-plan quota, used in headers for stores the fixture lacks.
pub const DEFAULT_QUOTA: u64 = 150;
/// BigCommerce's window length, used in headers for stores the fixture lacks.
pub const DEFAULT_WINDOW_MS: u64 = 30_000;

/// What the `X-Rate-Limit-*` headers of one response say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateStatus {
    /// `X-Rate-Limit-Time-Window-Ms`.
    pub window_ms: u64,
    /// `X-Rate-Limit-Time-Reset-Ms`: milliseconds until the quota refreshes.
    pub reset_ms: u64,
    /// `X-Rate-Limit-Requests-Quota`.
    pub quota: u64,
    /// `X-Rate-Limit-Requests-Left`, after this request.
    pub left: u64,
}

impl RateStatus {
    /// A window that has not started: the whole quota is left.
    pub fn fresh(quota: u64, window_ms: u64) -> RateStatus {
        RateStatus {
            window_ms,
            reset_ms: window_ms,
            quota,
            left: quota,
        }
    }
}

/// One store's fixed rate-limit window, which starts at the first counted request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateWindow {
    start_ms: Option<u64>,
    used: u64,
}

impl RateWindow {
    /// Forgets a window that has ended by `now_ms`.
    fn roll(&mut self, now_ms: u64, window_ms: u64) {
        if let Some(start) = self.start_ms {
            if now_ms >= start.saturating_add(window_ms) {
                *self = RateWindow::default();
            }
        }
    }

    fn status(&self, now_ms: u64, quota: u64, window_ms: u64) -> RateStatus {
        match self.start_ms {
            None => RateStatus::fresh(quota, window_ms),
            Some(start) => RateStatus {
                window_ms,
                reset_ms: start.saturating_add(window_ms).saturating_sub(now_ms),
                quota,
                left: quota.saturating_sub(self.used),
            },
        }
    }

    /// Counts a request at `now_ms` if the quota allows it: `Ok` with the headers to send, or
    /// `Err` with the headers of a 429 (which is not counted).
    pub fn admit(
        &mut self,
        now_ms: u64,
        quota: u64,
        window_ms: u64,
    ) -> Result<RateStatus, RateStatus> {
        self.roll(now_ms, window_ms);
        if self.start_ms.is_some() && self.used >= quota {
            return Err(RateStatus {
                left: 0,
                ..self.status(now_ms, quota, window_ms)
            });
        }
        if quota == 0 {
            // Nothing can ever be counted; a window never starts.
            return Err(RateStatus {
                left: 0,
                ..RateStatus::fresh(quota, window_ms)
            });
        }
        if self.start_ms.is_none() {
            self.start_ms = Some(now_ms);
        }
        self.used += 1;
        Ok(self.status(now_ms, quota, window_ms))
    }

    /// The headers for a response that is not counted (an injected fault).
    pub fn peek(&mut self, now_ms: u64, quota: u64, window_ms: u64) -> RateStatus {
        self.roll(now_ms, window_ms);
        self.status(now_ms, quota, window_ms)
    }
}

/// A list of faults with how many times each may still apply.
#[derive(Clone, Debug, Default)]
pub struct FaultSet {
    faults: Vec<Fault>,
    left: Vec<Option<u64>>,
}

impl FaultSet {
    /// The faults of a store or token, with their full `times`.
    pub fn new(faults: &[Fault]) -> FaultSet {
        FaultSet {
            faults: faults.to_vec(),
            left: faults.iter().map(|f| f.times).collect(),
        }
    }

    /// The first fault matching `path` that still has uses left, consuming one use.
    pub fn take(&mut self, path: &str) -> Option<Fault> {
        for (fault, left) in self.faults.iter().zip(self.left.iter_mut()) {
            if !fault_matches(fault, path) {
                continue;
            }
            match left {
                Some(0) => continue,
                Some(n) => *n -= 1,
                None => {}
            }
            return Some(fault.clone());
        }
        None
    }
}

/// Whether a fault applies to `path` (after `/stores/{hash}/`); a leading `/` in the fault's
/// path is forgiven because fixtures are hand-written.
pub fn fault_matches(fault: &Fault, path: &str) -> bool {
    match &fault.path {
        None => true,
        Some(prefix) => path.starts_with(prefix.trim_start_matches('/')),
    }
}

/// The log of requests, kept in arrival order even when a delayed request finishes late.
#[derive(Debug, Default)]
pub struct RequestLog {
    next_seq: u64,
    entries: Vec<LoggedRequest>,
}

impl RequestLog {
    /// The sequence number of a request that just arrived.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Adds a finished request in `seq` order.
    pub fn record(&mut self, entry: LoggedRequest) {
        let at = self.entries.partition_point(|e| e.seq < entry.seq);
        self.entries.insert(at, entry);
    }

    /// All finished requests, oldest first.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.clone()
    }

    /// Forgets the finished requests; sequence numbers keep counting so they stay unique.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

struct Inner {
    /// Tokens revoked while running, as when their API account is deleted.
    revoked: std::collections::BTreeSet<String>,
    windows: Vec<RateWindow>,
    store_faults: Vec<FaultSet>,
    token_faults: Vec<FaultSet>,
    log: RequestLog,
}

/// The fixture and the state shared by every connection of one simulator.
pub struct Shared {
    fixture: Fixture,
    /// Store hash to its first index, and token to its indexes: fixtures of 10,000 stores are
    /// served without scanning them on every request.
    store_index: std::collections::HashMap<String, usize>,
    token_index: std::collections::HashMap<String, Vec<usize>>,
    started: Instant,
    inner: Mutex<Inner>,
}

/// A store the fixture knows, found by hash.
#[derive(Clone, Copy)]
pub struct StoreRef<'a> {
    /// Index in `fixture.stores`.
    pub index: usize,
    /// The store.
    pub store: &'a StoreFixture,
}

impl Shared {
    /// State for a fresh simulator serving `fixture`.
    pub fn new(fixture: Fixture) -> Shared {
        let inner = Inner {
            windows: vec![RateWindow::default(); fixture.stores.len()],
            store_faults: fixture
                .stores
                .iter()
                .map(|s| FaultSet::new(&s.faults))
                .collect(),
            token_faults: fixture
                .tokens
                .iter()
                .map(|t| FaultSet::new(&t.faults))
                .collect(),
            log: RequestLog::default(),
            revoked: std::collections::BTreeSet::new(),
        };
        let mut store_index = std::collections::HashMap::new();
        for (i, s) in fixture.stores.iter().enumerate() {
            store_index.entry(s.hash.clone()).or_insert(i);
        }
        let mut token_index: std::collections::HashMap<String, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, t) in fixture.tokens.iter().enumerate() {
            token_index.entry(t.token.clone()).or_default().push(i);
        }
        Shared {
            store_index,
            token_index,
            fixture,
            started: Instant::now(),
            inner: Mutex::new(inner),
        }
    }

    /// The fixture being served.
    pub fn fixture(&self) -> &Fixture {
        &self.fixture
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock, and the state stays consistent if it did.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since the simulator started.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The first store with this hash.
    pub fn store(&self, hash: &str) -> Option<StoreRef<'_>> {
        let index = *self.store_index.get(hash)?;
        Some(StoreRef {
            index,
            store: &self.fixture.stores[index],
        })
    }

    /// Revokes `token`: from now on it gets 401, as after its API account is deleted.
    pub fn revoke(&self, token: &str) {
        self.lock().revoked.insert(token.to_string());
    }

    /// Index of the token, if it is a live token of store `hash`.
    pub fn token_index(&self, token: &str, hash: &str) -> Option<usize> {
        if self.lock().revoked.contains(token) {
            return None;
        }
        self.token_index
            .get(token)?
            .iter()
            .copied()
            .find(|&i| self.fixture.tokens[i].store == hash)
    }

    /// The scopes of the token at `index`.
    pub fn scopes(&self, index: usize) -> &[String] {
        self.fixture
            .tokens
            .get(index)
            .map_or(&[][..], |t| t.scopes.as_slice())
    }

    /// The fault to apply: the store's faults first, then the token's.
    pub fn take_fault(
        &self,
        store: StoreRef<'_>,
        token: Option<usize>,
        path: &str,
    ) -> Option<Fault> {
        let mut inner = self.lock();
        if let Some(fault) = inner
            .store_faults
            .get_mut(store.index)
            .and_then(|f| f.take(path))
        {
            return Some(fault);
        }
        token
            .and_then(|t| inner.token_faults.get_mut(t))
            .and_then(|f| f.take(path))
    }

    /// Counts a request against the store's window (see [`RateWindow::admit`]).
    pub fn admit(&self, store: StoreRef<'_>) -> Result<RateStatus, RateStatus> {
        let now = self.now_ms();
        let (quota, window) = (store.store.quota, store.store.window_ms);
        let mut inner = self.lock();
        match inner.windows.get_mut(store.index) {
            Some(w) => w.admit(now, quota, window),
            None => Ok(RateStatus::fresh(quota, window)),
        }
    }

    /// The store's rate-limit headers without counting a request.
    pub fn peek(&self, store: StoreRef<'_>) -> RateStatus {
        let now = self.now_ms();
        let (quota, window) = (store.store.quota, store.store.window_ms);
        let mut inner = self.lock();
        match inner.windows.get_mut(store.index) {
            Some(w) => w.peek(now, quota, window),
            None => RateStatus::fresh(quota, window),
        }
    }

    /// The sequence number and arrival time of a request that just arrived; taken together so
    /// that a later `seq` never has an earlier `at_ms`.
    pub fn arrive(&self) -> (u64, u64) {
        let mut inner = self.lock();
        let seq = inner.log.next_seq();
        (seq, self.now_ms())
    }

    /// See [`RequestLog::record`].
    pub fn record(&self, entry: LoggedRequest) {
        self.lock().log.record(entry);
    }

    /// See [`RequestLog::entries`].
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.entries()
    }

    /// See [`RequestLog::clear`].
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_down_and_refuses_past_the_quota() {
        let mut w = RateWindow::default();
        let first = w.admit(1_000, 2, 500).expect("first");
        assert_eq!(
            first,
            RateStatus {
                window_ms: 500,
                reset_ms: 500,
                quota: 2,
                left: 1
            }
        );
        let second = w.admit(1_100, 2, 500).expect("second");
        assert_eq!((second.left, second.reset_ms), (0, 400));
        let refused = w.admit(1_200, 2, 500).expect_err("third is limited");
        assert_eq!((refused.left, refused.reset_ms), (0, 300));
        // A 429 is not counted: the window still ends at 1500.
        let refused = w.admit(1_499, 2, 500).expect_err("still limited");
        assert_eq!(refused.reset_ms, 1);
    }

    #[test]
    fn a_new_window_starts_at_the_first_request_after_the_old_one_ends() {
        let mut w = RateWindow::default();
        w.admit(0, 1, 100).expect("first");
        w.admit(50, 1, 100).expect_err("limited");
        let next = w.admit(100, 1, 100).expect("window ended at 100");
        assert_eq!((next.left, next.reset_ms), (0, 100));
        // Idle for long: the window starts again at the next request, not at a multiple of 100.
        let later = w.admit(1_234, 1, 100).expect("fresh window");
        assert_eq!(later.reset_ms, 100);
    }

    #[test]
    fn peek_does_not_count() {
        let mut w = RateWindow::default();
        assert_eq!(w.peek(10, 3, 1_000), RateStatus::fresh(3, 1_000));
        w.admit(10, 3, 1_000).expect("counted");
        let seen = w.peek(110, 3, 1_000);
        assert_eq!((seen.left, seen.reset_ms), (2, 900));
        assert_eq!(w.peek(2_000, 3, 1_000), RateStatus::fresh(3, 1_000));
    }

    #[test]
    fn a_zero_quota_limits_everything() {
        let mut w = RateWindow::default();
        assert_eq!(w.admit(0, 0, 100).expect_err("limited").left, 0);
    }

    fn fault(path: Option<&str>, times: Option<u64>, status: u16) -> Fault {
        Fault {
            path: path.map(str::to_string),
            times,
            status: Some(status),
            ..Fault::default()
        }
    }

    #[test]
    fn faults_match_by_path_prefix() {
        assert!(fault_matches(&fault(None, None, 500), "v2/time"));
        assert!(fault_matches(&fault(Some("v2/"), None, 500), "v2/time"));
        assert!(fault_matches(
            &fault(Some("/v2/store"), None, 500),
            "v2/store"
        ));
        assert!(!fault_matches(&fault(Some("v3/"), None, 500), "v2/store"));
        assert!(!fault_matches(&fault(Some("v2/store"), None, 500), "v2/"));
    }

    #[test]
    fn the_first_matching_fault_with_uses_left_applies_and_is_consumed() {
        let mut set = FaultSet::new(&[
            fault(Some("v2/store"), Some(1), 503),
            fault(None, Some(2), 500),
            fault(Some("v3/"), None, 502),
        ]);
        let status = |f: Option<Fault>| f.and_then(|f| f.status);
        assert_eq!(status(set.take("v2/store")), Some(503));
        assert_eq!(status(set.take("v2/store")), Some(500));
        assert_eq!(status(set.take("v3/channels")), Some(500));
        assert_eq!(status(set.take("v3/channels")), Some(502));
        assert_eq!(status(set.take("v3/channels")), Some(502));
        assert_eq!(status(set.take("v2/store")), None);
    }

    #[test]
    fn zero_times_never_applies() {
        let mut set = FaultSet::new(&[fault(None, Some(0), 500)]);
        assert!(set.take("v2/time").is_none());
    }

    fn logged(seq: u64) -> LoggedRequest {
        LoggedRequest {
            seq,
            at_ms: seq,
            method: "GET".into(),
            store: "s".into(),
            path: "v2/time".into(),
            status: 200,
        }
    }

    #[test]
    fn the_log_stays_in_arrival_order() {
        let mut log = RequestLog::default();
        let (a, b, c) = (log.next_seq(), log.next_seq(), log.next_seq());
        assert_eq!((a, b, c), (1, 2, 3));
        log.record(logged(b));
        log.record(logged(c));
        log.record(logged(a));
        let seqs: Vec<u64> = log.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        log.clear();
        assert!(log.entries().is_empty());
        assert_eq!(log.next_seq(), 4);
    }
}
