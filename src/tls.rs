//! TLS set-up shared by every HTTPS client: rustls with the ring provider.

/// Installs ring as the process-wide rustls provider; later calls are no-ops.
///
/// reqwest is built without a bundled provider so that the whole binary (reqwest and, later,
/// kube) uses one crypto backend.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reqwest_client_builds_after_installing_the_provider() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(reqwest::Client::builder().build().is_ok());
    }
}
