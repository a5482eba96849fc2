//! The reconciler's and the BigCommerce client's counters as Prometheus families, shared by
//! `watch` and `controller`.

use super::MetricsText;
use crate::model::{ConditionStatus, ConditionType};
use crate::reconcile::{ItemResult, Reconciler};
use crate::verify::BigCommerceClient;

/// The reconciler's and the BigCommerce client's counters, for `watch` and `controller` alike.
pub fn reconciler_metrics(
    out: &mut MetricsText,
    rec: &Reconciler<BigCommerceClient>,
    client: &BigCommerceClient,
) {
    let m = rec.metrics();
    out.family("bccreds_passes_total", "counter", "Reconcile passes run.");
    out.sample("bccreds_passes_total", &[], m.passes as f64);
    out.family(
        "bccreds_pass_failures_total",
        "counter",
        "Passes that could not read or write the store.",
    );
    out.sample("bccreds_pass_failures_total", &[], m.failed_passes as f64);
    out.family(
        "bccreds_pass_duration_seconds",
        "summary",
        "Duration of reconcile passes.",
    );
    out.sample("bccreds_pass_duration_seconds_sum", &[], m.pass_seconds_sum);
    out.sample("bccreds_pass_duration_seconds_count", &[], m.passes as f64);
    out.family(
        "bccreds_last_pass_duration_seconds",
        "gauge",
        "Duration of the last pass.",
    );
    out.sample(
        "bccreds_last_pass_duration_seconds",
        &[],
        m.last_pass_seconds,
    );
    out.family(
        "bccreds_results_total",
        "counter",
        "Per-credential results of passes: created, updated, deleted, orphaned, unchanged, failed.",
    );
    // Orphaned rows (deletion policy Orphan) are released, not deleted: a bucket of their own.
    for result in ItemResult::ALL.map(ItemResult::as_str) {
        let n = m.results.get(result).copied().unwrap_or(0);
        out.sample("bccreds_results_total", &[("result", result)], n as f64);
    }
    out.family(
        "bccreds_bigcommerce_requests_total",
        "counter",
        "BigCommerce API requests by HTTP status (0: no response).",
    );
    for (status, n) in client.request_counts() {
        out.sample(
            "bccreds_bigcommerce_requests_total",
            &[("status", &status.to_string())],
            n as f64,
        );
    }
    out.family(
        "bccreds_managed_credentials",
        "gauge",
        "Credentials by Ready condition.",
    );
    let statuses = rec.statuses();
    for &ready in ConditionStatus::ALL {
        let n = statuses
            .iter()
            .filter(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == ConditionType::Ready && c.status == ready)
            })
            .count();
        out.sample(
            "bccreds_managed_credentials",
            &[("ready", ready.as_str())],
            n as f64,
        );
    }
}
