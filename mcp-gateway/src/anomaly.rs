//! Anomaly flags, per principal, raised when a tool call is admitted:
//!
//! - **rate**: the principal's calls in the last minute exceed `rate_factor` times its average
//!   minute over the baseline period (and number at least `rate_min_calls`);
//! - **first destructive**: the principal's first call of a tool whose annotations say it may
//!   destroy (not read-only, `destructiveHint` not false);
//! - **sequence**: a call of a tool tagged `then` within `within_secs` of a call of a tool
//!   tagged `first`.
//!
//! Each raised flag is an audit record (a decision with the reason `anomaly_<flag>`) and a metric
//! (`mcp_gateway_anomalies_total{flag}`), and by configuration holds the call for approval or
//! denies it.
//!
//! The history is this process's, not shared with other replicas through the store: each
//! replica flags what it sees of a principal's calls. A rate flag compares a replica's share of
//! the calls with its share of the baseline (the same ratio under even load balancing); a first
//! destructive call or a sequence split across replicas goes unflagged. The flags decide an
//! approval synchronously, at the moment access is decided, which a store's round trip would
//! hold up.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio::time::Instant;

use crate::config::{AnomalyConfig, FlagAction, Seg, TagConfig, key};

/// Principals beyond which the least recently seen are forgotten.
const MAX_PRINCIPALS: usize = 10_000;
/// Calls remembered per principal for the rate baseline.
const MAX_CALLS: usize = 100_000;

/// A raised flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// `rate`, `first_destructive` or `sequence`.
    pub name: &'static str,
    /// What it does to the call.
    pub action: FlagAction,
}

impl Flag {
    /// The audit reason and `data.reason`: `anomaly_<name>`.
    pub fn reason(&self) -> &'static str {
        match self.name {
            "rate" => "anomaly_rate",
            "first_destructive" => "anomaly_first_destructive",
            _ => "anomaly_sequence",
        }
    }
}

#[derive(Default)]
struct Seen {
    calls: VecDeque<Instant>,
    first: Option<Instant>,
    destructive_used: HashSet<String>,
    last_tagged: HashMap<String, Instant>,
    last: Option<Instant>,
}

/// The flags' configuration and each principal's history.
pub struct Detector {
    config: AnomalyConfig,
    tags: Vec<(String, TagMatcher)>,
    principals: Mutex<HashMap<String, Seen>>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").finish_non_exhaustive()
    }
}

type ConfigPathError = (Vec<Seg>, String);

impl Detector {
    /// Checks and compiles `[anomaly]`, or names the key that is wrong.
    pub(crate) fn new(config: &AnomalyConfig) -> Result<Detector, ConfigPathError> {
        let at = |k: &str| vec![key("anomaly"), key(k)];
        if config.rate_factor.is_nan() || config.rate_factor <= 1.0 {
            return Err((at("rate_factor"), "must be greater than 1".into()));
        }
        if config.rate_baseline_mins < 2 {
            return Err((at("rate_baseline_mins"), "must be at least 2".into()));
        }
        let mut tags = Vec::new();
        for (tag, spec) in &config.tags {
            let set = |field: Option<&str>, patterns: &[String]| {
                let at = |i: Option<usize>| {
                    let mut path = vec![key("anomaly"), key("tags"), key(tag)];
                    path.extend(field.map(key));
                    path.extend(i.map(Seg::Index));
                    path
                };
                let mut b = GlobSetBuilder::new();
                for (i, p) in patterns.iter().enumerate() {
                    let glob = Glob::new(p)
                        .map_err(|e| (at(Some(i)), format!("bad pattern `{p}`: {}", e.kind())))?;
                    b.add(glob);
                }
                b.build().map_err(|e| (at(None), e.to_string()))
            };
            let matcher = match spec {
                TagConfig::Tools(patterns) => TagMatcher::Names(set(None, patterns)?),
                TagConfig::Upstreams { upstreams, tools } => TagMatcher::Upstreams {
                    upstreams: set(Some("upstreams"), upstreams)?,
                    tools: (!tools.is_empty())
                        .then(|| set(Some("tools"), tools))
                        .transpose()?,
                },
            };
            tags.push((tag.clone(), matcher));
        }
        for (i, s) in config.sequences.iter().enumerate() {
            for (field, tag) in [("first", &s.first), ("then", &s.then)] {
                if !config.tags.contains_key(tag) {
                    return Err((
                        vec![key("anomaly"), key("sequences"), Seg::Index(i), key(field)],
                        format!("no tag `{tag}` in [anomaly.tags]"),
                    ));
                }
            }
        }
        Ok(Detector {
            config: config.clone(),
            tags,
            principals: Mutex::new(HashMap::new()),
        })
    }

