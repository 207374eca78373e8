//! Result filters (`mcp_server::filter`): every built-in detector on realistic samples and
//! near-misses, each action, scoping, structured content after filtering, audit records,
//! failing filters, and rules that do not compile.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use mcp_server::approval::{ApprovalGate, Approvals, ChannelApprover};
use mcp_server::audit::{AuditKind, Decision, MemorySink};
use mcp_server::filter::{
    Action, CustomDetector, Detector, FilterConfig, FilterError, Filters, Rule,
};
use mcp_server::types::*;
use mcp_server::{Audit, Context, Identity, Policy, PromptHandler, ResourceDefinition};
use mcp_server::{ResourceHandler, Server, ToolHandler};
use serde_json::{Value, json};

use crate::support::{Client, modern_meta};

/// A tool that returns its `text` argument as text content.
struct Echo(&'static str);

impl ToolHandler for Echo {
    fn definition(&self) -> Tool {
        let input = json!({ "type": "object", "properties": { "text": { "type": "string" } } });
        let mut tool = Tool::new(self.0, serde_json::from_value(input).expect("an object"));
        tool.annotations = Some(ToolAnnotations {
            read_only_hint: Some(true),
            ..Default::default()
        });
        tool
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let text = args["text"].as_str().unwrap_or_default().to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

/// A tool that returns its `person` argument as structured content (and as JSON text), under
/// an output schema: `email` required and containing `@`, `notes` optional.
struct Person;

impl ToolHandler for Person {
    fn definition(&self) -> Tool {
        let input = json!({ "type": "object", "properties": { "person": { "type": "object" } } });
        let mut tool = Tool::new("person", serde_json::from_value(input).expect("an object"));
        tool.output_schema = Some(
            serde_json::from_value(json!({
                "type": "object",
                "properties": {
                    "email": { "type": "string", "pattern": "@" },
                    "contact": { "type": "string" },
                    "notes": { "type": "string" },
                    "db": { "type": "object" }
                },
                "required": ["email"]
            }))
            .expect("an object"),
        );
        tool
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn call(&self, _cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let person = args["person"].clone();
        let mut result = CallToolResult::success(vec![ContentBlock::text(person.to_string())]);
        result.structured_content = Some(person);
        Ok(result)
    }
}

/// A resource whose text is its URI's `text` part: `notes://{text}` reads "note: {text}".
struct Notes;

impl ResourceHandler for Notes {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "notes://{text}".into(),
            name: "notes".into(),
            ..Default::default()
        })
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn read(
        &self,
        _cx: Context,
        uri: String,
        vars: BTreeMap<String, String>,
    ) -> mcp_server::Result<Vec<ResourceContents>> {
        Ok(vec![ResourceContents::text(
            uri,
            Some("text/plain"),
            format!("note: {}", vars["text"]),
        )])
    }
}

/// A prompt that says its `text` argument.
struct Say;

impl PromptHandler for Say {
    fn definition(&self) -> Prompt {
        Prompt {
            name: "say".into(),
            ..Default::default()
        }
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn get(
        &self,
        _cx: Context,
        args: BTreeMap<String, String>,
    ) -> mcp_server::Result<GetPromptResult> {
        Ok(GetPromptResult {
            messages: vec![
                PromptMessage::user(args["text"].clone()),
                PromptMessage::user("and nothing else"),
            ],
            ..Default::default()
        })
    }
}

fn server(filters: Filters) -> Server {
    Server::new("filtered", "1")
        .filters(filters)
        .tool(Echo("echo"))
        .tool(Echo("hr_lookup"))
        .tool(Person)
        .resource(Notes)
        .prompt(Say)
}

/// A modern `tools/call` of `tool` with `arguments`: the response.
async fn call(c: &mut Client, id: i64, tool: &str, arguments: Value) -> Value {
    c.call(
        id,
        "tools/call",
        json!({ "name": tool, "arguments": arguments, "_meta": modern_meta(json!({})) }),
    )
    .await
}

/// The text `echo` returns for `text`.
async fn echoed(c: &mut Client, id: i64, text: &str) -> String {
    let r = call(c, id, "echo", json!({ "text": text })).await;
    assert_eq!(r["result"]["isError"], Value::Null, "{r}");
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text result: {r}"))
        .to_owned()
}

/// The tool error message of a withheld call.
fn withheld(r: &Value) -> &str {
    assert_eq!(r["result"]["isError"], true, "{r}");
    r["result"]["content"][0]["text"]
        .as_str()
        .expect("a message")
}

fn builtin() -> Filters {
    Filters::new(Rule::builtin(Action::Redact)).expect("the built-in rules compile")
}

const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

#[tokio::test]
async fn every_builtin_detector_finds_realistic_samples() {
    let mut c = Client::start(server(builtin()));
    let cases: &[(&str, &str)] = &[
        (
            "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
            "export AWS_ACCESS_KEY_ID=[redacted:aws_access_key_id]",
        ),
        (
            "session key ASIAY34FZKBOKMUTVV7A expires soon",
            "session key [redacted:aws_access_key_id] expires soon",
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "aws_secret_access_key = [redacted:aws_secret_access_key]\n",
        ),
        (
            "maps key: AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe.",
            "maps key: [redacted:gcp_api_key].",
        ),
        (
            "client secret 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",
            "client secret [redacted:gcp_api_key]",
        ),
        (
            &format!("key file:\n{PRIVATE_KEY}\nend"),
            "key file:\n[redacted:private_key]\nend",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE (cut off",
            "[redacted:private_key]",
        ),
        (&format!("token={JWT}"), "token=[redacted:jwt]"),
        (
            "Authorization: Bearer ya29.a0AfH6SMBx3kq9ZfLr2mQpTz7Wc",
            "Authorization: Bearer [redacted:bearer_token]",
        ),
        (
            "DB_PASSWORD=hunter2!x and more",
            "DB_PASSWORD=[redacted:password_assignment] and more",
        ),
        (
            r#"{"client_secret": "9f8e7d6c5b4a"}"#,
            r#"{"client_secret": "[redacted:password_assignment]"}"#,
        ),
        (
            "dsn postgres://app:s3cr3t-pw@db.internal:5432/orders",
            "dsn postgres://app:[redacted:connection_string]@db.internal:5432/orders",
        ),
        (
            "mail jane.doe+billing@example.co.uk today",
            "mail [redacted:email] today",
        ),
        (
            "call +44 20 7946 0958 or (415) 555-2671 or 415.555.2671",
            "call [redacted:phone] or [redacted:phone] or [redacted:phone]",
        ),
        (
            "visa 4111 1111 1111 1111, mc 5555-5555-5555-4444, amex 378282246310005",
            "visa [redacted:payment_card], mc [redacted:payment_card], amex [redacted:payment_card]",
        ),
    ];
    for (i, (input, expected)) in cases.iter().enumerate() {
        assert_eq!(
            echoed(&mut c, i as i64 + 1, input).await,
            *expected,
            "input {input:?}"
        );
    }
}

#[tokio::test]
async fn near_misses_do_not_fire() {
    let mut c = Client::start(server(builtin()));
    let near_misses = [
        // AWS: too short, lower case, a secret-looking string without its name.
        "AKIA1234 and akiaiosfodnn7example",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        // GCP: too short.
        "AIzaSyShort",
        // Public keys and certificates are not private keys.
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
        // One JWT part alone; dotted versions.
        "header eyJhbGciOiJIUzI1NiJ9 only, version 1.2.3",
        // The word bearer in prose.
        "The API uses bearer authentication.",
        // Passwords mentioned, placeholders, masked values, other words.
        "Forgot your password? Reset it here.",
        "password=${DB_PASSWORD} and secret: <your-secret> and password: ****",
        "secretary: Jane Smith",
        // URLs without credentials.
        "postgres://db.internal:5432/orders and https://example.com:8443/a@b",
        // Not email addresses.
        "admin@localhost, @handle, a@b",
        // Dates, IP addresses, versions, short numbers, scores.
        "2026-12-05 10:30, 192.168.10.254, build 10.0.19045.2965, order 1234567, +5 points",
        // Card-shaped numbers that fail Luhn or have no network prefix; a timestamp.
        "4111 1111 1111 1112, 1234 5678 9012 3456, 1733380000000",
    ];
    for (i, text) in near_misses.iter().enumerate() {
        assert_eq!(echoed(&mut c, i as i64 + 1, text).await, *text);
    }
}

#[tokio::test]
async fn member_names_mark_structured_secrets() {
    let mut c = Client::start(server(builtin()));
    let person = json!({
        "email": "@jane",
        "db": { "password": "correct horse battery staple", "aws_secret_access_key": "x", "host": "db1" }
    });
    let r = call(&mut c, 1, "person", json!({ "person": person })).await;
    let structured = &r["result"]["structuredContent"];
    assert_eq!(
        structured["db"]["password"],
        "[redacted:password_assignment]"
    );
    assert_eq!(
        structured["db"]["aws_secret_access_key"],
        "[redacted:aws_secret_access_key]"
    );
    assert_eq!(structured["db"]["host"], "db1");
    assert_eq!(structured["email"], "@jane");
    let person = json!({ "email": "jane@example.com" });
    let r = call(&mut c, 2, "person", json!({ "person": person })).await;
    // The email is in a string the schema constrains (`pattern: "@"`): redacted, it would no
    // longer match, so the whole result is withheld.
    assert_eq!(
        withheld(&r),
        "withheld by policy: once filtered, the result of tool `person` no longer matches its output schema"
    );
}

#[tokio::test]
async fn structured_content_stays_valid_and_its_text_copy_follows() {
    let filters = Filters::new([
        Rule::detector(Detector::Phone, Action::Redact),
        Rule::pointer("notes", "/notes", Action::Drop),
    ])
    .expect("compiles");
    let mut c = Client::start(server(filters));
    let person = json!({
        "email": "jane@example.com",
        "contact": "+1 415 555 2671",
        "notes": "internal"
    });
    let r = call(&mut c, 1, "person", json!({ "person": person })).await;
    let expected = json!({ "email": "jane@example.com", "contact": "[redacted:phone]" });
    assert_eq!(r["result"]["structuredContent"], expected, "{r}");
    let text: Value =
        serde_json::from_str(r["result"]["content"][0]["text"].as_str().expect("text"))
            .expect("JSON text");
    assert_eq!(
        text, expected,
        "the text copy is rewritten from the filtered content"
    );

    // Dropping a required member would break the schema: the result is withheld.
    let filters =
        Filters::new([Rule::pointer("no-email", "/email", Action::Drop)]).expect("compiles");
    let mut c = Client::start(server(filters));
    let r = call(
        &mut c,
        1,
        "person",
        json!({ "person": { "email": "j@x.org" } }),
    )
    .await;
    assert_eq!(
        withheld(&r),
        "withheld by policy: once filtered, the result of tool `person` no longer matches its output schema"
    );
    // Redacting a string the schema leaves free keeps it valid.
    let filters =
        Filters::new([Rule::pointer("contact", "/contact", Action::Redact)]).expect("compiles");
    let mut c = Client::start(server(filters));
    let r = call(
        &mut c,
        2,
        "person",
        json!({ "person": { "email": "j@x.org", "contact": "desk 4" } }),
    )
    .await;
    assert_eq!(
        r["result"]["structuredContent"],
        json!({ "email": "j@x.org", "contact": "[redacted:contact]" })
    );
}

#[tokio::test]
async fn each_action() {
    let filters = Filters::new([
        Rule::regex("ticket", r"TCK-\d{6}", Action::Redact),
        Rule::regex("scratch", r"(?i)\bscratch:", Action::Drop),
        Rule::regex("classified", r"\bTOP SECRET\b", Action::Block),
        Rule::max_bytes("cap", 64),
    ])
    .expect("compiles");
    let mut c = Client::start(server(filters));
    // Redact.
    assert_eq!(
        echoed(&mut c, 1, "see TCK-123456 and TCK-654321").await,
        "see [redacted:ticket] and [redacted:ticket]"
    );
    // Drop: the content block goes; so does a prompt message, and a resource's contents.
    let r = call(&mut c, 2, "echo", json!({ "text": "scratch: draft" })).await;
    assert_eq!(r["result"]["content"], json!([]), "{r}");
    let r = c
        .call(3, "prompts/get", json!({ "name": "say", "arguments": { "text": "Scratch: x" }, "_meta": modern_meta(json!({})) }))
        .await;
    assert_eq!(
        r["result"]["messages"],
        json!([{ "role": "user", "content": { "type": "text", "text": "and nothing else" } }])
    );
    // Block.
    let r = call(&mut c, 4, "echo", json!({ "text": "TOP SECRET plans" })).await;
    assert_eq!(
        withheld(&r),
        "withheld by policy: the result of tool `echo` matched the filter rule `classified`"
    );
    // Truncate, on a character boundary, with the marker.
    let long = "é".repeat(40);
    let out = echoed(&mut c, 5, &long).await;
    assert_eq!(out, format!("{}[truncated:cap: 16 bytes]", "é".repeat(32)));
    // A clean result passes unchanged.
    assert_eq!(echoed(&mut c, 6, "all good").await, "all good");
}

#[tokio::test]
async fn approval_releases_or_withholds_the_result() {
    let (approver, mut queue) = ChannelApprover::new(4, Duration::from_secs(30));
    let gate = ApprovalGate::new(Approvals::random()).with_approver(approver);
    let filters =
        Filters::new([Rule::detector(Detector::Email, Action::Approve)]).expect("compiles");
    let memory = Arc::new(MemorySink::default());
    let server = server(filters)
        .approval(gate)
        .audit(Audit::new().with_sink(memory.clone()));
    let (summaries_tx, mut summaries) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut n = 0;
        while let Some(prompt) = queue.recv().await {
            let _ = summaries_tx.send(prompt.summary.clone()).await;
            n += 1;
            if n == 1 {
                prompt.approve();
            } else {
                prompt.deny("not for this caller");
            }
        }
    });
    let mut c = Client::start(server);
    assert_eq!(
        echoed(&mut c, 1, "write to jane@example.com").await,
        "write to jane@example.com"
    );
    let summary = summaries.recv().await.expect("asked");
    assert!(summary.contains("the result of tool `echo`"), "{summary}");
    assert!(summary.contains(r#""email": 1"#), "{summary}");
    assert!(
        !summary.contains("jane@"),
        "the approver is not shown the value: {summary}"
    );

    let r = call(
        &mut c,
        2,
        "echo",
        json!({ "text": "write to jane@example.com" }),
    )
    .await;
    assert_eq!(
        withheld(&r),
        "withheld by policy: releasing the result of tool `echo` was not approved: not for this caller"
    );
    let kinds: Vec<(AuditKind, Option<Decision>)> = memory
        .records()
        .iter()
        .filter(|r| matches!(r.kind, AuditKind::Filter | AuditKind::Approval))
        .map(|r| (r.kind, r.decision))
        .collect();
    assert_eq!(
        kinds,
        [
            (AuditKind::Approval, Some(Decision::Allow)),
            (AuditKind::Filter, Some(Decision::Allow)),
            (AuditKind::Approval, Some(Decision::Deny)),
            (AuditKind::Filter, Some(Decision::Deny)),
        ]
    );
    // A result no approval rule fires on is released without asking.
    assert_eq!(
        echoed(&mut c, 3, "nothing personal").await,
        "nothing personal"
    );
}

/// By the caller's scopes: `except_scopes` spares the callers granted one (personal data for
/// those whose token may read it), `scopes` applies to them only.
#[tokio::test]
async fn rules_are_scoped_by_the_callers_scopes() {
    let rules = || {
        [
            Rule::detector(Detector::Email, Action::Redact).except_scopes(["pii:read"]),
            Rule::regex("codename", "BLUEBIRD", Action::Redact).scopes(["partner", "vendor"]),
        ]
    };
    let text = "jane@example.com BLUEBIRD";
    let seen = |identity: Option<Identity>| async move {
        let mut server = server(Filters::new(rules()).expect("compiles"));
        if let Some(identity) = identity {
            server = server.identity(identity);
        }
        let mut c = Client::start(server);
        echoed(&mut c, 1, text).await
    };
    assert_eq!(seen(None).await, "[redacted:email] BLUEBIRD");
    assert_eq!(
        seen(Some(Identity::configured("a").with_scopes(["pii:read"]))).await,
        "jane@example.com BLUEBIRD"
    );
    assert_eq!(
        seen(Some(Identity::configured("v").with_scopes(["vendor"]))).await,
        "[redacted:email] [redacted:codename]"
    );
}

#[tokio::test]
async fn rules_are_scoped_by_tool_role_and_environment() {
    let rules = || {
        [
            Rule::detector(Detector::Email, Action::Redact).tools(["hr_*"]),
            Rule::regex("salary", r"salary \d+", Action::Redact).except_roles(["hr-admin"]),
            Rule::regex("codename", "BLUEBIRD", Action::Redact).roles(["contractor"]),
            Rule::regex("debug", "DEBUG-INFO", Action::Redact).environments(["prod"]),
        ]
    };
    let text = "jane@example.com salary 100 BLUEBIRD DEBUG-INFO";

    // By tool: the email rule covers hr_* only; no identity, no environment label.
    let mut c = Client::start(server(Filters::new(rules()).expect("compiles")));
    let r = call(&mut c, 1, "hr_lookup", json!({ "text": text })).await;
    assert_eq!(
        r["result"]["content"][0]["text"],
        "[redacted:email] [redacted:salary] BLUEBIRD [redacted:debug]"
    );
    assert_eq!(
        echoed(&mut c, 2, text).await,
        "jane@example.com [redacted:salary] BLUEBIRD [redacted:debug]"
    );

    // By role: an HR admin sees salaries; a contractor does not see the codename.
    let admin = Identity::configured("ann").with_roles(["hr-admin"]);
    let mut c = Client::start(server(Filters::new(rules()).expect("compiles")).identity(admin));
    assert_eq!(
        echoed(&mut c, 1, text).await,
        "jane@example.com salary 100 BLUEBIRD [redacted:debug]"
    );
    let contractor = Identity::configured("cy").with_roles(["contractor"]);
    let mut c =
        Client::start(server(Filters::new(rules()).expect("compiles")).identity(contractor));
    assert_eq!(
        echoed(&mut c, 1, text).await,
        "jane@example.com [redacted:salary] [redacted:codename] [redacted:debug]"
    );

    // By environment: the debug rule applies in prod, not in staging.
    let staging = Filters::new(rules())
        .expect("compiles")
        .environment("staging");
    let mut c = Client::start(server(staging));
    assert_eq!(
        echoed(&mut c, 1, text).await,
        "jane@example.com [redacted:salary] BLUEBIRD DEBUG-INFO"
    );
    let prod = Filters::new(rules()).expect("compiles").environment("prod");
    let mut c = Client::start(server(prod));
    assert_eq!(
        echoed(&mut c, 1, text).await,
        "jane@example.com [redacted:salary] BLUEBIRD [redacted:debug]"
    );

    // By the item's own environment (a gateway's upstream label), over the server's.
    let per_item = Filters::new(rules())
        .expect("compiles")
        .environment("prod")
        .environment_of(|kind, name| {
            (kind == mcp_server::access::ItemKind::Tool && name == "echo")
                .then(|| "staging".to_owned())
        });
    let mut c = Client::start(server(per_item));
    assert_eq!(
        echoed(&mut c, 1, text).await,
        "jane@example.com [redacted:salary] BLUEBIRD DEBUG-INFO"
    );
    // An item the label function does not know falls back to the server's label.
    let r = call(&mut c, 2, "hr_lookup", json!({ "text": text })).await;
    assert_eq!(
        r["result"]["content"][0]["text"],
        "[redacted:email] [redacted:salary] BLUEBIRD [redacted:debug]"
    );

    // By upstream (a gateway's): the rule names the upstream, and the tool by its name there.
    // (`hr_lookup` is the upstream `hr`'s `lookup`; `echo` is the server's own.)
    let by_upstream = |upstreams: &str| {
        Filters::new([Rule::regex("codename", "BLUEBIRD", Action::Redact)
            .upstreams([upstreams])
            .tools(["lookup"])])
        .expect("compiles")
        .origin_of(|_, name| {
            name.split_once('_')
                .map(|(up, there)| (up.to_owned(), there.to_owned()))
        })
    };
    let mut c = Client::start(server(by_upstream("h*")));
    let r = call(&mut c, 1, "hr_lookup", json!({ "text": "BLUEBIRD" })).await;
    assert_eq!(r["result"]["content"][0]["text"], "[redacted:codename]");
    // Another upstream's tool, and an item without an upstream, do not get it.
    assert_eq!(echoed(&mut c, 2, "BLUEBIRD").await, "BLUEBIRD");
    let mut c = Client::start(server(by_upstream("fs")));
    let r = call(&mut c, 1, "hr_lookup", json!({ "text": "BLUEBIRD" })).await;
    assert_eq!(r["result"]["content"][0]["text"], "BLUEBIRD");
}

#[tokio::test]
async fn resources_and_prompts_are_filtered_before_they_are_sent() {
    let filters = Filters::new([
        Rule::detector(Detector::AwsAccessKeyId, Action::Redact),
        Rule::regex("classified", "CLASSIFIED", Action::Block).resources(["notes://*"]),
    ])
    .expect("compiles");
    let mut c = Client::start(server(filters));
    let meta = modern_meta(json!({}));
    let r = c
        .call(
            1,
            "resources/read",
            json!({ "uri": "notes://AKIAIOSFODNN7EXAMPLE", "_meta": meta }),
        )
        .await;
    assert_eq!(
        r["result"]["contents"][0]["text"], "note: [redacted:aws_access_key_id]",
        "{r}"
    );
    let r = c
        .call(
            2,
            "resources/read",
            json!({ "uri": "notes://CLASSIFIED", "_meta": meta }),
        )
        .await;
    assert_eq!(
        r["error"]["message"],
        "withheld by policy: the result of resource `notes://CLASSIFIED` matched the filter rule `classified`",
        "{r}"
    );
    let r = c
        .call(3, "prompts/get", json!({ "name": "say", "arguments": { "text": "use AKIAIOSFODNN7EXAMPLE" }, "_meta": meta }))
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"],
        "use [redacted:aws_access_key_id]"
    );
    // The block rule is scoped to resources: a prompt saying the word is not withheld.
    let r = c
        .call(
            4,
            "prompts/get",
            json!({ "name": "say", "arguments": { "text": "CLASSIFIED" }, "_meta": meta }),
        )
        .await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "CLASSIFIED");
}

#[tokio::test]
async fn the_audit_record_counts_the_rules_never_the_values() {
    let memory = Arc::new(MemorySink::default());
    let server = server(builtin()).audit(Audit::new().with_sink(memory.clone()));
    let mut c = Client::start(server);
    let text = "AKIAIOSFODNN7EXAMPLE for jane@example.com and joe@example.org";
    echoed(&mut c, 1, text).await;
    echoed(&mut c, 2, "nothing to see").await;
    let filters: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Filter)
        .collect();
    assert_eq!(filters.len(), 1, "a clean result gets no filter record");
    let r = &filters[0];
    assert_eq!(r.method, "tools/call");
    assert_eq!(r.item.as_deref(), Some("echo"));
    assert_eq!(r.decision, Some(Decision::Allow));
    assert_eq!(
        r.filters,
        Some(BTreeMap::from([
            ("aws_access_key_id".to_owned(), 1),
            ("email".to_owned(), 2),
        ]))
    );
    let line = serde_json::to_string(r).expect("JSON");
    for value in ["AKIAIOSFODNN7EXAMPLE", "jane@", "joe@"] {
        assert!(!line.contains(value), "{line}");
    }
}

/// Fails on any text containing `boom`; returns a range inside a character for `split`.
struct Fragile;

impl CustomDetector for Fragile {
    fn find(&self, text: &str) -> Result<Vec<Range<usize>>, String> {
        if text.contains("boom") {
            return Err("the detector's backend is down".into());
        }
        if text.starts_with('é') {
            // Inside the two bytes of `é`.
            let inside: Range<usize> = 1..2;
            return Ok(Vec::from([inside]));
        }
        Ok(text.find("hide").map(|at| at..at + 4).into_iter().collect())
    }
}

#[tokio::test]
async fn a_failing_filter_withholds_the_result_and_is_audited() {
    let memory = Arc::new(MemorySink::default());
    let filters =
        Filters::new([Rule::custom("fragile", Fragile, Action::Redact)]).expect("compiles");
    let server = server(filters).audit(Audit::new().with_sink(memory.clone()));
    let mut c = Client::start(server);
    let expected = "withheld by policy: the filter rule `fragile` failed on the result of tool `echo`, so it is not released";
    let r = call(&mut c, 1, "echo", json!({ "text": "boom" })).await;
    assert_eq!(withheld(&r), expected);
    let r = call(&mut c, 2, "echo", json!({ "text": "é split" })).await;
    assert_eq!(withheld(&r), expected);
    let denied: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Filter)
        .map(|r| (r.decision, r.reason))
        .collect();
    assert_eq!(
        denied,
        [
            (
                Some(Decision::Deny),
                Some("rule `fragile` failed".to_owned())
            ),
            (
                Some(Decision::Deny),
                Some("rule `fragile` failed".to_owned())
            ),
        ]
    );
    // The detector still works on other results.
    assert_eq!(
        echoed(&mut c, 3, "please hide this").await,
        "please [redacted:fragile] this"
    );
}

