//! Who may read `/status`: the per-credential conditions are not for everyone who can reach the
//! listener. `/healthz`, `/readyz` and `/metrics` stay open (the kubelet and Prometheus read
//! them, and they carry no names, URLs or secrets).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::SecretValue;

/// What `/status` answers without a token on a listener that is not loopback.
pub const STATUS_REFUSED: &str = "/status is not served on a non-loopback listener without a \
token: start bccreds with --status-token (or BCCREDS_STATUS_TOKEN) and send it as \
`Authorization: Bearer <token>`\n";

/// What `/status` answers to a request without the right token.
pub const STATUS_UNAUTHORIZED: &str =
    "/status needs `Authorization: Bearer <token>` with the --status-token of this process\n";

/// How `/status` is guarded on one listener.
#[derive(Clone, Debug)]
pub(crate) enum StatusAccess {
    /// No token, loopback listener: served to anyone who can reach it, as before tokens.
    Open,
    /// Served with `Authorization: Bearer <token>` only, on any listener.
    Token(SecretValue),
    /// No token, and the listener is reachable from the network: always 403.
    Refused,
}

impl StatusAccess {
    /// The guard for a listener bound to a loopback address or not.
    pub(super) fn new(token: Option<SecretValue>, loopback: bool) -> StatusAccess {
        match token {
            Some(token) => StatusAccess::Token(token),
            None if loopback => StatusAccess::Open,
            None => StatusAccess::Refused,
        }
    }

    /// The response to send instead of `/status`, or `None` when the request may read it.
    pub(super) fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        match self {
            StatusAccess::Open => None,
            StatusAccess::Refused => Some(super::text(
                StatusCode::FORBIDDEN,
                STATUS_REFUSED.to_string(),
            )),
            StatusAccess::Token(token) => {
                if headers
                    .get_all(header::AUTHORIZATION)
                    .iter()
                    .any(|value| bearer_matches(value, token))
                {
                    None
                } else {
                    let mut response =
                        super::text(StatusCode::UNAUTHORIZED, STATUS_UNAUTHORIZED.to_string());
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    Some(response)
                }
            }
        }
    }
}

/// The cookie that carries the token for the web page, once `?token=` has been given.
pub(crate) const PAGE_COOKIE: &str = "bccreds_token";

/// How the web page is let in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageAccess {
    /// Serve it.
    Allowed,
    /// The right `?token=` was given: set the cookie and redirect to the URL without it.
    SetCookie,
    /// Refused, with the status and why.
    Refused(StatusCode, &'static str),
}

impl StatusAccess {
    /// Whether a page request may be served: on a listener with a token, the token comes as a
    /// bearer header, as the cookie, or once as `?token=` (which then becomes the cookie), since
    /// a browser cannot send a header by itself.
    pub(crate) fn page(&self, headers: &HeaderMap, query_token: Option<&str>) -> PageAccess {
        match self {
            StatusAccess::Open => PageAccess::Allowed,
            StatusAccess::Refused => PageAccess::Refused(
                StatusCode::FORBIDDEN,
                "This page is not served on a non-loopback listener without a token: start \
                 bccreds with --status-token and open it with ?token=<token> once.",
            ),
            StatusAccess::Token(token) => {
                let bearer = headers
                    .get_all(header::AUTHORIZATION)
                    .iter()
                    .any(|value| bearer_matches(value, token));
                let cookie = headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|pair| pair.trim().split_once('='))
                    .any(|(name, value)| name == PAGE_COOKIE && same(value.as_bytes(), token));
                if bearer || cookie {
                    PageAccess::Allowed
                } else if query_token.is_some_and(|given| same(given.as_bytes(), token)) {
                    PageAccess::SetCookie
                } else {
                    PageAccess::Refused(
                        StatusCode::UNAUTHORIZED,
                        "This page needs the --status-token of this process: open it once with \
                         ?token=<token>.",
                    )
                }
            }
        }
    }
}

/// Compares `given` with the token in time independent of both (hashing first).
fn same(given: &[u8], token: &SecretValue) -> bool {
    let given = Sha256::digest(given);
    let expected = Sha256::digest(token.expose().as_bytes());
    given[..].ct_eq(&expected[..]).into()
}

