//! Protocol versions, their eras, and what each one lacks.
//!
//! A server that answers a peer must not send it a field or method its version does not know;
//! [`ProtocolVersion::supports`] is the table the runtime consults to refuse or strip them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The two eras of MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Era {
    /// The handshake era (2024-11-05 to 2025-11-25): `initialize`, then a session.
    Legacy,
    /// The stateless era (2026-07-28 on): every request carries its version and capabilities in `_meta`.
    Modern,
}

/// A released protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// 2024-11-05, the first release.
    V2024_11_05,
    /// 2025-03-26: Streamable HTTP, tool annotations, audio, completions capability.
    V2025_03_26,
    /// 2025-06-18: structured tool output, elicitation, resource links, titles.
    V2025_06_18,
    /// 2025-11-25: icons, URL elicitation, sampling with tools, experimental tasks.
    V2025_11_25,
    /// 2026-07-28: the stateless revision.
    V2026_07_28,
}

/// A feature whose presence depends on the protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// JSON-RPC batches (2025-03-26 only; this crate never sends them).
    JsonRpcBatch,
    /// The Streamable HTTP transport (2025-03-26 on; 2024-11-05 has HTTP+SSE).
    StreamableHttp,
    /// Audio content blocks.
    AudioContent,
    /// Tool annotations (`readOnlyHint`, ...).
    ToolAnnotations,
    /// The `completions` server capability.
    CompletionsCapability,
    /// `message` on progress notifications.
    ProgressMessage,
    /// `outputSchema` and `structuredContent`.
    StructuredOutput,
    /// Form-mode elicitation (`elicitation/create`).
    Elicitation,
    /// `resource_link` content blocks.
    ResourceLink,
    /// `title` on tools, resources, prompts and implementations; `_meta` on definitions.
    Titles,
    /// `context` on completion requests.
    CompletionContext,
    /// Icons on implementations, tools, resources and prompts, and `websiteUrl`/`description` on
    /// implementations.
    Icons,
    /// URL-mode elicitation and `notifications/elicitation/complete`.
    UrlElicitation,
    /// Default values and titled/multi-select enums in elicitation schemas.
    ElicitationEnumsAndDefaults,
    /// Tools in sampling (`tools`, `toolChoice`, `tool_use` and `tool_result` content).
    SamplingTools,
    /// The experimental tasks of 2025-11-25 (`tasks/*`, `execution.taskSupport`, `task` params).
    LegacyTasks,
    /// The `initialize` handshake, `ping`, sessions, and server-to-client requests.
    Handshake,
    /// `logging/setLevel`.
    SetLogLevel,
    /// `resources/subscribe` and `resources/unsubscribe`.
    ResourceSubscribe,
    /// `server/discover`.
    Discover,
    /// Per-request `_meta` with protocol version and client capabilities.
    RequestMeta,
    /// `resultType` on results, and multi-round-trip requests (`input_required`).
    MultiRoundTrip,
    /// Cache hints (`ttlMs`, `cacheScope`) on list and read results.
    CacheHints,
    /// `subscriptions/listen`.
    SubscriptionsListen,
    /// `extensions` in capabilities (and with it the tasks extension).
    Extensions,
}

impl ProtocolVersion {
    /// Every released version, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2026_07_28,
    ];

    /// The legacy versions, newest first (the order a server prefers them in).
    pub const LEGACY: [ProtocolVersion; 4] = [
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2024_11_05,
    ];

    /// The newest version.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2026_07_28;

    /// The newest legacy version.
    pub const LATEST_LEGACY: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// The version string, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// The version named by `s`, if it is one this crate knows.
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The era the version belongs to.
    pub const fn era(self) -> Era {
        match self {
            ProtocolVersion::V2026_07_28 => Era::Modern,
            _ => Era::Legacy,
        }
    }

    /// Whether a peer speaking this version knows `feature`.
    pub const fn supports(self, feature: Feature) -> bool {
        use ProtocolVersion as V;
        let (since, until) = match feature {
            Feature::JsonRpcBatch => (V::V2025_03_26, V::V2025_03_26),
            Feature::StreamableHttp
            | Feature::AudioContent
            | Feature::ToolAnnotations
            | Feature::CompletionsCapability
            | Feature::ProgressMessage => (V::V2025_03_26, V::V2026_07_28),
            Feature::StructuredOutput
            | Feature::Elicitation
            | Feature::ResourceLink
            | Feature::Titles
            | Feature::CompletionContext => (V::V2025_06_18, V::V2026_07_28),
            Feature::Icons
            | Feature::UrlElicitation
            | Feature::ElicitationEnumsAndDefaults
            | Feature::SamplingTools => (V::V2025_11_25, V::V2026_07_28),
            Feature::LegacyTasks => (V::V2025_11_25, V::V2025_11_25),
            Feature::Handshake | Feature::SetLogLevel | Feature::ResourceSubscribe => {
                (V::V2024_11_05, V::V2025_11_25)
            }
            Feature::Discover
            | Feature::RequestMeta
            | Feature::MultiRoundTrip
            | Feature::CacheHints
            | Feature::SubscriptionsListen
            | Feature::Extensions => (V::V2026_07_28, V::V2026_07_28),
        };
        (self as u8) >= (since as u8) && (self as u8) <= (until as u8)
    }

    /// The legacy version a server answers an `initialize` for `requested` with: the same version
    /// when it is a legacy version this crate knows, else the newest legacy version (the client
    /// then decides whether it can go on).
    pub fn negotiate_legacy(requested: &str) -> ProtocolVersion {
        match Self::parse(requested) {
            Some(v) if v.era() == Era::Legacy => v,
            _ => Self::LATEST_LEGACY,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that is not a released protocol version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol version `{0}`")]
pub struct UnknownVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(UnknownVersion(s.into_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_changelogs() {
        use ProtocolVersion as V;
        assert!(!V::V2024_11_05.supports(Feature::AudioContent));
        assert!(V::V2025_03_26.supports(Feature::AudioContent));
        assert!(!V::V2025_03_26.supports(Feature::StructuredOutput));
        assert!(!V::V2025_03_26.supports(Feature::Elicitation));
        assert!(V::V2025_06_18.supports(Feature::Elicitation));
        assert!(!V::V2025_06_18.supports(Feature::Icons));
        assert!(!V::V2025_06_18.supports(Feature::LegacyTasks));
        assert!(V::V2025_11_25.supports(Feature::LegacyTasks));
        assert!(!V::V2026_07_28.supports(Feature::LegacyTasks));
        assert!(!V::V2026_07_28.supports(Feature::Handshake));
        assert!(V::V2026_07_28.supports(Feature::Discover));
        assert!(!V::V2025_11_25.supports(Feature::Discover));
    }

    #[test]
    fn negotiation_echoes_known_legacy_versions() {
        assert_eq!(
            ProtocolVersion::negotiate_legacy("2025-03-26"),
            ProtocolVersion::V2025_03_26
        );
        assert_eq!(
            ProtocolVersion::negotiate_legacy("2099-01-01"),
            ProtocolVersion::V2025_11_25
        );
        assert_eq!(
            ProtocolVersion::negotiate_legacy("2026-07-28"),
            ProtocolVersion::V2025_11_25
        );
    }
}
