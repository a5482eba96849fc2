//! Turning the simulator's decisions into HTTP responses: v3 error bodies, rate-limit headers and
//! the broken response of a dropped connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::state::RateStatus;

/// The title of BigCommerce's 403, for a missing scope and for a wrong store hash.
pub const SCOPE_TITLE: &str = "You don't have a required scope to access the endpoint";

/// A v3 (and gateway) error body; a struct rather than `json!` so the keys keep BigCommerce's
/// order, `status`, `title`, `type`, `errors`, for clients that compare text.
#[derive(Debug, Serialize)]
pub struct V3Error {
    status: u16,
    title: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    errors: Map<String, Value>,
}

/// The v3 error body for `status`, with the gateway's titles.
pub fn v3_error(status: StatusCode) -> V3Error {
    let title = match status.as_u16() {
        401 => "Unauthorized",
        403 => SCOPE_TITLE,
        404 => "Not found",
        429 => "Too many requests",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    V3Error {
        status: status.as_u16(),
        title,
        kind: "/api-docs/getting-started/api-status-codes",
        errors: Map::new(),
    }
}

/// `value` as JSON bytes.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Only JSON values and plain structs with string keys are serialized here, which cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// A status from a fixture as a `StatusCode`; anything that is not a final status is a 500, so a
/// typo cannot make the server send an informational response.
pub fn status_code(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(s) if (200..=599).contains(&status) => s,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the simulator answers to one store request.
#[derive(Debug)]
pub enum Reply {
    /// A complete response.
    Send {
        /// The status.
        status: StatusCode,
        /// The JSON body, serialized; none for 204.
        body: Option<Vec<u8>>,
        /// Rate-limit headers.
        rate: RateStatus,
        /// `X-Retry-After` in seconds, sent with 429.
        retry_after_s: Option<u64>,
    },
    /// The connection breaks before a complete response.
    Drop,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: StatusCode, body: &impl Serialize, rate: RateStatus) -> Reply {
        Reply::Send {
            status,
            body: Some(to_json(body)),
            rate,
            retry_after_s: None,
        }
    }

    /// A 200 JSON response.
    pub fn ok(body: Value, rate: RateStatus) -> Reply {
        Reply::json(StatusCode::OK, &body, rate)
    }

    /// 204 with no body.
    pub fn no_content(rate: RateStatus) -> Reply {
        Reply::Send {
            status: StatusCode::NO_CONTENT,
            body: None,
            rate,
            retry_after_s: None,
        }
    }

    /// An error with the v3 body; 429 gets its headers as [`Reply::limited`] does.
    pub fn error(status: StatusCode, rate: RateStatus) -> Reply {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Reply::limited(rate);
        }
        Reply::json(status, &v3_error(status), rate)
    }

    /// 429: no requests left, and `X-Retry-After` rounded up from the reset time.
    pub fn limited(rate: RateStatus) -> Reply {
        let status = StatusCode::TOO_MANY_REQUESTS;
        Reply::Send {
            status,
            body: Some(to_json(&v3_error(status))),
            rate: RateStatus { left: 0, ..rate },
            retry_after_s: Some(rate.reset_ms.div_ceil(1000)),
        }
    }

    /// The status for the request log: 0 for a dropped connection.
    pub fn logged_status(&self) -> u16 {
        match self {
            Reply::Send { status, .. } => status.as_u16(),
            Reply::Drop => 0,
        }
    }
}

fn number(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let (status, body, rate, retry_after_s) = match self {
            Reply::Send {
                status,
                body,
                rate,
                retry_after_s,
            } => (status, body, rate, retry_after_s),
            Reply::Drop => return broken_response(),
        };
        let mut response = match body {
            Some(bytes) => (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response(),
            None => status.into_response(),
        };
        let headers = response.headers_mut();
        headers.insert("x-rate-limit-time-window-ms", number(rate.window_ms));
        headers.insert("x-rate-limit-time-reset-ms", number(rate.reset_ms));
        headers.insert("x-rate-limit-requests-quota", number(rate.quota));
        headers.insert("x-rate-limit-requests-left", number(rate.left));
        if let Some(seconds) = retry_after_s {
            headers.insert("x-retry-after", number(seconds));
        }
        response
    }
}

/// A 404 for paths outside `/stores/` and `/__admin/`.
pub fn outside_not_found() -> Response {
    let status = StatusCode::NOT_FOUND;
    (status, axum::Json(v3_error(status))).into_response()
}

/// A body that fails on its first poll, which makes hyper abort the connection.
struct BrokenBody;

impl HttpBody for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        ))))
    }
}

/// A response that never completes: it promises more bytes than its body, which fails at once.
///
/// hyper then closes the connection, usually before the head is flushed, so the client sees a
/// connection closed mid-message rather than any HTTP status.
fn broken_response() -> Response {
    let mut response = Response::new(Body::new(BrokenBody));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("1024"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_the_gateway_titles_in_order() {
        let text = |status| String::from_utf8(to_json(&v3_error(status))).expect("utf-8");
        assert_eq!(
            text(StatusCode::FORBIDDEN),
            r#"{"status":403,"title":"You don't have a required scope to access the endpoint","type":"/api-docs/getting-started/api-status-codes","errors":{}}"#
        );
        assert!(text(StatusCode::NOT_FOUND).contains(r#""title":"Not found""#));
        assert!(text(StatusCode::SERVICE_UNAVAILABLE).contains(r#""title":"Service Unavailable""#));
    }

    #[test]
    fn retry_after_rounds_up() {
        let rate = RateStatus::fresh(10, 30_000);
        let with_reset = |reset_ms| match Reply::limited(RateStatus { reset_ms, ..rate }) {
            Reply::Send {
                retry_after_s,
                rate,
                ..
            } => (retry_after_s, rate.left),
            Reply::Drop => (None, 99),
        };
        assert_eq!(with_reset(1), (Some(1), 0));
        assert_eq!(with_reset(1000), (Some(1), 0));
        assert_eq!(with_reset(1001), (Some(2), 0));
        assert_eq!(with_reset(0), (Some(0), 0));
    }

    #[test]
    fn odd_statuses_become_500() {
        assert_eq!(status_code(503), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_code(101), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_code(42), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
