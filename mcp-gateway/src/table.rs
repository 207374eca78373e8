//! The effective table of a configuration (`mcp-gateway check FILE`): for each kind of caller
//! the rules name (a role, a scope set, a set of claims, a caller with all a rule asks for at
//! once, and a caller with none of them) and each environment, which tools are listed, callable,
//! and need approval; then the warnings: no tool callable by anyone, names several upstreams
//! serve, rules that match no served item, filters that apply to none, names clients drop.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use mcp_client::host::Host;
use mcp_server::access::ItemKind;
use mcp_server::{Approval, Identity};

use crate::config::Config;
use crate::rules::{Policy, RuleSet, Verdict};

/// A kind of caller the rules tell apart, and a label for it.
fn personas(config: &Config) -> Vec<(String, Option<Identity>)> {
    let mut out: Vec<(String, Option<Identity>)> = vec![("anonymous".into(), None)];
    let mut seen = BTreeSet::new();
    let mut push = |label: String, id: Identity| {
        if seen.insert(label.clone()) {
            out.push((label, Some(id)));
        }
    };
    if let Some(front) = &config.front.identity {
        push(
            format!("identity {}", front.subject),
            Identity::configured(front.subject.clone())
                .with_roles(front.roles.clone())
                .with_scopes(front.scopes.clone())
                .with_claims(front.claims.clone()),
        );
    }
    for rule in &config.rules {
        for role in &rule.roles {
            push(
                format!("role {role}"),
                Identity::configured("caller").with_roles([role]),
            );
        }
        if !rule.scopes.is_empty() {
            push(
                format!("scopes {}", rule.scopes.join(" ")),
                Identity::configured("caller").with_scopes(rule.scopes.clone()),
            );
        }
        if !rule.claims.is_empty() {
            let claims: serde_json::Map<String, serde_json::Value> = rule
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let label = rule
                .claims
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let mut id = Identity::configured("caller").with_claims(claims);
            id = id.with_roles(rule.roles.clone());
            push(format!("claims {label}"), id);
        }
    }
    // A caller with everything a rule asks for at once (a role and scopes, scopes and claims,
    // a claim naming the environment), which none of the callers above may be.
    let environments: Vec<serde_json::Value> = config
        .upstreams
        .values()
        .filter_map(|u| u.environment.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(serde_json::Value::String)
        .collect();
    for rule in &config.rules {
        let conditions = usize::from(!rule.roles.is_empty())
            + usize::from(!rule.scopes.is_empty())
            + usize::from(!rule.claims.is_empty())
            + usize::from(rule.environment_claim.is_some());
        if conditions < 2 && rule.environment_claim.is_none() {
            continue;
        }
        let mut label = Vec::new();
        let mut id = Identity::configured("caller");
        if let Some(role) = rule.roles.first() {
            label.push(format!("role {role}"));
            id = id.with_roles([role]);
        }
        if !rule.scopes.is_empty() {
            label.push(format!("scopes {}", rule.scopes.join(" ")));
            id = id.with_scopes(rule.scopes.clone());
        }
        let mut claims: serde_json::Map<String, serde_json::Value> = rule
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        for (k, v) in &rule.claims {
            label.push(format!("claim {k}={v}"));
        }
        if let Some(claim) = &rule.environment_claim {
            label.push(format!("claim {claim}=every environment"));
            claims.insert(
                claim.clone(),
                serde_json::Value::Array(environments.clone()),
            );
        }
        push(label.join(", "), id.with_claims(claims));
    }
    out
}

/// A caller as `check --caller` describes one: comma-separated `subject=NAME`, `role=NAME`,
/// `scope=NAME` and `claim.KEY=VALUE` (each of the last three as often as needed):
/// `role=ops,scope=files:read,claim.tenant=acme`.
pub fn caller(spec: &str) -> Result<Identity, String> {
    let mut subject = "caller".to_owned();
    let (mut roles, mut scopes) = (Vec::new(), Vec::new());
    let mut claims = serde_json::Map::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("`{part}` is not KEY=VALUE"));
        };
        match key {
            "subject" => value.clone_into(&mut subject),
            "role" => roles.push(value.to_owned()),
            "scope" => scopes.push(value.to_owned()),
            _ => match key.strip_prefix("claim.") {
                Some(claim) if !claim.is_empty() => {
                    claims.insert(
                        claim.to_owned(),
                        serde_json::Value::String(value.to_owned()),
                    );
                }
                _ => {
                    return Err(format!(
                        "unknown key `{key}`: expected subject, role, scope or claim.NAME"
                    ));
                }
            },
        }
    }
    Ok(Identity::configured(subject)
        .with_roles(roles)
        .with_scopes(scopes)
        .with_claims(claims))
}

fn approval(a: Approval) -> &'static str {
    match a {
        Approval::None => "no",
        Approval::Required => "required",
        _ => "out of band",
    }
}

