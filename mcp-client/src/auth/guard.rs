//! The SSRF guard: which URLs learnt from a server the client may fetch.

use std::net::IpAddr;

use reqwest::Url;

use super::AuthError;

/// The kinds of address a URL may resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation: never fetched.
    Never,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Class::Loopback
            } else if v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
                // 10/8, 172.16/12, 192.168/16 and carrier-grade NAT 100.64/10
                Class::Private
            } else if v4.is_link_local() {
                Class::LinkLocal
            } else if v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || o[0] == 0 {
                Class::Never
            } else {
                Class::Public
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Class::Loopback
            } else if (first & 0xfe00) == 0xfc00 {
                Class::Private // unique local fc00::/7
            } else if (first & 0xffc0) == 0xfe80 {
                Class::LinkLocal
            } else if v6.is_unspecified() || v6.is_multicast() {
                Class::Never
            } else {
                Class::Public
            }
        }
    }
}

/// Decides which URLs the client may fetch during authorization.
///
/// Only `http` and `https`; plain `http` only when the MCP server itself is on `http`; no
/// loopback, private (RFC 1918, CGNAT, unique local) or link-local address unless the MCP
/// server is on an address of the same kind; never unspecified, multicast or broadcast
/// addresses. Host names are resolved and every address must pass.
#[derive(Debug, Clone)]
pub struct UrlGuard {
    allow_http: bool,
    allowed: Vec<ClassAllowed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClassAllowed(Class);

impl UrlGuard {
    /// The guard for an MCP server at `server_url`.
    pub async fn for_server(server_url: &str) -> Result<UrlGuard, AuthError> {
        let url = Url::parse(server_url).map_err(|e| AuthError::RefusedUrl {
            url: server_url.to_owned(),
            reason: e.to_string(),
        })?;
        let mut allowed = vec![ClassAllowed(Class::Public)];
        if let Ok(addrs) = resolve(&url).await {
            for ip in addrs {
                let c = classify(ip);
                if c != Class::Never && !allowed.contains(&ClassAllowed(c)) {
                    allowed.push(ClassAllowed(c));
                }
            }
        }
        Ok(UrlGuard {
            allow_http: url.scheme() == "http",
            allowed,
        })
    }

    /// Checks a URL: its scheme, then every address its host resolves to.
    pub async fn check(&self, url: &str) -> Result<Url, AuthError> {
        let refuse = |reason: String| AuthError::RefusedUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| refuse(e.to_string()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(refuse("plain http for a server reached over https".into())),
            other => return Err(refuse(format!("the scheme `{other}` is not http(s)"))),
        }
        let addrs = resolve(&parsed).await.map_err(refuse)?;
        for ip in addrs {
            let c = classify(ip);
            if !self.allowed.contains(&ClassAllowed(c)) {
                let kind = match c {
                    Class::Loopback => "a loopback",
                    Class::Private => "a private",
                    Class::LinkLocal => "a link-local",
                    Class::Never | Class::Public => "a forbidden",
                };
                return Err(refuse(format!(
                    "the host resolves to {kind} address ({ip})"
                )));
            }
        }
        Ok(parsed)
    }
}

/// A DNS resolver that only hands out addresses the guard allows, so the address a request
/// connects to is one that was checked (a host cannot resolve to a public address for the
/// check and to a private one for the connection).
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver(Vec<ClassAllowed>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed.contains(&ClassAllowed(classify(a.ip()))))
                .collect();
            if addrs.is_empty() {
                return Err(format!("`{host}` resolves to no address the client may use").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl UrlGuard {
    /// The resolver for HTTP clients whose requests this guard checks.
    pub(crate) fn resolver(&self) -> GuardedResolver {
        GuardedResolver(self.allowed.clone())
    }
}

async fn resolve(url: &Url) -> Result<Vec<IpAddr>, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![IpAddr::V4(ip)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![IpAddr::V6(ip)]),
        Some(url::Host::Domain(d)) => {
            let addrs: Vec<IpAddr> = tokio::net::lookup_host((d, port))
                .await
                .map_err(|e| format!("cannot resolve `{d}`: {e}"))?
                .map(|a| a.ip())
                .collect();
            if addrs.is_empty() {
                return Err(format!("`{d}` resolves to no address"));
            }
            Ok(addrs)
        }
        None => Err("no host".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |s: &str| classify(s.parse().unwrap());
        assert_eq!(c("127.0.0.1"), Class::Loopback);
        assert_eq!(c("::1"), Class::Loopback);
        assert_eq!(c("10.1.2.3"), Class::Private);
        assert_eq!(c("172.20.0.1"), Class::Private);
        assert_eq!(c("192.168.1.1"), Class::Private);
        assert_eq!(c("100.64.0.1"), Class::Private);
        assert_eq!(c("fd00::1"), Class::Private);
        assert_eq!(c("169.254.169.254"), Class::LinkLocal);
        assert_eq!(c("fe80::1"), Class::LinkLocal);
        assert_eq!(c("::ffff:169.254.169.254"), Class::LinkLocal);
        assert_eq!(c("0.0.0.0"), Class::Never);
        assert_eq!(c("93.184.216.34"), Class::Public);
    }

    #[tokio::test]
    async fn the_resolver_hands_out_only_allowed_addresses() {
        use reqwest::dns::Resolve;
        let public_only = GuardedResolver(vec![ClassAllowed(Class::Public)]);
        assert!(
            public_only
                .resolve("localhost".parse().unwrap())
                .await
                .is_err()
        );
        let with_loopback = GuardedResolver(vec![
            ClassAllowed(Class::Public),
            ClassAllowed(Class::Loopback),
        ]);
        let addrs: Vec<_> = with_loopback
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
