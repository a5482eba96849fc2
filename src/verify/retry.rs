//! How long to wait before retrying: bounded exponential backoff with jitter, and 429 waits.

use std::time::Duration;

/// Bounds on retries and waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a 5xx, a timeout or a broken connection (attempts = retries + 1).
    pub max_retries: u32,
    /// Retries after a 429.
    pub max_rate_limit_retries: u32,
    /// First backoff; doubled on each retry.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// Longest wait for a rate-limit window to reset, whatever the header says.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            max_rate_limit_retries: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (0-based); `jitter` in [0, 1) spreads it over
    /// the upper half so that many clients failing together do not retry together.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_delay);
        exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// Wait after a 429: the reset the server announced (capped), plus a growing backoff when
    /// 429s repeat; without the header (platform load), the plain backoff.
    pub fn rate_limit_wait(&self, reset: Option<Duration>, retry: u32, jitter: f64) -> Duration {
        match reset {
            Some(reset) => {
                let extra = if retry == 0 {
                    Duration::ZERO
                } else {
                    self.backoff(retry - 1, jitter)
                };
                reset.min(self.max_rate_limit_wait) + extra
            }
            None => self.backoff(retry, jitter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(0, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(200));
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(600));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(5));
    }

    #[test]
    fn rate_limit_waits_for_the_reset_capped_and_growing() {
        let p = RetryPolicy::default();
        let reset = Some(Duration::from_millis(300));
        assert_eq!(p.rate_limit_wait(reset, 0, 0.0), Duration::from_millis(300));
        assert_eq!(p.rate_limit_wait(reset, 1, 0.0), Duration::from_millis(400));
        assert_eq!(
            p.rate_limit_wait(Some(Duration::from_secs(3600)), 0, 0.0),
            Duration::from_secs(30)
        );
        assert_eq!(p.rate_limit_wait(None, 0, 0.0), Duration::from_millis(100));
    }
}
