//! The BigCommerce HTTP client: auth headers, timeouts, pacing and bounded retries.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode};
use thiserror::Error;

use super::pacer::{Pacer, RateLimit};
use super::retry::RetryPolicy;
use crate::secret::SecretValue;

/// The real API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.bigcommerce.com";

/// How the client connects.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Where requests go: the real API, or a simulator on loopback.
    pub base_url: String,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for a whole request, body included.
    pub request_timeout: Duration,
    /// Retry bounds.
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            base_url: DEFAULT_BASE_URL.to_string(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The base URL is unusable or unsafe.
    #[error("--bigcommerce-base-url {url}: {reason}")]
    BaseUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// reqwest could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

/// A response worth judging: 2xx, or a 4xx other than 429.
#[derive(Clone, Debug)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a call gave no response worth judging.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CallError {
    /// 5xx, timeouts or broken connections, through every retry.
    #[error("{0}")]
    Unreachable(String),
    /// 429 through every retry.
    #[error("rate limited")]
    RateLimited,
    /// The token cannot be sent as a header at all.
    #[error("the access token contains characters an HTTP header cannot carry")]
    TokenNotSendable,
}

/// A client for one BigCommerce API endpoint, shared by all verifications.
#[derive(Debug)]
pub struct BigCommerceClient {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    request_timeout: Duration,
    pacer: Pacer,
    /// Responses by HTTP status (0: no response), for metrics.
    answered: std::sync::Mutex<std::collections::BTreeMap<u16, u64>>,
}

