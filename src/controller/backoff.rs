//! Per-object backoff for credentials that are not Ready: the outcome of a failed pass is kept
//! with the digest of what was reconciled, and the same content is not tried again (no
//! BigCommerce call) before its backoff step is over. New content is tried at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::reconcile::{EntryDigest, SourceKey};

/// The first delay after a failure; each further failure of the same content doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
struct Failing {
    digest: EntryDigest,
    failures: u32,
    not_before: Instant,
}

/// Failing objects, keyed by object, with the content that failed and when to try it again.
#[derive(Debug)]
pub struct Backoff {
    max: Duration,
    failing: HashMap<SourceKey, Failing>,
}

impl Backoff {
    /// Delays double from [`FIRST_DELAY`] up to `max`.
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            max: max.max(FIRST_DELAY),
            failing: HashMap::new(),
        }
    }

    /// How long `key` must still wait before `digest` is tried again; `None` when it may run now
    /// (never failed, the content changed, or its step is over).
    pub fn wait(&self, key: &SourceKey, digest: EntryDigest, now: Instant) -> Option<Duration> {
        let f = self.failing.get(key)?;
        (f.digest == digest && now < f.not_before).then(|| f.not_before - now)
    }

    /// Records a failed attempt of `digest` and returns the delay before the next one: doubled
    /// for the same content, the first step for new content, capped, with ±10 % jitter so that
    /// credentials failing together do not retry together.
    pub fn failed(&mut self, key: &SourceKey, digest: EntryDigest, now: Instant) -> Duration {
        let failures = match self.failing.get(key) {
            Some(f) if f.digest == digest => f.failures.saturating_add(1),
            _ => 1,
        };
        let step = FIRST_DELAY
            .saturating_mul(1u32 << (failures - 1).min(20))
            .min(self.max);
        let delay = step.mul_f64(0.9 + 0.2 * fastrand::f64());
        self.failing.insert(
            key.clone(),
            Failing {
                digest,
                failures,
                not_before: now + delay,
            },
        );
        delay
    }

    /// The object is healthy (or gone): its next failure starts from the first step.
    pub fn forget(&mut self, key: &SourceKey) {
        self.failing.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> SourceKey {
        SourceKey {
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn within(d: Duration, step: u64) -> bool {
        let s = Duration::from_secs(step);
        d >= s.mul_f64(0.9) && d <= s.mul_f64(1.1)
    }

    #[test]
    fn the_same_content_waits_out_a_doubling_step_and_new_content_does_not_wait() {
        let mut b = Backoff::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let a = key("a");
        assert_eq!(b.wait(&a, EntryDigest::made_up(1), t0), None);
        let d1 = b.failed(&a, EntryDigest::made_up(1), t0);
        assert!(within(d1, 2), "{d1:?}");
        assert!(b
            .wait(&a, EntryDigest::made_up(1), t0 + Duration::from_secs(1))
            .is_some());
        assert_eq!(
            b.wait(&a, EntryDigest::made_up(2), t0),
            None,
            "changed content runs at once"
        );
        assert_eq!(
            b.wait(&key("b"), EntryDigest::made_up(1), t0),
            None,
            "other objects are not held"
        );
        let t1 = t0 + d1;
        assert_eq!(b.wait(&a, EntryDigest::made_up(1), t1), None);
        let d2 = b.failed(&a, EntryDigest::made_up(1), t1);
        assert!(within(d2, 4), "{d2:?}");
        let d3 = b.failed(&a, EntryDigest::made_up(1), t1 + d2);
        assert!(within(d3, 8), "{d3:?}");
        // New content starts again from the first step.
        assert!(within(b.failed(&a, EntryDigest::made_up(2), t1), 2));
        b.forget(&a);
        assert_eq!(b.wait(&a, EntryDigest::made_up(2), t1), None);
    }

    #[test]
    fn delays_are_capped_and_sixty_seconds_of_failures_cost_few_attempts() {
        let mut b = Backoff::new(Duration::from_secs(300));
        let a = key("a");
        let start = Instant::now();
        let mut now = start;
        let mut attempts = 0;
        while now < start + Duration::from_secs(60) {
            attempts += 1;
            now += b.failed(&a, EntryDigest::made_up(7), now);
        }
        assert!((5..=6).contains(&attempts), "{attempts} attempts in 60 s");
        for _ in 0..40 {
            let d = b.failed(&a, EntryDigest::made_up(7), now);
            assert!(d <= Duration::from_secs(330), "{d:?}");
        }
        let mut small = Backoff::new(Duration::from_secs(1));
        assert!(
            within(small.failed(&a, EntryDigest::made_up(1), now), 2),
            "the cap is never below the first step"
        );
    }
}
