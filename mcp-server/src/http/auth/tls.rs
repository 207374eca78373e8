//! TLS for [`crate::http::serve`], with client certificates (mutual TLS) as an option.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::UnixTime;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::{AuthMethod, Identity};

/// A mistake in the TLS settings: a certificate or key that does not parse, a key that does not
/// match, an unusable CA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

type MapIdentity = dyn Fn(&ClientCertificate<'_>) -> Option<Identity> + Send + Sync;

/// TLS settings of [`crate::http::serve`]: the server's certificate, and optionally the CA whose
/// client certificates are required (mutual TLS).
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_server::http::HttpConfig;
/// use mcp_server::http::auth::TlsConfig;
///
/// let tls = TlsConfig::from_pem(&std::fs::read("server.pem")?, &std::fs::read("server.key")?)?
///     .require_client_certificates(&std::fs::read("clients-ca.pem")?)?;
/// let config = HttpConfig::new().tls(tls);
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
///
/// With client certificates required, a client without a certificate signed by the CA (and
/// valid now) fails the handshake. The certificate's subject becomes the caller's [`Identity`]
/// ([`AuthMethod::ClientCertificate`]): by default its common name (CN), or the whole subject
/// when it has none, with the claims `subject_dn` and `serial` (hex); see
/// [`map_client_identity`](Self::map_client_identity) to choose otherwise.
#[derive(Clone)]
pub struct TlsConfig {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    client_roots: Option<Arc<RootCertStore>>,
    map_identity: Option<Arc<MapIdentity>>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("certificates", &self.chain.len())
            .field("client_certificates_required", &self.client_roots.is_some())
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TlsConfig {
    /// TLS with this certificate chain (PEM, the server's certificate first) and private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1). No client certificate is asked for.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError(format!("the certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError("no certificate in the chain".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError(format!("the private key: {e}")))?;
        Self::build(chain, Arc::new(key), None, None)
    }

    /// Requires a client certificate signed by one of the CAs of `ca_certs` (PEM): a client
    /// without one fails the handshake.
    pub fn require_client_certificates(self, ca_certs: &[u8]) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_certs) {
            let cert = cert.map_err(|e| TlsError(format!("the client CA: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| TlsError(format!("the client CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(TlsError("no certificate in the client CA".to_owned()));
        }
        Self::build(
            self.chain,
            self.key,
            Some(Arc::new(roots)),
            self.map_identity,
        )
    }

    /// How a verified client certificate becomes the caller's identity; `None` refuses the
    /// connection during the handshake (the client gets the `access_denied` alert). Replaces
    /// the default (the subject's CN, issued by the certificate's issuer).
    ///
    /// ```
    /// use mcp_server::{AuthMethod, Identity};
    /// use mcp_server::http::auth::{ClientCertificate, TlsConfig};
    ///
    /// fn by_organization(tls: TlsConfig) -> TlsConfig {
    ///     tls.map_client_identity(|cert: &ClientCertificate<'_>| {
    ///         let cn = cert.common_name()?;
    ///         Some(Identity::new(format!("svc:{cn}"), AuthMethod::ClientCertificate)
    ///             .with_issuer(cert.issuer())
    ///             .with_roles(["service"]))
    ///     })
    /// }
    /// ```
    #[must_use]
    pub fn map_client_identity<F>(mut self, map: F) -> Self
    where
        F: Fn(&ClientCertificate<'_>) -> Option<Identity> + Send + Sync + 'static,
    {
        let map: Arc<MapIdentity> = Arc::new(map);
        // The verifier applies the mapping during the handshake. Rebuilding cannot fail where
        // the first build succeeded; were it to, the mapping is still applied after the
        // handshake (the connection is then dropped instead of refused with an alert).
        match Self::build(
            self.chain.clone(),
            self.key.clone(),
            self.client_roots.clone(),
            Some(map.clone()),
        ) {
            Ok(rebuilt) => rebuilt,
            Err(_) => {
                self.map_identity = Some(map);
                self
            }
        }
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: Arc<PrivateKeyDer<'static>>,
        client_roots: Option<Arc<RootCertStore>>,
        map_identity: Option<Arc<MapIdentity>>,
    ) -> Result<Self, TlsError> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?;
        let builder = match &client_roots {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                        .build()
                        .map_err(|e| TlsError(format!("the client CA: {e}")))?;
                // A certificate without an identity fails the handshake itself (the client
                // gets the `access_denied` alert), like one from an unknown CA.
                builder.with_client_cert_verifier(Arc::new(IdentityVerifier {
                    inner: verifier,
                    map_identity: map_identity.clone(),
                }))
            }
        };
        let mut config = builder
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError(format!("the certificate or key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            chain,
            key,
            client_roots,
            map_identity,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The handshake on an accepted connection, within `timeout`, and the client's identity if
    /// client certificates are required. `None`: the connection is refused (and dropped).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Option<(TlsStream<TcpStream>, Option<Identity>)> {
        let handshake = tokio::time::timeout(timeout, self.acceptor.accept(stream)).await;
        let stream = match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return None;
            }
        };
        if self.client_roots.is_none() {
            return Some((stream, None));
        }
        let identity = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| self.identity_of(der));
        match identity {
            Some(identity) => {
                tracing::debug!(subject = %identity.subject(), "client certificate accepted");
                Some((stream, Some(identity)))
            }
            None => {
                tracing::debug!("client certificate without an identity: connection refused");
                None
            }
        }
    }

    fn identity_of(&self, der: &CertificateDer<'_>) -> Option<Identity> {
        let cert = ClientCertificate::parse(der)?;
        match &self.map_identity {
            Some(map) => map(&cert),
            None => Some(cert.default_identity()),
        }
    }
}

