//! Showing the authorization URL to the user and bringing back the redirect.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::AuthError;

/// Opens the authorization URL and returns where the authorization server redirected to
/// (the redirect URI with `code`, `state` and maybe `iss` in its query).
pub trait AuthorizationHandler: Send + Sync {
    /// The redirect URI of this client (sent in registration and authorization requests).
    fn redirect_uri(&self) -> String;

    /// Has the user authorize at `url`; returns the full redirect URL.
    fn authorize(&self, url: Url) -> BoxFuture<'_, Result<Url, AuthError>>;
}

/// For command-line tools: listens on `127.0.0.1`, prints the authorization URL (and tries to
/// open a browser), and waits for the browser to come back to `http://127.0.0.1:PORT/callback`.
#[derive(Debug)]
pub struct LoopbackHandler {
    listener: Mutex<TcpListener>,
    port: u16,
    open_browser: bool,
    timeout: Duration,
}

impl LoopbackHandler {
    /// Listens on `127.0.0.1:port` (0 picks a free port).
    pub async fn bind(port: u16) -> std::io::Result<LoopbackHandler> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackHandler {
            listener: Mutex::new(listener),
            port,
            open_browser: true,
            timeout: Duration::from_secs(300),
        })
    }

    /// Whether to try to open a browser (`xdg-open` / `open`); the URL is printed either way.
    #[must_use]
    pub fn open_browser(mut self, open: bool) -> Self {
        self.open_browser = open;
        self
    }

    /// How long to wait for the user (5 minutes by default).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn wait(&self) -> Result<Url, AuthError> {
        let listener = self.listener.lock().await;
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| AuthError::Handler(e.to_string()))?;
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            // Read the request head; the request line is all we need.
            while n < buf.len() {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf[n..])).await
                {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(m)) => n += m,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let target = head
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("GET "))
                .and_then(|l| l.split(' ').next())
                .unwrap_or("");
            if !target.starts_with("/callback") {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            }
            let body = "<!doctype html><title>Authorized</title><p>Authorization finished; you can close this window.</p>";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            return Url::parse(&format!("http://127.0.0.1:{}{target}", self.port))
                .map_err(|e| AuthError::Handler(format!("invalid redirect: {e}")));
        }
    }
}

impl AuthorizationHandler for LoopbackHandler {
    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    fn authorize(&self, url: Url) -> BoxFuture<'_, Result<Url, AuthError>> {
        Box::pin(async move {
            eprintln!("Open this URL in a browser to authorize:\n  {url}");
            if self.open_browser {
                let opener = if cfg!(target_os = "macos") {
                    "open"
                } else {
                    "xdg-open"
                };
                let _ = tokio::process::Command::new(opener)
                    .arg(url.as_str())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
            tokio::time::timeout(self.timeout, self.wait())
                .await
                .map_err(|_| AuthError::Handler("no redirect came back in time".into()))?
        })
    }
}

/// For automated clients and tests: GETs the authorization URL without following redirects
/// and takes the redirect from the `Location` header. Works with authorization servers that
/// redirect at once (test servers, pre-consented clients); a login page makes it fail.
#[derive(Debug, Clone)]
pub struct HeadlessHandler {
    redirect_uri: String,
    http: reqwest::Client,
}

impl Default for HeadlessHandler {
    fn default() -> Self {
        Self::new("http://127.0.0.1:33418/callback")
    }
}

impl HeadlessHandler {
    /// A handler that registers `redirect_uri` (it is never listened on).
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        HeadlessHandler {
            redirect_uri: redirect_uri.into(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }
}

impl AuthorizationHandler for HeadlessHandler {
    fn redirect_uri(&self) -> String {
        self.redirect_uri.clone()
    }

    fn authorize(&self, url: Url) -> BoxFuture<'_, Result<Url, AuthError>> {
        Box::pin(async move {
            let response = self.http.get(url.clone()).send().await.map_err(|e| {
                AuthError::Handler(format!("authorization request: {}", e.without_url()))
            })?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    AuthError::Handler(format!(
                        "the authorization endpoint answered HTTP {} without a redirect",
                        status.as_u16()
                    ))
                })?;
            url.join(location)
                .map_err(|e| AuthError::Handler(format!("invalid redirect: {e}")))
        })
    }
}
