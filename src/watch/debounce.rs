//! The debouncer: a pure state machine from raw event times to "a rescan is due now".

use std::time::Duration;

use tokio::time::Instant;

/// A burst that lasts longer than this many debounce windows fires anyway, so that a file
/// rewritten forever cannot starve the reconciler.
const MAX_WAIT_WINDOWS: u32 = 10;

/// What a burst has seen, ordered by how much it tells the reconciler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BurstKind {
    Changed,
    Overflow,
}

/// Why a rescan is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// A burst of events went quiet (or lasted too long).
    Burst {
        kind: BurstKind,
        /// Directories appeared, vanished or were swapped: the watches must be re-established.
        structural: bool,
    },
    /// The resync interval passed without any burst.
    Resync,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    first: Instant,
    last: Instant,
    kind: BurstKind,
    structural: bool,
}

/// Debounces relevant events and keeps the resync timer.
#[derive(Debug)]
pub(crate) struct Debouncer {
    debounce: Duration,
    resync: Option<Duration>,
    pending: Option<Pending>,
    next_resync: Option<Instant>,
}

impl Debouncer {
    /// A debouncer with nothing pending; `resync` of zero turns the periodic resync off.
    pub(crate) fn new(debounce: Duration, resync: Duration, now: Instant) -> Self {
        let resync = (!resync.is_zero()).then_some(resync);
        Debouncer {
            debounce,
            resync,
            pending: None,
            next_resync: resync.and_then(|r| now.checked_add(r)),
        }
    }

    /// Records one relevant event seen at `now`.
    pub(crate) fn event(&mut self, now: Instant, kind: BurstKind, structural: bool) {
        match &mut self.pending {
            Some(p) => {
                p.last = now.max(p.last);
                p.kind = p.kind.max(kind);
                p.structural |= structural;
            }
            None => {
                self.pending = Some(Pending {
                    first: now,
                    last: now,
                    kind,
                    structural,
                })
            }
        }
    }

    /// When [`Debouncer::due`] will next say something, or None when only an event can change that.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.pending {
            Some(p) => Some(self.burst_deadline(p)),
            None => self.next_resync,
        }
    }

    /// What is due at `now`, without consuming it (see [`Debouncer::fired`]).
    pub(crate) fn due(&self, now: Instant) -> Option<Due> {
        match &self.pending {
            Some(p) if now >= self.burst_deadline(p) => Some(Due::Burst {
                kind: p.kind,
                structural: p.structural,
            }),
            Some(_) => None,
            None => match self.next_resync {
                Some(at) if now >= at => Some(Due::Resync),
                _ => None,
            },
        }
    }

    /// Marks the due rescan as signalled: the burst is over and the resync timer starts again,
    /// since the rescan that follows is a full one.
    pub(crate) fn fired(&mut self, now: Instant) {
        self.pending = None;
        self.next_resync = self.resync.and_then(|r| now.checked_add(r));
    }

    fn burst_deadline(&self, p: &Pending) -> Instant {
        let quiet = p.last.checked_add(self.debounce);
        let cap = self
            .debounce
            .checked_mul(MAX_WAIT_WINDOWS)
            .and_then(|w| p.first.checked_add(w));
        match (quiet, cap) {
            (Some(q), Some(c)) => q.min(c),
            (Some(q), None) => q,
            (None, Some(c)) => c,
            // Only for absurd debounce values: then fire at once rather than never.
            (None, None) => p.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn debouncer(now: Instant) -> Debouncer {
        Debouncer::new(100 * MS, 1000 * MS, now)
    }

    #[test]
    fn nothing_is_due_before_the_quiet_time() {
        let t0 = Instant::now();
        let mut d = debouncer(t0);
        d.event(t0, BurstKind::Changed, false);
        assert_eq!(d.deadline(), Some(t0 + 100 * MS));
        assert_eq!(d.due(t0 + 99 * MS), None);
        assert_eq!(
            d.due(t0 + 100 * MS),
            Some(Due::Burst {
                kind: BurstKind::Changed,
                structural: false
            })
        );
    }

    #[test]
    fn every_event_restarts_the_quiet_time_and_a_burst_fires_once() {
        let t0 = Instant::now();
        let mut d = debouncer(t0);
        for i in 0..5 {
            d.event(t0 + i * 50 * MS, BurstKind::Changed, false);
        }
        assert_eq!(d.due(t0 + 250 * MS), None);
        assert!(d.due(t0 + 300 * MS).is_some());
        d.fired(t0 + 300 * MS);
        assert_eq!(d.due(t0 + 350 * MS), None);
        assert_eq!(
            d.deadline(),
            Some(t0 + 1300 * MS),
            "only the resync is left"
        );
    }

    #[test]
    fn a_burst_keeps_its_strongest_kind_and_structural_flag() {
        let t0 = Instant::now();
        let mut d = debouncer(t0);
        d.event(t0, BurstKind::Overflow, false);
        d.event(t0 + MS, BurstKind::Changed, true);
        d.event(t0 + 2 * MS, BurstKind::Changed, false);
        assert_eq!(
            d.due(t0 + 200 * MS),
            Some(Due::Burst {
                kind: BurstKind::Overflow,
                structural: true
            })
        );
    }

    #[test]
    fn an_endless_burst_fires_after_ten_windows() {
        let t0 = Instant::now();
        let mut d = debouncer(t0);
        for i in 0..=20 {
            d.event(t0 + i * 60 * MS, BurstKind::Changed, false);
        }
        assert_eq!(d.deadline(), Some(t0 + 1000 * MS));
        assert!(d.due(t0 + 1000 * MS).is_some());
    }

    #[test]
    fn resync_is_due_when_idle_and_restarts_after_any_rescan() {
        let t0 = Instant::now();
        let mut d = debouncer(t0);
        assert_eq!(d.due(t0 + 999 * MS), None);
        assert_eq!(d.due(t0 + 1000 * MS), Some(Due::Resync));
        d.fired(t0 + 1000 * MS);
        assert_eq!(d.deadline(), Some(t0 + 2000 * MS));

        d.event(t0 + 1500 * MS, BurstKind::Changed, false);
        assert_eq!(d.deadline(), Some(t0 + 1600 * MS));
        d.fired(t0 + 1600 * MS);
        assert_eq!(d.due(t0 + 2000 * MS), None, "the burst's rescan counts");
        assert_eq!(d.deadline(), Some(t0 + 2600 * MS));
    }

    #[test]
    fn a_pending_burst_wins_over_an_expired_resync() {
        let t0 = Instant::now();
        let mut d = debouncer(t0);
        d.event(t0 + 950 * MS, BurstKind::Changed, false);
        assert_eq!(d.due(t0 + 1000 * MS), None, "wait for the burst to settle");
        assert!(matches!(d.due(t0 + 1050 * MS), Some(Due::Burst { .. })));
    }

    #[test]
    fn zero_resync_means_never_and_zero_debounce_means_at_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Duration::ZERO, Duration::ZERO, t0);
        assert_eq!(d.deadline(), None);
        assert_eq!(d.due(t0 + Duration::from_secs(86_400)), None);
        d.event(t0, BurstKind::Changed, false);
        assert!(d.due(t0).is_some());
    }

    #[test]
    fn huge_intervals_do_not_overflow() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Duration::MAX, Duration::MAX, t0);
        assert_eq!(d.deadline(), None);
        d.event(t0, BurstKind::Changed, false);
        assert_eq!(d.deadline(), Some(t0));
    }
}
