//! `[[filters]]`: result filters of the configuration, compiled onto [`mcp_server::filter`].
//!
//! Each entry is one rule (or, for a group of built-in detectors, one rule per detector) of
//! the front server's [`Filters`]: it applies, through the server's pipeline, to what upstream
//! tools return, upstream resources hold and upstream prompts say, before the caller (and the
//! model) sees it. Items are named as callers see them (namespaced: `fs__read_file`,
//! `fs+file:///a.txt`); an environment is the label of the upstream that serves the item.
//!
//! Whatever does not compile is a [`ConfigError`](crate::ConfigError) naming the file, the line
//! and the key (`filters[2].regex`).

use globset::GlobBuilder;
use mcp_server::access::ItemKind;
use mcp_server::filter::{Action, Detector, Filters, Rule};

use crate::config::{FilterRule, Seg, key};
use crate::rules::Served;

/// An error at a key path, for [`Source::error`](crate::config::Source::error).
pub(crate) type KeyError = (Vec<Seg>, String);

/// The matcher keys of a filter rule, one of which is given.
const MATCHERS: [&str; 4] = ["detector", "regex", "pointer", "max_bytes"];

/// The built-in detectors a `detector` value names: one by name, or a group.
fn detectors(name: &str) -> Option<Vec<Detector>> {
    match name {
        "all" => Some(Detector::ALL.to_vec()),
        "secrets" => Some(Detector::SECRETS.to_vec()),
        "personal" => Some(Detector::PERSONAL.to_vec()),
        _ => Detector::ALL
            .iter()
            .find(|d| d.name() == name)
            .map(|d| vec![*d]),
    }
}

fn detector_names() -> String {
    Detector::ALL
        .iter()
        .map(|d| format!("`{}`", d.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rules of `[[filters]]`, in order (a group of detectors expanded), or the first error.
pub(crate) fn rules(filters: &[FilterRule]) -> Result<Vec<Rule>, KeyError> {
    let mut out: Vec<Rule> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, f) in filters.iter().enumerate() {
        let at = |k: &str| vec![key("filters"), Seg::Index(i), key(k)];
        let given: Vec<&str> = MATCHERS
            .iter()
            .copied()
            .filter(|m| match *m {
                "detector" => f.detector.is_some(),
                "regex" => f.regex.is_some(),
                "pointer" => f.pointer.is_some(),
                _ => f.max_bytes.is_some(),
            })
            .collect();
        match given.as_slice() {
            [_] => {}
            [] => {
                return Err((
                    vec![key("filters"), Seg::Index(i)],
                    "give one of `detector`, `regex`, `pointer` or `max_bytes`".into(),
                ));
            }
            [_, second, ..] => {
                return Err((
                    at(second),
                    format!("give one of `{}`, not several", given.join("`, `")),
                ));
            }
        }
        if f.name.is_empty() {
            return Err((at("name"), "is empty".into()));
        }
        let mut expanded: Vec<Rule> = if let Some(d) = &f.detector {
            let Some(found) = detectors(d) else {
                return Err((
                    at("detector"),
                    format!(
                        "unknown detector `{d}`: expected one of {}, or a group: `secrets`, `personal`, `all`",
                        detector_names()
                    ),
                ));
            };
            let group = found.len() > 1 || d.as_str() != found[0].name();
            found
                .into_iter()
                .map(|det| {
                    let mut r = Rule::detector(det, f.action);
                    // A group's rules are told apart by their detector: `pii.email`.
                    r.name = if group {
                        format!("{}.{}", f.name, det.name())
                    } else {
                        f.name.clone()
                    };
                    r
                })
                .collect()
        } else if let Some(p) = &f.regex {
            vec![Rule::regex(&f.name, p, f.action)]
        } else if let Some(p) = &f.pointer {
            vec![Rule::pointer(&f.name, p, f.action)]
        } else {
            vec![Rule::max_bytes(&f.name, f.max_bytes.unwrap_or_default()).action(f.action)]
        };
        // The matcher and the action alone, so that an error names its key.
        for r in &expanded {
            if let Err(e) = Filters::new([r.clone()]) {
                // Truncation is for size caps only, and a size cap truncates or blocks: when
                // those do not fit, the action is at fault; otherwise the matcher is.
                let k = match (given[0], f.action) {
                    ("max_bytes", Action::Truncate | Action::Block) => "max_bytes",
                    ("max_bytes", _) | (_, Action::Truncate) => "action",
                    (matcher, _) => matcher,
                };
                return Err((at(k), e.reason));
            }
        }
        for (k, globs) in [
            ("upstreams", Some(f.upstreams.as_slice())),
            ("tools", f.tools.as_deref()),
            ("resources", f.resources.as_deref()),
            ("prompts", f.prompts.as_deref()),
        ] {
            for (j, g) in globs.into_iter().flatten().enumerate() {
                if let Err(e) = GlobBuilder::new(g).literal_separator(false).build() {
                    let mut path = at(k);
                    path.push(Seg::Index(j));
                    return Err((path, format!("the glob `{g}` does not compile: {e}")));
                }
            }
        }
        for r in &mut expanded {
            if !names.insert(r.name.clone()) {
                return Err((
                    at("name"),
                    format!("two filter rules are named `{}`", r.name),
                ));
            }
            r.scope.tools.clone_from(&f.tools);
            r.scope.resources.clone_from(&f.resources);
            r.scope.prompts.clone_from(&f.prompts);
            r.scope.roles.clone_from(&f.roles);
            r.scope.except_roles.clone_from(&f.except_roles);
            r.scope.scopes.clone_from(&f.scopes);
            r.scope.except_scopes.clone_from(&f.except_scopes);
            r.scope.environments.clone_from(&f.environments);
            r.scope.upstreams.clone_from(&f.upstreams);
        }
        out.extend(expanded);
    }
    Ok(out)
}

/// The compiled filters of `[[filters]]`, or the first error; `None` when there are none.
pub(crate) fn compile(filters: &[FilterRule]) -> Result<Option<Filters>, KeyError> {
    if filters.is_empty() {
        return Ok(None);
    }
    let rules = rules(filters)?;
    Filters::new(rules)
        .map(Some)
        .map_err(|e| (vec![key("filters")], e.to_string()))
}

/// Whether the rule `f` of `[[filters]]` applies to an item (kind, namespaced name or URI, how
/// its upstream serves it) for some caller: what `mcp-gateway check` warns about when no
/// served item is.
pub(crate) fn covers(f: &FilterRule, kind: ItemKind, name: &str, served: &Served) -> bool {
    let matches = |g: &String, s: &str| {
        GlobBuilder::new(g)
            .literal_separator(false)
            .build()
            .is_ok_and(|g| g.compile_matcher().is_match(s))
    };
    // With `upstreams`, by the item's upstream and its name there.
    let name = if f.upstreams.is_empty() {
        name
    } else if f.upstreams.iter().any(|g| matches(g, &served.upstream)) {
        served.original.as_str()
    } else {
        return false;
    };
    let environment = served.environment.as_deref();
    let named = if f.tools.is_none() && f.resources.is_none() && f.prompts.is_none() {
        true
    } else {
        let globs = match kind {
            ItemKind::Tool => &f.tools,
            ItemKind::Prompt => &f.prompts,
            _ => &f.resources,
        };
        globs.iter().flatten().any(|g| matches(g, name))
    };
    // An item without a label gets every rule (fails closed).
    named
        && (f.environments.is_empty()
            || environment.is_none_or(|e| f.environments.iter().any(|x| x == e)))
}
