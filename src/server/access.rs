//! Who may read `/status`: the per-credential conditions are not for everyone who can reach the
//! listener. `/healthz`, `/readyz` and `/metrics` stay open (the kubelet and Prometheus read
//! them, and they carry no names, URLs or secrets).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::SecretValue;
use crate::web::{PageAccess, PageGuard};

/// What `/status` answers without a token on a listener that is not loopback.
pub const STATUS_REFUSED: &str = "/status is not served on a non-loopback listener without a \
token: start bccreds with --status-token (or BCCREDS_STATUS_TOKEN) and send it as \
`Authorization: Bearer <token>`\n";

/// What `/status` answers to a request without the right token.
pub const STATUS_UNAUTHORIZED: &str =
    "/status needs `Authorization: Bearer <token>` with the --status-token of this process\n";

/// What a token-less loopback listener answers to a request addressed to another name.
pub const MISDIRECTED: &str = "This listener answers only requests addressed to localhost or a \
loopback address (a page elsewhere may have pointed its own name at this machine: DNS \
rebinding). Open it as http://127.0.0.1:PORT/, or start bccreds with --status-host NAME for a \
name of your own, or with --status-token.\n";

/// How `/status` is guarded on one listener.
#[derive(Clone, Debug)]
pub(crate) enum StatusAccess {
    /// No token, loopback listener: served to requests addressed to a loopback name (localhost,
    /// a loopback address, or one of `hosts`), so that no other site's page can read it.
    Open {
        /// Names given with `--status-host`, lowercase.
        hosts: Vec<String>,
    },
    /// Served with `Authorization: Bearer <token>` only, on any listener; the page also takes
    /// `cookie`, a cookie named for the listener's port whose value is derived from the token.
    Token {
        /// The token.
        token: SecretValue,
        /// The page's cookie name.
        cookie: String,
    },
    /// No token, and the listener is reachable from the network: always 403.
    Refused,
}

impl StatusAccess {
    /// The guard for a listener on `port`, bound to a loopback address or not; `hosts` are extra
    /// names a token-less loopback listener answers to.
    pub(super) fn new(
        token: Option<SecretValue>,
        loopback: bool,
        port: u16,
        hosts: &[String],
    ) -> StatusAccess {
        match token {
            Some(token) => StatusAccess::Token {
                token,
                cookie: format!("{PAGE_COOKIE}_{port}"),
            },
            None if loopback => StatusAccess::Open {
                hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            },
            None => StatusAccess::Refused,
        }
    }