#[test]
fn a_rule_that_does_not_compile_is_an_error_naming_it() {
    let error = |rules: Vec<Rule>| Filters::new(rules).expect_err("does not compile");
    let e = error(vec![Rule::regex("unclosed", "(abc", Action::Redact)]);
    assert_eq!(e.rule, "unclosed");
    assert!(e.reason.starts_with("the pattern does not compile"), "{e}");
    assert!(e.to_string().starts_with("filter rule `unclosed`: "), "{e}");
    assert_eq!(
        error(vec![Rule::regex("anything", "x*", Action::Redact)]),
        FilterError {
            rule: "anything".into(),
            reason: "the pattern matches the empty text".into()
        }
    );
    assert_eq!(
        error(vec![Rule::pointer("ptr", "email", Action::Drop)]).reason,
        "the JSON pointer `email` does not start with `/`"
    );
    assert_eq!(
        error(vec![Rule::regex("cut", "x", Action::Truncate)]).reason,
        "`truncate` needs a size cap (`max_bytes`)"
    );
    assert_eq!(
        error(vec![Rule::max_bytes("zero", 0)]).reason,
        "the size cap is 0 bytes"
    );
    assert_eq!(
        error(vec![Rule::max_bytes("cap", 10).action(Action::Redact)]).reason,
        "a size cap's action is `truncate` or `block`"
    );
    let e = error(vec![
        Rule::regex("same", "a", Action::Redact),
        Rule::regex("same", "b", Action::Redact),
    ]);
    assert_eq!(
        (e.rule.as_str(), e.reason.as_str()),
        ("same", "two rules have this name")
    );
    let e = error(vec![
        Rule::regex("glob", "a", Action::Redact).tools(["hr_[a"]),
    ]);
    assert_eq!(e.rule, "glob");
    assert!(
        e.reason.starts_with("the glob `hr_[a` does not compile"),
        "{e}"
    );
}