/// The CA's verifier, then the identity mapping: a certificate the mapping refuses is refused
/// during the handshake.
struct IdentityVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    map_identity: Option<Arc<MapIdentity>>,
}

impl fmt::Debug for IdentityVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityVerifier")
            .field("inner", &self.inner)
            .field("map_identity", &self.map_identity.is_some())
            .finish()
    }
}

impl ClientCertVerifier for IdentityVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let identity =
            ClientCertificate::parse(end_entity).and_then(|cert| match &self.map_identity {
                Some(map) => map(&cert),
                None => Some(cert.default_identity()),
            });
        match identity {
            Some(_) => Ok(verified),
            None => {
                tracing::debug!("client certificate without an identity: handshake refused");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verified client certificate, for [`TlsConfig::map_client_identity`].
pub struct ClientCertificate<'a> {
    der: &'a [u8],
    cert: X509Certificate<'a>,
}

impl fmt::Debug for ClientCertificate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

impl<'a> ClientCertificate<'a> {
    fn parse(der: &'a CertificateDer<'_>) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        Some(ClientCertificate { der, cert })
    }

    /// The certificate, DER encoded.
    pub fn der(&self) -> &[u8] {
        self.der
    }

    /// The subject as an RFC 4514 string, such as `CN=alice, O=Example`.
    pub fn subject(&self) -> String {
        self.cert.subject().to_string()
    }

    /// The issuer (the certificate authority) as an RFC 4514 string: give it to
    /// [`Identity::with_issuer`] so that the same name from two authorities is two principals.
    pub fn issuer(&self) -> String {
        self.cert.issuer().to_string()
    }

    /// The subject's first common name (CN), if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
    }

    /// The serial number, in hexadecimal.
    pub fn serial(&self) -> String {
        self.cert.raw_serial_as_string().replace(':', "")
    }

    /// The DNS names and email addresses of the subject alternative name extension.
    pub fn alt_names(&self) -> Vec<String> {
        use x509_parser::extensions::GeneralName;
        let Ok(Some(san)) = self.cert.subject_alternative_name() else {
            return Vec::new();
        };
        san.value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) => Some((*s).to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The identity a certificate gives by default: its common name (CN), or the whole subject
    /// when it has none, issued by the certificate's issuer, with the claims `subject_dn` and
    /// `serial` (hex). A [`TlsConfig::map_client_identity`] that only adds to it (roles, say)
    /// starts here.
    pub fn default_identity(&self) -> Identity {
        let subject = self.subject();
        let name = self
            .common_name()
            .map_or_else(|| subject.clone(), str::to_owned);
        let mut claims = serde_json::Map::new();
        claims.insert("subject_dn".into(), subject.into());
        claims.insert("serial".into(), self.serial().into());
        // The same name from two certificate authorities is two principals.
        Identity::new(name, AuthMethod::ClientCertificate)
            .with_issuer(self.issuer())
            .with_claims(claims)
    }
}