    /// The tags of a tool (its namespaced name, and its upstream and name there when known).
    fn tags_of(&self, tool: &Tool<'_>) -> Vec<&str> {
        self.tags
            .iter()
            .filter(|(_, m)| match m {
                TagMatcher::Names(set) => set.is_match(tool.name),
                TagMatcher::Upstreams { upstreams, tools } => {
                    tool.origin.is_some_and(|(upstream, original)| {
                        upstreams.is_match(upstream)
                            && tools.as_ref().is_none_or(|t| t.is_match(original))
                    })
                }
            })
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// Records a call of `tool` by `principal` at `now` and returns the flags it raises.
    pub fn check(&self, principal: &str, tool: &Tool<'_>, now: Instant) -> Vec<Flag> {
        let c = &self.config;
        let mut principals = self.principals.lock().expect("not poisoned");
        if principals.len() >= MAX_PRINCIPALS && !principals.contains_key(principal) {
            // Forget the principal seen least recently.
            if let Some(oldest) = principals
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone())
            {
                principals.remove(&oldest);
            }
        }
        let seen = principals.entry(principal.to_owned()).or_default();
        let mut flags = Vec::new();

        // Rate: the last minute against the average minute before it.
        let baseline = Duration::from_secs(c.rate_baseline_mins * 60);
        let minute = Duration::from_secs(60);
        while seen
            .calls
            .front()
            .is_some_and(|t| now.duration_since(*t) > baseline)
        {
            seen.calls.pop_front();
        }
        seen.calls.push_back(now);
        if seen.calls.len() > MAX_CALLS {
            seen.calls.pop_front();
        }
        let first = *seen.first.get_or_insert(now);
        let history = now.duration_since(first).min(baseline);
        if history >= 2 * minute {
            let recent = seen
                .calls
                .iter()
                .filter(|t| now.duration_since(**t) <= minute)
                .count();
            let before = seen.calls.len() - recent;
            let minutes_before = (history - minute).as_secs_f64() / 60.0;
            let average = before as f64 / minutes_before;
            if recent >= c.rate_min_calls && recent as f64 > c.rate_factor * average {
                flags.push(Flag {
                    name: "rate",
                    action: c.rate_action,
                });
            }
        }

        // The first call of a destructive tool.
        if tool.destructive && seen.destructive_used.insert(tool.name.to_owned()) {
            flags.push(Flag {
                name: "first_destructive",
                action: c.first_destructive_action,
            });
        }

        // Sequences.
        let tags = self.tags_of(tool);
        for s in &c.sequences {
            if tags.contains(&s.then.as_str())
                && seen
                    .last_tagged
                    .get(&s.first)
                    .is_some_and(|t| now.duration_since(*t) <= Duration::from_secs(s.within_secs))
            {
                flags.push(Flag {
                    name: "sequence",
                    action: s.action,
                });
            }
        }
        for tag in tags {
            seen.last_tagged.insert(tag.to_owned(), now);
        }
        seen.last = Some(now);
        flags
    }
}

/// A tool being called, as the flags see it.
#[derive(Debug, Clone, Copy)]
pub struct Tool<'a> {
    /// Its namespaced name.
    pub name: &'a str,
    /// Its upstream and its name there, when known.
    pub origin: Option<(&'a str, &'a str)>,
    /// Whether its annotations say it may destroy.
    pub destructive: bool,
}

/// What a tag covers, compiled.
enum TagMatcher {
    Names(GlobSet),
    Upstreams {
        upstreams: GlobSet,
        tools: Option<GlobSet>,
    },
}

