//! A TLS front for the DynamoDB test server, with a certificate from a throwaway certificate
//! authority: what a deployment behind a TLS-intercepting proxy or a private CA looks like to the
//! functions' TLS client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A TLS-terminating proxy on loopback that forwards every connection, decrypted, to `target`.
pub struct TlsFront {
    pub address: SocketAddr,
    ca_pem: String,
}

impl TlsFront {
    /// Starts a proxy to `target` whose certificate (for `127.0.0.1` and `localhost`) a fresh test
    /// CA signed.
    pub async fn start(target: SocketAddr) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "users-api test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &issuer)
            .expect("server certificate");
        let chain = vec![
            CertificateDer::from(server.der().to_vec()),
            CertificateDer::from(ca.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to forward.
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Self {
            address,
            ca_pem: ca.pem(),
        }
    }

    /// The proxy's URL, as an endpoint override.
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The proxy's URL by host name, as an AWS endpoint is reached: resolved, then verified
    /// against a DNS name in the certificate.
    pub fn url_by_name(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }

    /// Writes the test CA's certificate into `dir` and returns its path (for `SSL_CERT_FILE`).
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("users-api-test-ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write the test CA");
        path
    }
}
