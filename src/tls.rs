//! The TLS client configuration every vendor client shares: one per process, whose root store
//! (the system's CA certificates, read by rustls-platform-verifier as reqwest would) is loaded
//! at the first certificate to verify instead of once per provider at start (issue 16: parsing
//! the system bundle was 73% of the daemon's start-up instructions and a root store per
//! client; docs/benchmarks.md, "Memory (issue 16)").
//!
//! The same protocol versions, ALPN (`h2`, `http/1.1`) and verification as reqwest's own
//! rustls setup. Unlike reqwest's, a host without CA certificates fails the first https
//! handshake (logged), not the provider's construction; and changed system roots are read
//! by the next daemon start, not by a config reload.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// The shared configuration (built once; an error, which no supported provider produces, is
/// kept and returned to each caller).
pub fn client_config() -> Result<ClientConfig, String> {
    static CONFIG: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
    CONFIG.get_or_init(build).clone()
}

fn build() -> Result<ClientConfig, String> {
    // reqwest's choice: a process default if one was installed, else aws-lc-rs
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = Arc::new(SystemRoots { provider: provider.clone(), loaded: OnceLock::new() });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// rustls-platform-verifier's verifier, made on the first certificate it is asked about.
/// Signatures and schemes need only the crypto provider, as in the verifier it wraps.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<CryptoProvider>,
    loaded: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl SystemRoots {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        let loaded = self.loaded.get_or_init(|| {
            let v = rustls_platform_verifier::Verifier::new(self.provider.clone());
            if let Err(e) = &v {
                tracing::error!(error = %e, "cannot load the system's CA certificates: https vendors are unreachable");
            }
            v
        });
        loaded.as_ref().map_err(Clone::clone)
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_config_offers_h2_and_http1_and_loads_no_roots_until_asked() {
        let config = client_config().unwrap();
        assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = SystemRoots { provider, loaded: OnceLock::new() };
        assert!(!roots.supported_verify_schemes().is_empty());
        assert!(roots.loaded.get().is_none(), "schemes need no root store");
    }

    #[test]
    fn a_certificate_that_is_not_one_is_refused() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = SystemRoots { provider, loaded: OnceLock::new() };
        let name = ServerName::try_from("api.openai.com").unwrap();
        let junk = CertificateDer::from(vec![0u8; 16]);
        // (on a host without CA certificates the load fails: refused all the same)
        assert!(roots.verify_server_cert(&junk, &[], &name, &[], UnixTime::now()).is_err());
        assert!(roots.loaded.get().is_some(), "the first certificate loads the roots");
    }
}
