//! `mcp-gateway import FILE`: the MCP servers of a host's JSON configuration as the upstreams of
//! a gateway configuration (TOML), with a starting rule.
//!
//! Reads the shapes hosts write: `mcpServers` (Claude Desktop, Claude Code's `.mcp.json`,
//! Cursor, Windsurf) and `servers` (VS Code's `.vscode/mcp.json`). Each server keeps its fields
//! (`command`, `args`, `env`, `cwd`; `url`, `headers`); VS Code's `${env:NAME}` becomes the
//! gateway's `${NAME}`. What the gateway cannot take over is said in a comment: a disabled
//! server, VS Code's `${input:...}` prompts and `envFile`, a name holding the separator.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

/// One server of a host's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostServer {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    env_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostConfig {
    #[serde(default)]
    mcp_servers: Option<BTreeMap<String, HostServer>>,
    #[serde(default)]
    servers: Option<BTreeMap<String, HostServer>>,
}

/// A TOML string, quoted and escaped.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// The variables VS Code fills itself (`${workspaceFolder}`): not environment variables.
const EDITOR_VARIABLES: [&str; 7] = [
    "workspaceFolder",
    "workspaceFolderBasename",
    "userHome",
    "cwd",
    "file",
    "pathSeparator",
    "/",
];

/// A host's value with VS Code's `${env:NAME}` as the gateway's `${NAME}`; the names of the
/// `${input:...}` prompts and other variables it holds, which the gateway cannot fill, are added
/// to `unfilled`.
fn value(s: &str, unfilled: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let body = &rest[i + 2..];
        let Some(end) = body.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = &body[..end];
        match name.strip_prefix("env:") {
            Some(var) => {
                out.push_str("${");
                out.push_str(var);
                out.push('}');
            }
            None => {
                if EDITOR_VARIABLES.contains(&name)
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    unfilled.push(format!("${{{name}}}"));
                }
                out.push_str(&rest[i..i + 2 + end + 1]);
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

fn string_list(items: &[String], unfilled: &mut Vec<String>) -> String {
    let items: Vec<String> = items.iter().map(|a| quoted(&value(a, unfilled))).collect();
    format!("[{}]", items.join(", "))
}

fn table(map: &BTreeMap<String, String>, unfilled: &mut Vec<String>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), quoted(&value(v, unfilled))))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// `name` as a valid upstream name that `taken` does not hold: each character other than an
/// ASCII letter, digit or `-` becomes `-` (or is left out, when the separator holds `-`), the
/// separator is left out (and any end that would make one with it), a name not starting with a
/// letter gets `mcp-` before it, and a name taken already gets `-2`, `-3`, ... after it.
fn upstream_name(
    name: &str,
    separator: &str,
    taken: &std::collections::BTreeSet<String>,
) -> String {
    let dash = !separator.contains('-');
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || (c == '-' && dash) {
            out.push(c);
        } else if dash && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    // Neither in the name nor where the name and the separator meet: the namespaced name splits
    // at the first separator.
    while !crate::config::splits_after(&out, separator) {
        if out.contains(separator) {
            out = out.replace(separator, "");
        } else {
            out.pop();
        }
    }
    if out.is_empty() {
        out.push_str("server");
    } else if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, if dash { "mcp-" } else { "mcp" });
    }
    let base = out.clone();
    let mut n = 2;
    while taken.contains(&out) {
        out = if dash {
            format!("{base}-{n}")
        } else {
            format!("{base}{n}")
        };
        n += 1;
    }
    out
}