/// Checks that the base URL is https, or http on a loopback address only.
pub fn check_base_url(url: &str) -> Result<String, ClientError> {
    let fail = |reason| ClientError::BaseUrl {
        url: crate::redact::redact_url(url),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|_| fail("not a URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(fail("has no host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(fail("http:// is only allowed for loopback addresses")),
        _ => return Err(fail("must be https://")),
    }
    if parsed.query().is_some() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail("must not carry a query or credentials"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl BigCommerceClient {
    /// Builds a client; redirects are off, since they could carry the token to another host.
    pub fn new(opts: &ClientOptions) -> Result<Self, ClientError> {
        crate::tls::install_crypto_provider();
        let base = check_base_url(&opts.base_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("bccreds/", env!("CARGO_PKG_VERSION"))),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(BigCommerceClient {
            http,
            base,
            retry: opts.retry,
            request_timeout: opts.request_timeout,
            pacer: Pacer::default(),
            answered: Default::default(),
        })
    }

    /// How many requests got each HTTP status so far (0: no response at all).
    pub fn request_counts(&self) -> std::collections::BTreeMap<u16, u64> {
        self.answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn count(&self, status: u16) {
        // Counting must never fail a request, so a poisoned lock is simply reused.
        *self
            .answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    /// GETs `stores/{hash}/{path}`.
    pub async fn get(
        &self,
        hash: &str,
        path: &str,
        token: &SecretValue,
    ) -> Result<ApiResponse, CallError> {
        self.call(Method::GET, hash, path, token, None).await
    }

    /// Calls `stores/{hash}/{path}`, pacing per store and retrying 429, 5xx and transport errors.
    pub async fn call(
        &self,
        method: Method,
        hash: &str,
        path: &str,
        token: &SecretValue,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, CallError> {
        let url = format!("{}/stores/{hash}/{path}", self.base);
        let mut auth =
            HeaderValue::from_str(token.expose()).map_err(|_| CallError::TokenNotSendable)?;
        // Sensitive values print as "Sensitive" in any Debug output of the request.
        auth.set_sensitive(true);
        let (mut retries, mut limited) = (0u32, 0u32);
        loop {
            self.pacer.acquire(hash).await;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header("X-Auth-Token", auth.clone());
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let failure = match send(request).await {
                Ok((status, headers, bytes)) => {
                    self.count(status.as_u16());
                    match rate_limit(&headers) {
                        Some(limit) => self.pacer.report(hash, limit),
                        None => self.pacer.release(hash),
                    }
                    tracing::debug!(
                        store = hash,
                        path,
                        status = status.as_u16(),
                        "BigCommerce answered"
                    );
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        if limited >= self.retry.max_rate_limit_retries {
                            return Err(CallError::RateLimited);
                        }
                        let reset = header_u64(&headers, "x-rate-limit-time-reset-ms")
                            .map(Duration::from_millis);
                        let wait = self.retry.rate_limit_wait(reset, limited, fastrand::f64());
                        tracing::info!(
                            store = hash,
                            path,
                            wait_ms = wait.as_millis() as u64,
                            "rate limited; waiting for the window to reset"
                        );
                        limited += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if !status.is_server_error() {
                        return Ok(ApiResponse {
                            status,
                            body: bytes,
                        });
                    }
                    match status.as_u16() {
                        503 => "HTTP 503: the store is in maintenance or suspended".to_string(),
                        507 => "HTTP 507: the store hit a plan limit".to_string(),
                        s => format!("HTTP {s}"),
                    }
                }
                Err(SendError::TooLarge) => {
                    self.count(0);
                    self.pacer.release(hash);
                    // Not a hiccup: asking again would read the same flood.
                    return Err(CallError::Unreachable(format!(
                        "the response is larger than {} KiB, more than any BigCommerce answer; \
                         check --bigcommerce-base-url",
                        MAX_RESPONSE_BODY / 1024
                    )));
                }
                Err(SendError::Http(e)) => {
                    self.count(0);
                    self.pacer.release(hash);
                    describe(&e, self.request_timeout)
                }
            };
            if retries >= self.retry.max_retries {
                return Err(CallError::Unreachable(format!(
                    "{failure} after {} attempts",
                    retries + 1
                )));
            }
            let wait = self.retry.backoff(retries, fastrand::f64());
            tracing::info!(
                store = hash,
                path,
                retry = retries + 1,
                wait_ms = wait.as_millis() as u64,
                "{failure}; retrying"
            );
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

/// The largest response body read from BigCommerce; its real answers are a few KiB. A larger
/// body (a misconfigured base URL, a hostile endpoint) is refused while it is read, so that it
/// can never take the process's memory.
pub const MAX_RESPONSE_BODY: usize = 1 << 20;

/// Why a request got no usable response.
enum SendError {
    Http(reqwest::Error),
    TooLarge,
}

impl From<reqwest::Error> for SendError {
    fn from(e: reqwest::Error) -> SendError {
        SendError::Http(e)
    }
}

async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), SendError> {
    let mut response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BODY as u64)
    {
        return Err(SendError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(SendError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// A transport error in words, without the URL or anything else from the request.
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        format!("no answer within {}", humantime::format_duration(timeout))
    } else if err.is_connect() {
        "connection refused or failed".to_string()
    } else {
        "connection broken before a complete response".to_string()
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
    Some(RateLimit {
        left: header_u64(headers, "x-rate-limit-requests-left")?,
        quota: header_u64(headers, "x-rate-limit-requests-quota")?,
        reset: Duration::from_millis(header_u64(headers, "x-rate-limit-time-reset-ms")?),
        window: Duration::from_millis(header_u64(headers, "x-rate-limit-time-window-ms")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_https_or_loopback_http() {
        assert!(check_base_url("https://api.bigcommerce.com").is_ok());
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert!(check_base_url("http://[::1]:9/").is_ok());
        assert!(check_base_url("http://localhost:9").is_ok());
        assert!(check_base_url("http://10.0.0.1:80").is_err());
        assert!(check_base_url("http://api.bigcommerce.com").is_err());
        assert!(check_base_url("ftp://127.0.0.1").is_err());
        assert!(check_base_url("https://u:p@api.bigcommerce.com").is_err());
    }

    #[test]
    fn rate_limit_headers_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        h.insert("X-Rate-Limit-Requests-Left", HeaderValue::from_static("7"));
        h.insert(
            "x-rate-limit-requests-quota",
            HeaderValue::from_static("150"),
        );
        h.insert(
            "X-RATE-LIMIT-TIME-RESET-MS",
            HeaderValue::from_static("1200"),
        );
        h.insert(
            "X-Rate-Limit-Time-Window-Ms",
            HeaderValue::from_static("30000"),
        );
        let limit = rate_limit(&h).expect("all four headers");
        assert_eq!(limit.left, 7);
        assert_eq!(limit.quota, 150);
        assert_eq!(limit.reset, Duration::from_millis(1200));
        h.remove("x-rate-limit-requests-quota");
        assert!(rate_limit(&h).is_none());
    }
}