/// Renders the table, for the callers the rules name and for `callers` besides (labelled).
pub(crate) fn render(
    config: &Config,
    rules: &RuleSet,
    host: &Host,
    policy: &Policy,
    callers: &[(String, Identity)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "configuration {}: OK", config.file.display());
    for (name, health) in host.health() {
        let env = config
            .upstreams
            .get(&name)
            .and_then(|u| u.environment.clone())
            .unwrap_or_else(|| "-".into());
        let instances = match config.upstreams.get(&name) {
            Some(u) if u.instances == crate::config::Instances::PerPrincipal => format!(
                ", one instance per principal (at most {}, stopped after {} s idle)",
                u.max_instances(),
                u.idle_timeout().as_secs()
            ),
            _ => String::new(),
        };
        let roots = match config.upstreams.get(&name).and_then(|u| u.roots.as_ref()) {
            Some(roots) if roots.is_empty() => ", told it has no roots".to_owned(),
            Some(roots) => format!(", roots {}", roots.join(" ")),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "upstream {name} (environment {env}{instances}{roots}): {health:?}"
        );
    }
    let mut tools = host.tools();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let mut used = vec![false; rules.rules().len()];
    let mut any_callable = false;
    let mut all = personas(config);
    all.extend(
        callers
            .iter()
            .map(|(label, id)| (label.clone(), Some(id.clone()))),
    );
    for (label, identity) in all {
        let _ = writeln!(out, "\ncaller: {label}");
        let width = tools.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(
            out,
            "  {:<width$}  {:<12}  {:<6}  {:<8}  approval",
            "tool", "environment", "listed", "callable"
        );
        for t in &tools {
            let env = policy
                .items
                .read()
                .expect("not poisoned")
                .get(ItemKind::Tool, &t.name)
                .and_then(|s| s.environment.clone())
                .unwrap_or_else(|| "-".into());
            let verdict = policy.verdict(rules, identity.as_ref(), ItemKind::Tool, &t.name);
            let (yes, appr) = match &verdict {
                Verdict::Allow {
                    approval: a,
                    rules: r,
                } => {
                    for &i in r {
                        used[i] = true;
                    }
                    any_callable = true;
                    ("yes", approval(*a))
                }
                Verdict::Deny { rule, .. } => {
                    if let Some(i) = rule {
                        used[*i] = true;
                    }
                    ("no", "-")
                }
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {:<12}  {:<6}  {:<8}  {}",
                t.name, env, yes, yes, appr
            );
        }
    }
    if !tools.is_empty() && !any_callable {
        let _ = writeln!(
            out,
            "\nwarning: no caller above may call any tool: no rule, no access (add a `[[rules]]` \
             that allows them)"
        );
    }
    // Names several upstreams serve (kept names): left out of the lists.
    for c in host.collisions() {
        let _ = writeln!(
            out,
            "\nwarning: {} `{}` is served by {}: it is left out of the lists (`naming = \
             \"prefixed\"` names each upstream's apart)",
            format!("{:?}", c.kind).to_lowercase(),
            c.name,
            c.upstreams.join(" and ")
        );
    }
    // Rules that match no served item for any caller above.
    let items: Vec<((ItemKind, String), crate::rules::Served)> = policy
        .items
        .read()
        .expect("not poisoned")
        .iter()
        .map(|(kind, name, v)| ((kind, name.to_owned()), v.clone()))
        .collect();
    for (i, rule) in rules.rules().iter().enumerate() {
        if used[i] {
            continue;
        }
        let matches_something = items.iter().any(|((kind, name), served)| {
            let info = crate::rules::ItemInfo {
                kind: match kind {
                    ItemKind::ResourceTemplate => ItemKind::Resource,
                    k => *k,
                },
                name,
                upstream: &served.upstream,
                original: &served.original,
                environment: served.environment.as_deref(),
                read_only: true,
            };
            personas(config)
                .iter()
                .any(|(_, id)| rule.matches(id.as_ref(), &info))
        });
        if !matches_something {
            let _ = writeln!(
                out,
                "\nwarning: rules[{i}] ({}) matches no served item for any caller above",
                rule.rule().effect
            );
        }
    }
    // Tool names some clients drop or refuse: the limit most model providers set, and the
    // characters Claude's check allows (`^[a-zA-Z0-9_-]{1,64}$`).
    for t in &tools {
        let len = t.name.chars().count();
        if len > mcp_client::host::TOOL_NAME_WARN_LENGTH {
            let _ = writeln!(
                out,
                "\nwarning: tool `{}` is {len} characters long: some clients drop names over {} (a shorter separator or upstream name shortens it)",
                t.name,
                mcp_client::host::TOOL_NAME_WARN_LENGTH
            );
        }
        if !t
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            let _ = writeln!(
                out,
                "\nwarning: tool `{}` has characters other than letters, digits, `_` and `-`: some clients refuse it",
                t.name
            );
        }
    }
    // Filters that apply to no served item.
    for (i, f) in config.filters.iter().enumerate() {
        let applies = items
            .iter()
            .any(|((kind, name), served)| crate::filters::covers(f, *kind, name, served));
        if !applies {
            let _ = writeln!(
                out,
                "\nwarning: filters[{i}] ({}) applies to no served item",
                f.name
            );
        }
    }
    out
}
