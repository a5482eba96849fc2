//! What `/readyz` knows about the Kubernetes API: every call the client makes is observed
//! (a layer on its service stack), and every watch stream says when its initial list is done.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kube::runtime::watcher;

/// The Kubernetes API as this process last saw it.
#[derive(Debug, Default)]
pub struct ApiHealth {
    /// Why the last call failed; `None` after a success.
    last_failure: Mutex<Option<String>>,
    /// Whether any call has answered yet.
    answered: AtomicBool,
    lists_expected: AtomicUsize,
    lists_done: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data: usable after a panic elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ApiHealth {
    /// Records the outcome of one call: 2xx, 404 and 409 are the API working as it should;
    /// 401, 403, 429, 5xx and transport errors are failures.
    pub fn observe(&self, outcome: Result<u16, String>) {
        let failure = match outcome {
            Ok(401) => Some("the Kubernetes API refused the credentials (401)".to_string()),
            Ok(403) => Some("the Kubernetes API forbids a call (403): check the RBAC".to_string()),
            Ok(429) => Some("the Kubernetes API is throttling (429)".to_string()),
            Ok(code) if code >= 500 => Some(format!("the Kubernetes API failed ({code})")),
            Ok(_) => None,
            Err(e) => Some(format!("cannot reach the Kubernetes API: {e}")),
        };
        if failure.is_none() {
            self.answered.store(true, Ordering::SeqCst);
        }
        *lock(&self.last_failure) = failure;
    }

    /// A watch stream starts; readiness waits for its first complete list.
    pub fn expect_list(self: &Arc<Self>) -> ListTracker {
        self.lists_expected.fetch_add(1, Ordering::SeqCst);
        ListTracker {
            health: self.clone(),
            done: false,
        }
    }

    /// Ready when the last call succeeded and, if `need_lists`, every watch has listed once.
    pub fn ready(&self, need_lists: bool) -> Result<(), String> {
        if let Some(why) = lock(&self.last_failure).clone() {
            return Err(why);
        }
        if !self.answered.load(Ordering::SeqCst) {
            return Err("the Kubernetes API has not answered yet".into());
        }
        let (done, expected) = (
            self.lists_done.load(Ordering::SeqCst),
            self.lists_expected.load(Ordering::SeqCst),
        );
        if need_lists && (expected == 0 || done < expected) {
            return Err(format!("initial lists: {done} of {expected} done"));
        }
        Ok(())
    }
}

/// Marks one watch stream's first complete list.
pub struct ListTracker {
    health: Arc<ApiHealth>,
    done: bool,
}

impl ListTracker {
    /// Looks at one item of the watch stream.
    pub fn see<K>(&mut self, item: &Result<watcher::Event<K>, watcher::Error>) {
        if !self.done && matches!(item, Ok(watcher::Event::InitDone)) {
            self.done = true;
            self.health.lists_done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A kube client whose every call is observed by `health`.
pub fn observed_client(
    config: kube::Config,
    health: Arc<ApiHealth>,
) -> Result<kube::Client, kube::Error> {
    let layer = tower::util::MapResultLayer::new(
        move |result: Result<http::Response<_>, tower::BoxError>| {
            health.observe(match &result {
                Ok(response) => Ok(response.status().as_u16()),
                Err(e) => Err(e.to_string()),
            });
            result
        },
    );
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&layer)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_an_answer_the_lists_and_a_good_last_call() {
        let h = Arc::new(ApiHealth::default());
        assert!(h.ready(false).is_err(), "nothing answered yet");
        h.observe(Ok(200));
        assert_eq!(h.ready(false), Ok(()));
        assert!(h.ready(true).is_err(), "no list started");
        let mut a = h.expect_list();
        let mut b = h.expect_list();
        a.see::<()>(&Ok(watcher::Event::InitDone));
        a.see::<()>(&Ok(watcher::Event::InitDone));
        assert_eq!(h.ready(true), Err("initial lists: 1 of 2 done".into()));
        b.see::<()>(&Ok(watcher::Event::Init));
        b.see::<()>(&Ok(watcher::Event::InitDone));
        assert_eq!(h.ready(true), Ok(()));
        h.observe(Ok(403));
        assert!(h.ready(true).unwrap_err().contains("403"));
        h.observe(Err("connection refused".into()));
        assert!(h.ready(false).unwrap_err().contains("connection refused"));
        h.observe(Ok(404));
        assert_eq!(h.ready(true), Ok(()), "404 is an answer");
        h.observe(Ok(503));
        assert!(h.ready(true).is_err());
    }
}