/// Whether an `Authorization` value is `Bearer <token>` (the scheme in any case). The
/// comparison takes the same time whatever the value: both sides are hashed first, so neither
/// the length nor any prefix of the token can be timed.
fn bearer_matches(value: &HeaderValue, token: &SecretValue) -> bool {
    let value = value.as_bytes();
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (scheme, given) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return false;
    }
    same(given.trim_ascii(), token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn code(refusal: Option<Response>) -> u16 {
        refusal.map_or(200, |response| response.status().as_u16())
    }

    #[test]
    fn a_token_is_needed_on_every_listener_and_the_network_needs_one() {
        let token = || Some(SecretValue::new("s3cret-token"));
        for loopback in [true, false] {
            let access = StatusAccess::new(token(), loopback);
            assert_eq!(code(access.refusal(&headers(&[]))), 401);
            assert_eq!(
                code(access.refusal(&headers(&["Bearer s3cret-token"]))),
                200
            );
        }
        assert_eq!(
            code(StatusAccess::new(None, true).refusal(&headers(&[]))),
            200
        );
        let refused = StatusAccess::new(None, false).refusal(&headers(&["Bearer x"]));
        assert_eq!(code(refused), 403);
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let access = StatusAccess::new(Some(SecretValue::new("s3cret-token")), false);
        for (value, ok) in [
            ("Bearer s3cret-token", true),
            ("bearer s3cret-token", true),
            ("BEARER  s3cret-token ", true),
            ("Bearer s3cret-toke", false),
            ("Bearer s3cret-token2", false),
            ("Bearer S3CRET-TOKEN", false),
            ("Basic s3cret-token", false),
            ("s3cret-token", false),
            ("Bearer", false),
            ("Bearer ", false),
            ("Bearers3cret-token", false),
        ] {
            assert_eq!(
                code(access.refusal(&headers(&[value]))),
                if ok { 200 } else { 401 },
                "{value}"
            );
        }
        // One right value among several is enough.
        assert_eq!(
            code(access.refusal(&headers(&["Basic x", "Bearer s3cret-token"]))),
            200
        );
    }

    #[test]
    fn the_page_takes_the_token_as_a_header_a_cookie_or_once_in_the_query() {
        let access = StatusAccess::new(Some(SecretValue::new("s3cret-token")), false);
        let mut cookie = HeaderMap::new();
        cookie.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; bccreds_token=s3cret-token"),
        );
        assert_eq!(access.page(&cookie, None), PageAccess::Allowed);
        assert_eq!(
            access.page(&headers(&["Bearer s3cret-token"]), None),
            PageAccess::Allowed
        );
        assert_eq!(
            access.page(&headers(&[]), Some("s3cret-token")),
            PageAccess::SetCookie
        );
        let mut wrong = HeaderMap::new();
        wrong.insert(
            header::COOKIE,
            HeaderValue::from_static("bccreds_token=nope"),
        );
        for (h, q) in [(&wrong, None), (&HeaderMap::new(), Some("s3cret-toke"))] {
            assert!(matches!(
                access.page(h, q),
                PageAccess::Refused(StatusCode::UNAUTHORIZED, _)
            ));
        }
        assert!(matches!(
            StatusAccess::new(None, false).page(&HeaderMap::new(), Some("x")),
            PageAccess::Refused(StatusCode::FORBIDDEN, _)
        ));
        assert_eq!(
            StatusAccess::new(None, true).page(&HeaderMap::new(), None),
            PageAccess::Allowed
        );
    }

    #[test]
    fn refusals_say_what_to_do_and_ask_for_a_bearer_token() {
        let access = StatusAccess::new(Some(SecretValue::new("t")), true);
        let response = access.refusal(&headers(&[])).expect("refused");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert!(STATUS_REFUSED.contains("--status-token"));
        assert_eq!(STATUS_REFUSED.lines().count(), 1);
        assert_eq!(STATUS_UNAUTHORIZED.lines().count(), 1);
    }
}