/// The strongest action of raised flags.
pub(crate) fn strongest(flags: &[Flag]) -> FlagAction {
    let rank = |a: FlagAction| match a {
        FlagAction::Audit => 0,
        FlagAction::Approval => 1,
        FlagAction::Deny => 2,
    };
    flags
        .iter()
        .map(|f| f.action)
        .max_by_key(|a| rank(*a))
        .unwrap_or(FlagAction::Audit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SequenceConfig;

    fn config() -> AnomalyConfig {
        AnomalyConfig {
            rate_factor: 3.0,
            rate_min_calls: 5,
            rate_baseline_mins: 10,
            rate_action: FlagAction::Deny,
            first_destructive_action: FlagAction::Approval,
            tags: [
                (
                    "secret".to_owned(),
                    TagConfig::Tools(vec!["vault__*".to_owned()]),
                ),
                (
                    "egress".to_owned(),
                    TagConfig::Upstreams {
                        upstreams: vec!["web".to_owned()],
                        tools: vec!["post".to_owned()],
                    },
                ),
            ]
            .into(),
            sequences: vec![SequenceConfig {
                first: "secret".into(),
                then: "egress".into(),
                within_secs: 600,
                action: FlagAction::Deny,
            }],
        }
    }

    /// A tool by its namespaced name (`up__name`: its upstream and its name there).
    fn tool(name: &str, destructive: bool) -> Tool<'_> {
        Tool {
            name,
            origin: name.split_once("__"),
            destructive,
        }
    }

    fn names(flags: &[Flag]) -> Vec<&'static str> {
        flags.iter().map(|f| f.name).collect()
    }

    #[test]
    fn a_rate_far_above_the_principals_own_baseline_is_flagged() {
        let d = Detector::new(&config()).unwrap();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // One call a minute for five minutes: the baseline.
        for m in 0..5 {
            assert!(d.check("alice", &tool("t", false), at(m * 60)).is_empty());
        }
        // Then a burst: the fifth call within a minute (5 > 3 x 1) raises the flag.
        let burst: Vec<Vec<&str>> = (0..5)
            .map(|i| names(&d.check("alice", &tool("t", false), at(300 + 1 + i))))
            .collect();
        assert_eq!(burst[..3], [Vec::<&str>::new(), vec![], vec![]]);
        assert_eq!(burst[4], ["rate"]);
        // Another principal has its own baseline: a newcomer is never flagged for rate.
        for i in 0..10 {
            assert!(d.check("bob", &tool("t", false), at(300 + i)).is_empty());
        }
    }

    #[test]
    fn the_first_destructive_call_and_a_sequence_are_flagged() {
        let d = Detector::new(&config()).unwrap();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            names(&d.check("alice", &tool("fs__rm", true), at(0))),
            ["first_destructive"]
        );
        assert!(d.check("alice", &tool("fs__rm", true), at(1)).is_empty());
        assert_eq!(
            names(&d.check("bob", &tool("fs__rm", true), at(2))),
            ["first_destructive"]
        );
        // egress alone is fine; after a secret, within 10 minutes, it is flagged; later not.
        assert!(
            d.check("alice", &tool("web__post", false), at(3))
                .is_empty()
        );
        assert!(
            d.check("alice", &tool("vault__read", false), at(4))
                .is_empty()
        );
        let flags = d.check("alice", &tool("web__post", false), at(5));
        assert_eq!(names(&flags), ["sequence"]);
        assert_eq!(strongest(&flags), FlagAction::Deny);
        assert!(d.check("bob", &tool("web__post", false), at(6)).is_empty());
        assert!(
            d.check("alice", &tool("web__post", false), at(4 + 601))
                .is_empty()
        );
        // The egress tag covers the upstream `web`'s `post` by its name there: a tool of that
        // name elsewhere, or one whose upstream is unknown, is not tagged.
        assert!(
            d.check("carol", &tool("vault__read", false), at(10))
                .is_empty()
        );
        assert!(
            d.check("carol", &tool("mail__post", false), at(11))
                .is_empty()
        );
        let unknown = Tool {
            name: "web__post",
            origin: None,
            destructive: false,
        };
        assert!(d.check("carol", &unknown, at(12)).is_empty());
        assert_eq!(
            names(&d.check("carol", &tool("web__post", false), at(13))),
            ["sequence"]
        );
    }

    #[test]
    fn bad_configurations_name_their_key() {
        let mut c = config();
        c.sequences[0].then = "exfil".into();
        let (path, message) = Detector::new(&c).unwrap_err();
        assert_eq!(crate::config::key_path(&path), "anomaly.sequences[0].then");
        assert_eq!(message, "no tag `exfil` in [anomaly.tags]");
        let mut c = config();
        c.rate_factor = 0.5;
        let (path, _) = Detector::new(&c).unwrap_err();
        assert_eq!(crate::config::key_path(&path), "anomaly.rate_factor");
    }
}
