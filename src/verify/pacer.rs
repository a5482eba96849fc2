//! Per-store pacing, so that many verifications of one store never trip its shared quota.
//!
//! All apps on a store share one quota, and a 429 costs a whole reset window, so requests are
//! held back from what the last response's `X-Rate-Limit-*` headers allow. Estimates are
//! conservative: every request still in flight is assumed to count against the window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The rate-limit headers of one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-Rate-Limit-Requests-Left`.
    pub left: u64,
    /// `X-Rate-Limit-Requests-Quota`.
    pub quota: u64,
    /// `X-Rate-Limit-Time-Reset-Ms`.
    pub reset: Duration,
    /// `X-Rate-Limit-Time-Window-Ms`.
    pub window: Duration,
}

#[derive(Debug)]
struct State {
    /// Whether any response has told us the quota yet.
    known: bool,
    /// One request is out to learn the quota; the rest wait for it.
    probing: bool,
    left: i64,
    quota: i64,
    window: Duration,
    reset_at: Instant,
    in_flight: i64,
}

#[derive(Debug)]
struct StorePace {
    state: Mutex<State>,
    changed: Notify,
}

/// Pacing state for every store hash seen.
#[derive(Debug, Default)]
pub struct Pacer {
    stores: Mutex<HashMap<String, Arc<StorePace>>>,
}

/// Below this share of the quota left, requests are spread over the rest of the window.
const SLOW_DOWN_BELOW: i64 = 10;

enum Step {
    Go(Duration),
    Wait(Duration),
    WaitForProbe,
}

impl Pacer {
    fn store(&self, hash: &str) -> Arc<StorePace> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores
            .entry(hash.to_string())
            .or_insert_with(|| {
                Arc::new(StorePace {
                    state: Mutex::new(State {
                        known: false,
                        probing: false,
                        left: 0,
                        quota: 0,
                        window: Duration::ZERO,
                        reset_at: Instant::now(),
                        in_flight: 0,
                    }),
                    changed: Notify::new(),
                })
            })
            .clone()
    }

    /// Waits until a request to `hash` may go out, and counts it as in flight.
    pub async fn acquire(&self, hash: &str) {
        let pace = self.store(hash);
        loop {
            let notified = pace.changed.notified();
            let step = {
                let mut st = pace.state.lock().unwrap_or_else(|p| p.into_inner());
                next_step(&mut st, Instant::now())
            };
            match step {
                Step::Go(delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    return;
                }
                Step::Wait(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = notified => {}
                    }
                }
                // The probe may fail without headers; then another request probes.
                Step::WaitForProbe => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Records a response's rate-limit headers and ends its in-flight count.
    pub fn report(&self, hash: &str, limit: RateLimit) {
        let pace = self.store(hash);
        {
            let mut st = pace.state.lock().unwrap_or_else(|p| p.into_inner());
            st.in_flight = (st.in_flight - 1).max(0);
            st.probing = false;
            let now = Instant::now();
            let reset_at = now + limit.reset;
            let server_left = limit.left as i64 - st.in_flight;
            // A reset far later than the one we knew means the server opened a new window.
            let new_window = !st.known || reset_at > st.reset_at + limit.window / 2;
            st.left = if new_window {
                server_left
            } else {
                st.left.min(server_left)
            };
            if new_window || reset_at > st.reset_at {
                st.reset_at = reset_at;
            }
            st.quota = limit.quota as i64;
            st.window = limit.window;
            st.known = true;
        }
        pace.changed.notify_waiters();
    }

    /// Ends a request's in-flight count when its response carried no rate-limit headers.
    pub fn release(&self, hash: &str) {
        let pace = self.store(hash);
        {
            let mut st = pace.state.lock().unwrap_or_else(|p| p.into_inner());
            st.in_flight = (st.in_flight - 1).max(0);
            st.probing = false;
        }
        pace.changed.notify_waiters();
    }
}

fn next_step(st: &mut State, now: Instant) -> Step {
    if !st.known {
        if st.probing {
            return Step::WaitForProbe;
        }
        st.probing = true;
        st.in_flight += 1;
        return Step::Go(Duration::ZERO);
    }
    if now >= st.reset_at {
        // The server's window has ended; ours restarts with whatever is still in flight.
        st.left = st.quota - st.in_flight;
        st.reset_at = now + st.window;
    }
    if st.left > 0 {
        st.left -= 1;
        st.in_flight += 1;
        let delay = if st.left * SLOW_DOWN_BELOW < st.quota {
            (st.reset_at - now) / (st.left as u32 + 1)
        } else {
            Duration::ZERO
        };
        return Step::Go(delay);
    }
    // A little past the reset, since our clock and the server's differ by the network delay.
    Step::Wait(st.reset_at.saturating_duration_since(now) + Duration::from_millis(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(left: u64, reset_ms: u64) -> RateLimit {
        RateLimit {
            left,
            quota: 20,
            reset: Duration::from_millis(reset_ms),
            window: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_one_request_probes_an_unknown_store() {
        let pacer = Arc::new(Pacer::default());
        pacer.acquire("s").await;
        let second = {
            let pacer = pacer.clone();
            tokio::spawn(async move { pacer.acquire("s").await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !second.is_finished(),
            "second request must wait for the probe"
        );
        pacer.report("s", limit(19, 1000));
        second.await.expect("second proceeds");
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_window_waits_for_its_reset() {
        let pacer = Pacer::default();
        pacer.acquire("s").await;
        pacer.report("s", limit(0, 500));
        let start = Instant::now();
        pacer.acquire("s").await;
        assert!(start.elapsed() >= Duration::from_millis(500));
    }

    #[test]
    fn in_flight_requests_count_against_the_window() {
        let now = Instant::now();
        let mut st = State {
            known: true,
            probing: false,
            left: 3,
            quota: 20,
            window: Duration::from_secs(1),
            reset_at: now + Duration::from_secs(1),
            in_flight: 0,
        };
        let mut sent = 0;
        while let Step::Go(_) = next_step(&mut st, now) {
            sent += 1;
        }
        assert_eq!(sent, 3);
        assert_eq!(st.in_flight, 3);
    }

    #[test]
    fn requests_spread_out_when_few_are_left() {
        let now = Instant::now();
        let mut st = State {
            known: true,
            probing: false,
            left: 2,
            quota: 100,
            window: Duration::from_secs(1),
            reset_at: now + Duration::from_millis(900),
            in_flight: 0,
        };
        match next_step(&mut st, now) {
            Step::Go(delay) => assert_eq!(delay, Duration::from_millis(450)),
            _ => panic!("should go"),
        }
    }
}
