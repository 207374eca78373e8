//! The SSRF guard: which URLs learnt from a server the client may fetch.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

use super::AuthError;

/// The kinds of address a URL may resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation, benchmarking, reserved: never fetched.
    Never,
}

/// The one function that decides what kind of address `ip` is. IPv6 forms that carry an IPv4
/// address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) are judged by the IPv4 address they carry.
fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return classify_v4(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Class::Loopback
            } else if v6.is_unique_local() || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
                // Unique local fc00::/7; local-use NAT64 64:ff9b:1::/48 (RFC 8215), whose
                // IPv4 part is the operator's choice.
                Class::Private
            } else if v6.is_unicast_link_local() {
                Class::LinkLocal
            } else if v6.is_unspecified()
                || v6.is_multicast()
                // Documentation 2001:db8::/32 and 3fff::/20 (RFC 3849, RFC 9637).
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x3fff && s[1] < 0x1000)
                // Teredo 2001::/32: the IPv4 server and client it tunnels to are hidden.
                || (s[0] == 0x2001 && s[1] == 0)
                // Discard-only 100::/64.
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
            {
                Class::Never
            } else {
                Class::Public
            }
        }
    }
}

/// The IPv4 address an IPv6 address carries, in the forms a host can reach it by:
/// IPv4-mapped and IPv4-compatible (`::a.b.c.d`, but not `::` and `::1`), NAT64 with the
/// well-known prefix `64:ff9b::/96` (RFC 6052), and 6to4 `2002:aabb:ccdd::/48` (RFC 3056).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
        return Some(low); // IPv4-compatible (deprecated, still routed by some stacks)
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

fn classify_v4(v4: Ipv4Addr) -> Class {
    let o = v4.octets();
    if v4.is_loopback() {
        Class::Loopback
    } else if v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        // 10/8, 172.16/12, 192.168/16 and carrier-grade NAT 100.64/10
        Class::Private
    } else if v4.is_link_local() {
        Class::LinkLocal
    } else if v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || o[0] == 0
        // Documentation 192.0.2/24, 198.51.100/24, 203.0.113/24.
        || v4.is_documentation()
        // Benchmarking 198.18/15.
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        // Reserved 240/4.
        || o[0] >= 240
        // IETF protocol assignments 192.0.0/24.
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
    {
        Class::Never
    } else {
        Class::Public
    }
}

/// Decides which URLs the client may fetch during authorization.
///
/// Only `http` and `https`; plain `http` only when the MCP server itself is on `http`; no
/// loopback, private (RFC 1918, CGNAT, unique local) or link-local address unless the MCP
/// server is on an address of the same kind; never unspecified, multicast, broadcast,
/// documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20),
/// benchmarking (198.18/15), reserved (240/4), Teredo or discard-only addresses. An IPv6
/// address that carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) is judged by the IPv4 address. Host names are resolved and every address must
/// pass.
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