#[test]
fn rules_deserialize_from_configuration() {
    let config: FilterConfig = serde_json::from_value(json!({
        "environment": "prod",
        "rules": [
            { "name": "keys", "detector": "aws_access_key_id", "action": "redact" },
            { "name": "ssn", "regex": "\\b\\d{3}-\\d{2}-\\d{4}\\b", "action": "block",
              "tools": ["hr_*"], "except_roles": ["hr-admin"] },
            { "name": "debug", "pointer": "/debug", "action": "drop" },
            { "name": "cap", "max_bytes": 1024, "action": "truncate" }
        ]
    }))
    .expect("a configuration");
    let filters = Filters::from_config(config).expect("compiles");
    assert_eq!(
        filters.rule_names().collect::<Vec<_>>(),
        ["keys", "ssn", "debug", "cap"]
    );
    let unknown = serde_json::from_value::<FilterConfig>(json!({
        "rules": [{ "name": "x", "detector": "social_security", "action": "redact" }]
    }));
    assert!(unknown.is_err());
    let bad = serde_json::from_value::<FilterConfig>(json!({
        "rules": [{ "name": "bad", "regex": "(", "action": "redact" }]
    }))
    .expect("deserializes");
    assert_eq!(
        Filters::from_config(bad)
            .expect_err("does not compile")
            .rule,
        "bad"
    );
}

