//! What an item declares about who may use it and how: enforced by [`crate::admission`].
//!
//! Declared next to the function (`#[tool(scopes = ["kpi:read"], approval = "required")]`) or on
//! a hand-written handler ([`crate::ToolHandler::policy`]).

use std::time::Duration;

/// Requests allowed per period, per principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many requests.
    pub requests: u32,
    /// In how long.
    pub per: Duration,
}

impl RateLimit {
    /// Parses `"10/s"`, `"100/min"`, `"1000/h"` or `"5/day"`.
    pub fn parse(s: &str) -> Option<RateLimit> {
        let (n, unit) = s.split_once('/')?;
        let requests: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return None,
        };
        Some(RateLimit { requests, per })
    }
}

/// Keys (principals) beyond which idle entries of a [`Limiter`] in this process are dropped.
const LIMITER_KEYS: usize = 10_000;

/// A [`RateLimit`] enforced per key (a principal): in this process (`governor`'s keyed GCRA), or
/// in the store the server's replicas share ([`crate::store::Store::rate`], the same algorithm),
/// so that N replicas do not allow N times the rate.
pub struct Limiter {
    rate: RateLimit,
    local: governor::DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter of `rate`; `None` when the rate is too fast to express (under a nanosecond
    /// between requests).
    pub fn new(rate: RateLimit) -> Option<Limiter> {
        let quota = governor::Quota::with_period(rate.per / rate.requests)?
            .allow_burst(std::num::NonZeroU32::new(rate.requests)?);
        Some(Limiter {
            rate,
            local: governor::DefaultKeyedRateLimiter::keyed(quota),
        })
    }

    /// The rate it enforces.
    pub fn rate(&self) -> RateLimit {
        self.rate
    }

    /// Takes one request of `key`: `Ok(Ok(()))` if allowed, `Ok(Err(wait))` with how long until
    /// the next one would be. With `shared` (a store and the name of this limiter's buckets in
    /// it), the bucket lives in the store, and an unreachable store is an `Err`: the caller
    /// refuses the request rather than let it through uncounted.
    pub async fn check(
        &self,
        key: &str,
        shared: Option<(&dyn crate::store::Store, &str)>,
    ) -> Result<Result<(), Duration>, crate::store::StoreError> {
        if let Some((store, name)) = shared {
            return store
                .rate(&format!("{name}:{key}"), self.rate.requests, self.rate.per)
                .await;
        }
        let verdict = self.local.check_key(&key.to_owned()).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        });
        if self.local.len() > LIMITER_KEYS {
            self.local.retain_recent();
        }
        Ok(verdict)
    }
}

/// Whether a human must approve each call, and who may (see [`crate::approval`] for which to
/// choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Approval {
    /// No approval (the default).
    #[default]
    None,
    /// Every call waits for a human's approval: the server-side approver if one is configured,
    /// else the client's user through elicitation. `approval = "required"`.
    Required,
    /// Every call waits for the server-side approver ([`crate::approval::Approver`]), never for
    /// the calling client: for calls the client must not be able to approve itself. Without an
    /// approver configured, every call is denied. `approval = "out_of_band"`.
    OutOfBand,
}

impl Approval {
    /// Whether a call waits for approval at all.
    pub fn is_required(self) -> bool {
        self != Approval::None
    }
}

/// The policy of a tool, resource or prompt. Empty by default: with authorization enabled, an
/// item that declares no policy is denied (fail closed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Scopes the caller's token must carry (all of them).
    pub scopes: Vec<String>,
    /// Roles of which the caller must have one.
    pub roles: Vec<String>,
    /// Whether a human must approve each call.
    pub approval: Approval,
    /// Calls per principal.
    pub rate_limit: Option<RateLimit>,
    /// Calls at once.
    pub max_concurrency: Option<u32>,
    /// How long a call may run.
    pub timeout: Option<Duration>,
    /// Largest arguments, in bytes of JSON.
    pub max_argument_bytes: Option<usize>,
    /// Largest result, in bytes of JSON.
    pub max_result_bytes: Option<usize>,
    /// Arguments never to write to logs or audit records.
    pub sensitive: Vec<String>,
    /// Whether the item declared a policy at all (`public` counts as one).
    pub declared: bool,
}

impl Policy {
    /// A policy that declares the item open to every authenticated caller.
    pub fn public() -> Self {
        Policy {
            declared: true,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            RateLimit::parse("10/min"),
            Some(RateLimit {
                requests: 10,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(RateLimit::parse("0/s"), None);
        assert_eq!(RateLimit::parse("10/fortnight"), None);
        assert_eq!(RateLimit::parse("ten/s"), None);
    }
}