    /// The response to send instead of `/status`, or `None` when the request may read it.
    pub(super) fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        match self {
            StatusAccess::Open { hosts } if addressed_locally(headers, hosts) => None,
            StatusAccess::Open { .. } => Some(super::text(
                StatusCode::MISDIRECTED_REQUEST,
                MISDIRECTED.to_string(),
            )),
            StatusAccess::Refused => Some(super::text(
                StatusCode::FORBIDDEN,
                STATUS_REFUSED.to_string(),
            )),
            StatusAccess::Token { token, .. } => {
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

/// Whether a request's `Host` names this machine's loopback: `localhost` (or a name under it,
/// which browsers resolve to loopback themselves), a loopback address, or one of `hosts`. A
/// request without `Host` cannot come from a browser, so it is let through.
fn addressed_locally(headers: &HeaderMap, hosts: &[String]) -> bool {
    let mut values = headers.get_all(header::HOST).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return headers.get(header::HOST).is_none();
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let name = host_name(text).to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name == "localhost" || name.ends_with(".localhost") || hosts.iter().any(|h| h == name) {
        return true;
    }
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    literal
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The name of a `Host` value, without its port (`[::1]:8080` gives `[::1]`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

/// The prefix of the cookie that carries the page's access, once `?token=` has been given; the
/// listener's port follows, since browsers share a host's cookies across its ports.
const PAGE_COOKIE: &str = "bccreds_page";

impl PageGuard for StatusAccess {
    /// Whether a page request may be served: on a listener with a token, the token comes as a
    /// bearer header, as the cookie, or once as `?token=` (which then becomes the cookie), since
    /// a browser cannot send a header by itself.
    fn page(&self, headers: &HeaderMap, query_token: Option<&str>) -> PageAccess {
        match self {
            StatusAccess::Open { hosts } if addressed_locally(headers, hosts) => {
                PageAccess::Allowed
            }
            StatusAccess::Open { .. } => {
                PageAccess::Refused(StatusCode::MISDIRECTED_REQUEST, MISDIRECTED)
            }
            StatusAccess::Refused => PageAccess::Refused(
                StatusCode::FORBIDDEN,
                "This page is not served on a non-loopback listener without a token: start \
                 bccreds with --status-token and open it with ?token=<token> once.",
            ),
            StatusAccess::Token { token, cookie } => {
                let bearer = headers
                    .get_all(header::AUTHORIZATION)
                    .iter()
                    .any(|value| bearer_matches(value, token));
                let expected = cookie_value(token);
                let from_cookie = headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|pair| pair.trim().split_once('='))
                    .any(|(name, value)| {
                        name == cookie && value.as_bytes().ct_eq(expected.as_bytes()).into()
                    });
                if bearer || from_cookie {
                    PageAccess::Allowed
                } else if query_token.is_some_and(|given| same(given.as_bytes(), token)) {
                    PageAccess::SetCookie(format!(
                        "{cookie}={expected}; Path=/; HttpOnly; SameSite=Strict"
                    ))
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

/// The page cookie's value: a MAC of a fixed label under the token, so that the cookie (which
/// browsers send to every port of the host) never carries the bearer token itself, and needs no
/// quoting whatever characters the token has.
fn cookie_value(token: &SecretValue) -> String {
    crate::crypto::hmac_hex(token.expose().as_bytes(), b"bccreds page cookie v1")
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

    fn host(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        map
    }

    fn code(refusal: Option<Response>) -> u16 {
        refusal.map_or(200, |response| response.status().as_u16())
    }

    fn access(token: Option<&str>, loopback: bool) -> StatusAccess {
        StatusAccess::new(token.map(SecretValue::new), loopback, 8080, &[])
    }

    #[test]
    fn a_token_is_needed_on_every_listener_and_the_network_needs_one() {
        for loopback in [true, false] {
            let access = access(Some("s3cret-token"), loopback);
            assert_eq!(code(access.refusal(&headers(&[]))), 401);
            assert_eq!(
                code(access.refusal(&headers(&["Bearer s3cret-token"]))),
                200
            );
        }
        assert_eq!(code(access(None, true).refusal(&headers(&[]))), 200);
        let refused = access(None, false).refusal(&headers(&["Bearer x"]));
        assert_eq!(code(refused), 403);
    }

    #[test]
    fn a_token_less_loopback_listener_answers_loopback_names_only() {
        let open = StatusAccess::new(None, true, 8080, &["pim.internal".to_string()]);
        for name in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "app.localhost:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.8.9.10:1",
            "[::1]:8080",
            "[::1]",
            "[::ffff:127.0.0.1]:8080",
            "pim.internal:8080",
            "PIM.internal",
        ] {
            assert_eq!(code(open.refusal(&host(name))), 200, "{name}");
            assert_eq!(open.page(&host(name), None), PageAccess::Allowed, "{name}");
        }
        for name in [
            "rebind.attacker.example",
            "rebind.attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:8080",
            "[::2]:8080",
            "pim.internal.evil",
            "",
        ] {
            assert_eq!(code(open.refusal(&host(name))), 421, "{name}");
            assert_eq!(
                open.page(&host(name), None),
                PageAccess::Refused(StatusCode::MISDIRECTED_REQUEST, MISDIRECTED),
                "{name}"
            );
        }
        // No Host at all is no browser; two Hosts are never let through.
        assert_eq!(code(open.refusal(&HeaderMap::new())), 200);
        let mut two = host("localhost");
        two.append(header::HOST, HeaderValue::from_static("evil.example"));
        assert_eq!(code(open.refusal(&two)), 421);
        // With a token the token decides, whatever the name.
        let guarded = access(Some("t0ken"), true);
        let mut with = host("rebind.attacker.example");
        with.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0ken"),
        );
        assert_eq!(code(guarded.refusal(&with)), 200);
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let access = access(Some("s3cret-token"), false);
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
        // `+` and `;` are what base64 tokens and cookies trip over.
        let token = "s3cret+to;ken/=";
        let access = access(Some(token), false);
        let PageAccess::SetCookie(set) = access.page(&headers(&[]), Some(token)) else {
            panic!("the right ?token= sets the cookie");
        };
        assert!(set.starts_with("bccreds_page_8080="), "{set}");
        assert!(set.contains("; Path=/; HttpOnly; SameSite=Strict"), "{set}");
        assert!(
            !set.contains("s3cret"),
            "the cookie must not carry the token: {set}"
        );
        let pair = set.split(';').next().expect("pair");
        let mut cookie = HeaderMap::new();
        cookie.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {pair}")).unwrap(),
        );
        assert_eq!(access.page(&cookie, None), PageAccess::Allowed);
        assert_eq!(
            access.page(&headers(&[&format!("Bearer {token}")]), None),
            PageAccess::Allowed
        );
        // The cookie of another port's listener, a wrong value, or the token itself as a cookie.
        for wrong in [
            pair.replace("_8080=", "_9090="),
            "bccreds_page_8080=nope".to_string(),
            format!("bccreds_page_8080={token}"),
        ] {
            let mut cookie = HeaderMap::new();
            cookie.insert(header::COOKIE, HeaderValue::from_str(&wrong).unwrap());
            assert!(
                matches!(
                    access.page(&cookie, None),
                    PageAccess::Refused(StatusCode::UNAUTHORIZED, _)
                ),
                "{wrong}"
            );
        }
        assert!(matches!(
            access.page(&HeaderMap::new(), Some("s3cret to;ken/=")),
            PageAccess::Refused(StatusCode::UNAUTHORIZED, _)
        ));
        assert!(matches!(
            StatusAccess::new(None, false, 8080, &[]).page(&HeaderMap::new(), Some("x")),
            PageAccess::Refused(StatusCode::FORBIDDEN, _)
        ));
    }

    #[test]
    fn refusals_say_what_to_do_and_ask_for_a_bearer_token() {
        let access = access(Some("t"), true);
        let response = access.refusal(&headers(&[])).expect("refused");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert!(STATUS_REFUSED.contains("--status-token"));
        assert_eq!(STATUS_REFUSED.lines().count(), 1);
        assert_eq!(STATUS_UNAUTHORIZED.lines().count(), 1);
        assert!(MISDIRECTED.contains("--status-host"));
        assert_eq!(MISDIRECTED.lines().count(), 1);
    }
}