#[tokio::test]
async fn a_release_approved_by_the_user_in_a_modern_round() {
    let filters =
        Filters::new([Rule::detector(Detector::Email, Action::Approve)]).expect("compiles");
    let mut c = Client::start(server(filters));
    let params = json!({ "_meta": modern_meta(json!({})), "name": "echo",
        "arguments": { "text": "write to jane@example.com" } });
    let r = c.call(1, "tools/call", params.clone()).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let requests = r["result"]["inputRequests"].as_object().expect("requests");
    let (key, question) = requests.iter().next().expect("one question");
    let message = question["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("the result of tool `echo`"), "{question}");
    assert!(
        !message.contains("jane@"),
        "the value is not shown: {question}"
    );
    let mut retry = params.clone();
    retry["inputResponses"] =
        json!({ key: { "action": "accept", "content": { "approve": true } } });
    retry["requestState"] = r["result"]["requestState"].clone();
    let r = c.call(2, "tools/call", retry.clone()).await;
    assert_eq!(
        r["result"]["content"][0]["text"], "write to jane@example.com",
        "{r}"
    );
    // The answer is spent: replayed, the release is refused.
    let r = c.call(3, "tools/call", retry).await;
    assert_eq!(
        withheld(&r),
        "withheld by policy: releasing the result of tool `echo` was not approved: the approval was used already, or is unknown to this server"
    );
}

/// `echo` that requires approval to run.
struct Guarded;

impl ToolHandler for Guarded {
    fn definition(&self) -> Tool {
        let mut tool = Echo("guarded").definition();
        tool.name = "guarded".into();
        tool
    }
    fn policy(&self) -> Policy {
        Policy {
            approval: mcp_server::Approval::Required,
            ..Policy::public()
        }
    }
    async fn call(&self, cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Echo("guarded").call(cx, args).await
    }
}

#[tokio::test]
async fn a_tool_that_needs_approval_to_run_and_to_release_asks_twice() {
    let filters =
        Filters::new([Rule::detector(Detector::Email, Action::Approve)]).expect("compiles");
    let mut c = Client::start(server(filters).tool(Guarded));
    let params = json!({ "_meta": modern_meta(json!({})), "name": "guarded",
        "arguments": { "text": "write to jane@example.com" } });
    let accept = json!({ "action": "accept", "content": { "approve": true } });
    let question = |r: &Value| -> (String, String) {
        let requests = r["result"]["inputRequests"].as_object().expect("requests");
        let (key, q) = requests.iter().next().expect("one question");
        (
            key.clone(),
            q["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    // Round 1: may the tool run?
    let r = c.call(1, "tools/call", params.clone()).await;
    let (run_key, message) = question(&r);
    assert!(
        message.starts_with("Allow the tool `guarded` to run"),
        "{message}"
    );
    // Round 2: it ran; may its result be released?
    let mut retry = params.clone();
    retry["inputResponses"] = json!({ run_key: accept });
    retry["requestState"] = r["result"]["requestState"].clone();
    let r = c.call(2, "tools/call", retry).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let (release_key, message) = question(&r);
    assert!(
        message.contains("the result of tool `guarded`"),
        "{message}"
    );
    // Round 3: both approved; the result is released.
    let mut retry = params.clone();
    retry["inputResponses"] = json!({ release_key: accept });
    retry["requestState"] = r["result"]["requestState"].clone();
    let r = c.call(3, "tools/call", retry).await;
    assert_eq!(
        r["result"]["content"][0]["text"], "write to jane@example.com",
        "{r}"
    );
}