/// The gateway configuration (TOML) that serves the servers of `json`, a host's configuration
/// read from `source` (named in the header), with `separator` between upstream and item names.
pub fn import(json: &str, source: &str, separator: &str) -> Result<String, String> {
    let host: HostConfig = serde_json::from_str(json)
        .map_err(|e| format!("{source}: not a host configuration: {e}"))?;
    let servers = match (host.mcp_servers, host.servers) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => {
            return Err(format!(
                "{source}: no `mcpServers` (Claude Desktop, Claude Code, Cursor) or `servers` (VS Code)"
            ));
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# The MCP servers of {source}, imported by `mcp-gateway import`.\n\
         # Check it with `mcp-gateway check FILE` before serving it. Values were copied as they\n\
         # were: a secret written in it is better taken from the environment (`${{NAME}}`).\n"
    );
    out.push_str("[gateway]\naudit = \"audit.jsonl\"\n");
    if separator != "__" {
        let _ = writeln!(out, "separator = {}", quoted(separator));
    }
    let mut imported = 0;
    let mut taken = std::collections::BTreeSet::new();
    for (name, server) in &servers {
        let mut unfilled = Vec::new();
        let mut notes = Vec::new();
        if server.disabled {
            let _ = writeln!(out, "\n# `{name}` is disabled in {source}: not imported.");
            continue;
        }
        let upstream = upstream_name(name, separator, &taken);
        if upstream != *name {
            notes.push(format!(
                "named `{name}` in {source}: an upstream's name is letters, digits and `-`, \
                 starting with a letter (it becomes part of URI schemes), without the separator \
                 `{separator}`"
            ));
        }
        taken.insert(upstream.clone());
        let mut entry = String::new();
        match (&server.command, &server.url) {
            (Some(command), _) => {
                let _ = writeln!(
                    entry,
                    "command = {}",
                    quoted(&value(command, &mut unfilled))
                );
                if !server.args.is_empty() {
                    let _ = writeln!(entry, "args = {}", string_list(&server.args, &mut unfilled));
                }
                if !server.env.is_empty() {
                    let _ = writeln!(entry, "env = {}", table(&server.env, &mut unfilled));
                }
                if let Some(cwd) = &server.cwd {
                    let _ = writeln!(entry, "cwd = {}", quoted(&value(cwd, &mut unfilled)));
                }
                if let Some(file) = &server.env_file {
                    notes.push(format!(
                        "its variables file `{file}` is not read: set them in `env`"
                    ));
                }
            }
            (None, Some(url)) => {
                let _ = writeln!(entry, "url = {}", quoted(&value(url, &mut unfilled)));
                if !server.headers.is_empty() {
                    let _ = writeln!(entry, "headers = {}", table(&server.headers, &mut unfilled));
                }
                if server.kind.as_deref() == Some("sse") {
                    notes.push(
                        "an HTTP+SSE server: the gateway tries Streamable HTTP, then falls back to it"
                            .to_owned(),
                    );
                }
            }
            (None, None) => {
                let _ = writeln!(
                    out,
                    "\n# `{name}` in {source} has neither `command` nor `url`: not imported."
                );
                continue;
            }
        }
        unfilled.sort();
        unfilled.dedup();
        if !unfilled.is_empty() {
            notes.push(format!(
                "the host fills {} when it starts the server; the gateway does not: replace them \
                 (`${{NAME}}` takes a value from the environment)",
                unfilled.join(", ")
            ));
        }
        out.push('\n');
        for note in &notes {
            let _ = writeln!(out, "# {note}");
        }
        let _ = write!(out, "[upstreams.{}]\n{entry}", key(&upstream));
        imported += 1;
    }
    if imported == 0 {
        return Err(format!("{source}: no server to import"));
    }
    out.push_str(
        "\n# No rule, no access (fail closed). This one lets every caller list and use every item;\n\
         # a call of a tool not annotated read-only waits for a human's approval\n\
         # (`approval_unless_read_only`). Narrow it by `roles`, `scopes` and `environments`.\n\
         [[rules]]\ntools = [\"*\"]\nresources = [\"*\"]\nprompts = [\"*\"]\n",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claude_desktop_configuration_becomes_upstreams_and_a_rule() {
        let json = r#"{"mcpServers": {
            "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"}},
            "remote": {"type": "http", "url": "https://example.com/mcp",
                       "headers": {"Authorization": "Bearer ${API_KEY}"}},
            "old": {"command": "x", "disabled": true}
        }}"#;
        let toml = import(json, "claude_desktop_config.json", "__").unwrap();
        let config = crate::Config::parse("gateway.toml", &toml.replace("${", "$${"))
            .unwrap_or_else(|e| panic!("{e}\n{toml}"));
        assert_eq!(
            config.upstreams.keys().collect::<Vec<_>>(),
            ["github", "remote"]
        );
        let github = &config.upstreams["github"];
        assert_eq!(github.command.as_deref(), Some("npx"));
        assert_eq!(github.args, ["-y", "@modelcontextprotocol/server-github"]);
        assert!(toml.contains(r#"env = { GITHUB_PERSONAL_ACCESS_TOKEN = "${GITHUB_TOKEN}" }"#));
        assert!(toml.contains(r#"headers = { Authorization = "Bearer ${API_KEY}" }"#));
        assert_eq!(
            config.upstreams["remote"].url.as_deref(),
            Some("https://example.com/mcp")
        );
        assert!(toml.contains("`old` is disabled"), "{toml}");
        assert_eq!(config.rules.len(), 1);
    }

    #[test]
    fn a_vs_code_configuration_has_its_variables_translated_or_named() {
        let json = r#"{"inputs": [], "servers": {
            "my__db": {"type": "stdio", "command": "uvx", "args": ["mcp-db", "${workspaceFolder}"],
                       "env": {"DB_URL": "${env:DB_URL}", "PASSWORD": "${input:db-password}"},
                       "envFile": ".env"}
        }}"#;
        let toml = import(json, "mcp.json", "__").unwrap();
        assert!(toml.contains("[upstreams.my-db]"), "{toml}");
        assert!(toml.contains(r#"DB_URL = "${DB_URL}""#), "{toml}");
        assert!(
            toml.contains("${input:db-password}, ${workspaceFolder}"),
            "{toml}"
        );
        assert!(toml.contains("`.env` is not read"), "{toml}");
        assert!(toml.contains("named `my__db` in mcp.json"), "{toml}");
    }

    /// Hosts name servers freely (`brave_search`, `1password`, `my.db`); each becomes an
    /// upstream name the gateway loads, none taken twice, and the output is a configuration
    /// `Config::parse` accepts as it is.
    #[test]
    fn host_names_become_upstream_names_the_gateway_loads() {
        let json = r#"{"mcpServers": {
            "brave_search": {"command": "a"}, "brave-search": {"command": "b"},
            "1password": {"command": "c"}, "my.db": {"command": "d"}, "__": {"command": "e"},
            "ok-name": {"command": "f"}, "trailing_": {"command": "g"}
        }}"#;
        let toml = import(json, "claude_desktop_config.json", "__").unwrap();
        let config =
            crate::Config::parse("gateway.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let names: Vec<_> = config.upstreams.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "brave-search",
                "brave-search-2",
                "mcp-1password",
                "my-db",
                "ok-name",
                "server",
                "trailing"
            ],
            "{toml}"
        );
        assert!(toml.contains("named `brave_search`"), "{toml}");
        assert!(!toml.contains("named `ok-name`"), "{toml}");
        for separator in ["-", "--", "."] {
            let toml = import(json, "x.json", separator).unwrap();
            let config = crate::Config::parse("gateway.toml", &toml)
                .unwrap_or_else(|e| panic!("separator {separator}: {e}\n{toml}"));
            assert_eq!(config.gateway.separator, separator);
            assert_eq!(config.upstreams.len(), 7, "separator {separator}: {toml}");
        }
    }

    #[test]
    fn other_json_is_a_clear_error() {
        assert!(
            import(r#"{"tools": []}"#, "x.json", "__")
                .unwrap_err()
                .contains("no `mcpServers`")
        );
        assert!(
            import("[", "x.json", "__")
                .unwrap_err()
                .starts_with("x.json: not a host configuration")
        );
        assert!(
            import(r#"{"mcpServers": {}}"#, "x.json", "__")
                .unwrap_err()
                .contains("no server to import")
        );
    }
}
