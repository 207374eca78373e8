//! `mcp_server::approval`: SECURITY.md's "a high-risk tool" row. A call waits for a human; the
//! approval is bound to the tool, the arguments' hash, the principal and a nonce, sealed, single
//! use and short-lived; declining, a timeout, a forged, altered, replayed, misbound or expired
//! approval all deny, with the reason an audit record needs.
//!
//! Timeouts run on tokio's paused clock (`start_paused`), except against the local webhook server,
//! whose slow endpoint never answers; nothing sleeps to wait for something else, and nothing
//! asserts wall-clock time.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_server::approval::*;
use mcp_server::types::{ElicitAction, ElicitRequestParams, ElicitResult};
use serde_json::{Value, json};

fn accept(content: Value) -> ElicitResult {
    ElicitResult {
        action: ElicitAction::Accept,
        content: match content {
            Value::Object(m) => Some(m),
            _ => None,
        },
        meta: None,
    }
}

fn answer(action: ElicitAction) -> ElicitResult {
    ElicitResult {
        action,
        content: None,
        meta: None,
    }
}

fn deploy_args() -> Value {
    json!({"env": "prod", "version": "1.2.3"})
}

fn deploy(args: &Value) -> PendingCall<'_> {
    PendingCall::new("deploy", args, "alice")
}

// ---------------------------------------------------------------------------------------------
// The sealed request itself.

#[tokio::test]
async fn a_request_is_redeemed_once_for_its_own_call() {
    let approvals = Approvals::new(&[9; 32]);
    let args = deploy_args();
    let (request, token) = approvals
        .issue("deploy", &args, "alice", "deploy to prod?")
        .await
        .unwrap();
    assert_eq!(request.tool, "deploy");
    assert_eq!(request.principal, "alice");
    assert_eq!(request.arguments_hash, arguments_hash(&args));
    assert_eq!(request.nonce.len(), 32);
    assert!(request.expires_at_ms > request.issued_at_ms);

    let redeemed = approvals
        .redeem(&token, "deploy", &args, "alice")
        .await
        .unwrap();
    assert_eq!(redeemed.request, request);
    assert_eq!(redeemed.recorded, None);
    // Used twice: a replay.
    let denied = approvals
        .redeem(&token, "deploy", &args, "alice")
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenialReason::Replayed);
}

#[tokio::test]
async fn the_same_arguments_in_another_key_order_are_the_same_call() {
    let approvals = Approvals::new(&[9; 32]);
    let (_, token) = approvals
        .issue("deploy", &deploy_args(), "alice", "")
        .await
        .unwrap();
    let reordered: Value = serde_json::from_str(r#"{"version":"1.2.3","env":"prod"}"#).unwrap();
    assert!(
        approvals
            .redeem(&token, "deploy", &reordered, "alice")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_token_for_another_call_is_denied_and_spent() {
    let approvals = Approvals::new(&[9; 32]);
    let args = deploy_args();
    let cases: [(&str, Value, &str); 3] = [
        (
            "deploy",
            json!({"env": "prod", "version": "6.6.6"}),
            "alice",
        ),
        ("deploy", deploy_args(), "mallory"),
        ("delete_everything", deploy_args(), "alice"),
    ];
    for (tool, other_args, principal) in cases {
        let (_, token) = approvals.issue("deploy", &args, "alice", "").await.unwrap();
        let denied = approvals
            .redeem(&token, tool, &other_args, principal)
            .await
            .unwrap_err();
        assert_eq!(
            denied.reason,
            DenialReason::WrongBinding,
            "{tool} {principal}"
        );
        // Presented for the wrong call, the token is burnt.
        let denied = approvals
            .redeem(&token, "deploy", &args, "alice")
            .await
            .unwrap_err();
        assert_eq!(denied.reason, DenialReason::Replayed);
    }
}

fn flip(token: &str, at: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn an_altered_or_forged_token_is_denied() {
    let approvals = Approvals::new(&[9; 32]);
    let args = deploy_args();
    let (_, token) = approvals.issue("deploy", &args, "alice", "").await.unwrap();
    let dot = token.find('.').unwrap();
    for at in [0, dot / 2, dot - 1, dot + 1, token.len() - 2] {
        let denied = approvals
            .redeem(&flip(&token, at), "deploy", &args, "alice")
            .await
            .unwrap_err();
        assert_eq!(denied.reason, DenialReason::Tampered, "byte {at}");
    }
    for garbage in ["", ".", "no-dot", "a.b.c", "%%%.%%%"] {
        let denied = approvals
            .redeem(garbage, "deploy", &args, "alice")
            .await
            .unwrap_err();
        assert_eq!(denied.reason, DenialReason::Tampered, "{garbage:?}");
    }
    // A forgery of the pending request: its own payload (the unspent nonce, this call's
    // binding) under a seal made with another key. Denied for the seal, not for the nonce.
    assert!(
        approvals.inspect(&token).await.is_ok(),
        "the nonce is unspent"
    );
    let other = Approvals::new(&[10; 32]);
    let (_, foreign) = other.issue("deploy", &args, "alice", "").await.unwrap();
    let forged = format!(
        "{}.{}",
        token.split_once('.').unwrap().0,
        foreign.split_once('.').unwrap().1
    );
    let denied = approvals
        .redeem(&forged, "deploy", &args, "alice")
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenialReason::Tampered);
    assert_eq!(denied.detail, "the approval token's seal does not verify");
    // Another request's payload under this request's seal: the same.
    let (_, second) = approvals.issue("deploy", &args, "alice", "").await.unwrap();
    let swapped = format!(
        "{}.{}",
        second.split_once('.').unwrap().0,
        token.split_once('.').unwrap().1
    );
    let denied = approvals
        .redeem(&swapped, "deploy", &args, "alice")
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenialReason::Tampered);
    // The original still works: failed attempts did not spend it; so does the second.
    assert!(
        approvals
            .redeem(&token, "deploy", &args, "alice")
            .await
            .is_ok()
    );
    assert!(
        approvals
            .redeem(&second, "deploy", &args, "alice")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_token_this_server_did_not_issue_is_a_replay() {
    // Same key (a restarted server), but the nonce is unknown.
    let before = Approvals::new(&[9; 32]);
    let after = Approvals::new(&[9; 32]);
    let args = deploy_args();
    let (_, token) = before.issue("deploy", &args, "alice", "").await.unwrap();
    let denied = after
        .redeem(&token, "deploy", &args, "alice")
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenialReason::Replayed);
}

#[tokio::test]
async fn an_expired_token_is_denied() {
    let approvals = Approvals::new(&[9; 32]).with_lifetime(Duration::ZERO);
    let args = deploy_args();
    let (_, token) = approvals.issue("deploy", &args, "alice", "").await.unwrap();
    let denied = approvals
        .redeem(&token, "deploy", &args, "alice")
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenialReason::Expired);
    assert_eq!(
        approvals.inspect(&token).await.unwrap_err().reason,
        DenialReason::Expired
    );
}

#[tokio::test]
async fn an_approver_page_inspects_and_decides_url_requests() {
    let approvals = Approvals::new(&[9; 32]);
    let args = deploy_args();
    let (request, token) = approvals
        .issue_for_url("deploy", &args, "alice", "deploy to prod?")
        .await
        .unwrap();
    let pending = approvals.inspect(&token).await.unwrap();
    assert_eq!(pending.request, request);
    assert_eq!(pending.summary, "deploy to prod?");
    assert_eq!(
        approvals.record_decision(&token, true).await.unwrap(),
        request
    );
    // The first decision stands.
    approvals.record_decision(&token, false).await.unwrap();
    let redeemed = approvals
        .redeem(&token, "deploy", &args, "alice")
        .await
        .unwrap();
    assert_eq!(redeemed.recorded, Some(true));
    assert_eq!(
        approvals.inspect(&token).await.unwrap_err().reason,
        DenialReason::Replayed
    );
    assert_eq!(
        approvals
            .record_decision(&token, true)
            .await
            .unwrap_err()
            .reason,
        DenialReason::Replayed
    );
    // A request answered by form cannot be decided by a page.
    let (_, form_token) = approvals.issue("deploy", &args, "alice", "").await.unwrap();
    assert_eq!(
        approvals
            .record_decision(&form_token, true)
            .await
            .unwrap_err()
            .reason,
        DenialReason::WrongBinding
    );
    assert_eq!(
        approvals
            .record_decision(&flip(&form_token, 3), true)
            .await
            .unwrap_err()
            .reason,
        DenialReason::Tampered
    );
}

// ---------------------------------------------------------------------------------------------
// Elicitation helpers.

#[test]
fn the_approval_form_and_its_answers() {
    let form = approval_form("Allow `deploy`?");
    insta::assert_json_snapshot!("approval_form", form);

    assert_eq!(
        interpret_form_answer(&accept(json!({"approve": true}))),
        Decision::Approved
    );
    for denied in [
        accept(json!({"approve": false})),
        accept(json!({"approve": "true"})),
        accept(json!({})),
        accept(Value::Null),
        answer(ElicitAction::Decline),
        answer(ElicitAction::Cancel),
    ] {
        assert!(
            matches!(interpret_form_answer(&denied), Decision::Denied(_)),
            "{denied:?}"
        );
    }
}

#[tokio::test]
async fn the_approval_url_carries_the_sealed_request() {
    let approvals = Approvals::new(&[9; 32]);
    let (request, token) = approvals
        .issue_for_url("deploy", &deploy_args(), "alice", "")
        .await
        .unwrap();
    let params = approval_url_elicitation("ok?", "https://approve.example/page", &token, &request);
    assert_eq!(
        params.url,
        format!("https://approve.example/page?request={token}")
    );
    assert_eq!(
        params.elicitation_id.as_deref(),
        Some(request.nonce.as_str())
    );
    let params = approval_url_elicitation("ok?", "https://a.example/p?tenant=x", &token, &request);
    assert_eq!(
        params.url,
        format!("https://a.example/p?tenant=x&request={token}")
    );
}

#[tokio::test]
async fn the_summary_names_the_call_and_hides_sensitive_arguments() {
    let args = json!({"env": "prod", "password": "hunter2"});
    let sensitive = vec!["password".to_owned()];
    let call = PendingCall::new("deploy", &args, "alice").sensitive(&sensitive);
    let summary = call.summary();
    assert!(
        summary.contains("`deploy`") && summary.contains("`alice`"),
        "{summary}"
    );
    assert!(summary.contains("\"prod\""), "{summary}");
    assert!(!summary.contains("hunter2"), "{summary}");
    let long = json!({"blob": "x".repeat(100_000)});
    assert!(PendingCall::new("t", &long, "p").summary().len() < 3000);
}

// ---------------------------------------------------------------------------------------------
// The gate, asking the client's user.

/// What the fake client does when asked.
#[derive(Clone)]
enum Client {
    /// Answers at once (the legacy era's `elicitation/create`).
    Answers(ElicitResult),
    /// Ends the round (the modern era's `input_required`).
    EndsRound,
    /// Never answers.
    Hangs,
}

struct Asker {
    form: bool,
    url: bool,
    client: Client,
    /// Answers that came with the request (modern era, a later round).
    answered: Vec<(String, ElicitResult)>,
    asked: Mutex<Vec<(String, ElicitRequestParams)>>,
    /// Acts as the external approver page on URL elicitations.
    page: Option<(ApprovalGate, Option<bool>)>,
    /// The grant an earlier round sealed into the request's state.
    carried: Option<String>,
    /// The approval the gate handed over on this round.
    kept: Mutex<Option<CarriedApproval>>,
}

impl Asker {
    fn new(client: Client) -> Self {
        Asker {
            form: true,
            url: false,
            client,
            answered: Vec::new(),
            asked: Mutex::new(Vec::new()),
            page: None,
            carried: None,
            kept: Mutex::new(None),
        }
    }

    fn asked(&self) -> Vec<(String, ElicitRequestParams)> {
        self.asked.lock().unwrap().clone()
    }

    /// The grant this round would seal into the next round's state.
    fn grant(&self) -> String {
        self.kept
            .lock()
            .unwrap()
            .take()
            .expect("the gate handed over the approval")
            .grant()
    }
}

impl ApprovalAsker for Asker {
    type Error = &'static str;

    fn supports_form(&self) -> bool {
        self.form
    }

    fn supports_url(&self) -> bool {
        self.url
    }

    async fn elicit(
        &self,
        key: &str,
        params: ElicitRequestParams,
    ) -> Result<ElicitResult, &'static str> {
        self.asked
            .lock()
            .unwrap()
            .push((key.to_owned(), params.clone()));
        if let (Some((gate, decision)), ElicitRequestParams::Url(url)) = (&self.page, &params) {
            let token = url.url.split_once("request=").unwrap().1;
            let pending = gate.approvals().inspect(token).await.unwrap();
            assert!(pending.summary.contains("`deploy`"));
            if let Some(approved) = decision {
                gate.approvals()
                    .record_decision(token, *approved)
                    .await
                    .unwrap();
            }
        }
        match &self.client {
            Client::Answers(a) => Ok(a.clone()),
            Client::EndsRound => Err("input_required"),
            Client::Hangs => std::future::pending().await,
        }
    }

    fn answered(&self, prefix: &str) -> Vec<(String, ElicitResult)> {
        self.answered
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn carried_approval(&self) -> Option<String> {
        self.carried.clone()
    }

    fn keep_approval(&self, approval: CarriedApproval) {
        *self.kept.lock().unwrap() = Some(approval);
    }
}

fn gate() -> ApprovalGate {
    ApprovalGate::new(Approvals::new(&[5; 32])).with_timeout(Duration::from_secs(30))
}

fn denial<E: std::fmt::Debug>(r: Result<ApprovalRequest, GateError<E>>) -> Denial {
    match r {
        Err(GateError::Denied(d)) => d,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn legacy_form_approval_lets_the_call_run_once() {
    let gate = gate();
    let args = deploy_args();
    let asker = Asker::new(Client::Answers(accept(json!({"approve": true}))));
    let request = gate.check(&deploy(&args), &asker).await.unwrap();
    assert_eq!(request.tool, "deploy");
    assert_eq!(request.principal, "alice");
    let asked = asker.asked();
    assert_eq!(asked.len(), 1);
    let (key, ElicitRequestParams::Form(form)) = &asked[0] else {
        panic!("expected a form");
    };
    assert!(key.starts_with(KEY_PREFIX));
    assert!(form.message.contains("`deploy`"), "{}", form.message);
    assert!(form.requested_schema.properties.contains_key(APPROVE_FIELD));
    // Each call asks again.
    gate.check(&deploy(&args), &asker).await.unwrap();
    assert_eq!(asker.asked().len(), 2);
}

#[tokio::test]
async fn declining_cancelling_or_not_approving_denies() {
    let gate = gate();
    let args = deploy_args();
    for answer in [
        answer(ElicitAction::Decline),
        answer(ElicitAction::Cancel),
        accept(json!({"approve": false})),
        accept(json!({})),
    ] {
        let asker = Asker::new(Client::Answers(answer.clone()));
        let d = denial(gate.check(&deploy(&args), &asker).await);
        assert_eq!(d.reason, DenialReason::Declined, "{answer:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_answer_in_time_denies() {
    let gate = gate();
    let args = deploy_args();
    let asker = Asker::new(Client::Hangs);
    let d = denial(gate.check(&deploy(&args), &asker).await);
    assert_eq!(d.reason, DenialReason::Timeout);
    // The request was spent: a late answer on a later round cannot use it.
    let (key, _) = asker.asked().remove(0);
    let mut late = Asker::new(Client::EndsRound);
    late.answered = vec![(key, accept(json!({"approve": true})))];
    let d = denial(gate.check(&deploy(&args), &late).await);
    assert_eq!(d.reason, DenialReason::Replayed);
}

#[tokio::test]
async fn a_client_that_cannot_elicit_is_denied() {
    let gate = gate();
    let args = deploy_args();
    let mut asker = Asker::new(Client::Answers(accept(json!({"approve": true}))));
    asker.form = false;
    let d = denial(gate.check(&deploy(&args), &asker).await);
    assert_eq!(d.reason, DenialReason::Unavailable);
    assert!(asker.asked().is_empty());
}

/// Round 1 of a modern request: the gate asks and the round ends; returns the question's key.
async fn first_round(gate: &ApprovalGate, args: &Value) -> String {
    let asker = Asker::new(Client::EndsRound);
    match gate.check(&deploy(args), &asker).await {
        Err(GateError::Interrupted("input_required")) => {}
        other => panic!("expected the round to end, got {other:?}"),
    }
    asker.asked().remove(0).0
}

fn later_round(key: &str, answer: ElicitResult) -> Asker {
    let mut asker = Asker::new(Client::EndsRound);
    asker.answered = vec![(key.to_owned(), answer)];
    asker
}

#[tokio::test]
async fn modern_rounds_approve_once_and_refuse_replays() {
    let gate = gate();
    let args = deploy_args();
    let key = first_round(&gate, &args).await;
    let yes = accept(json!({"approve": true}));

    let round2 = later_round(&key, yes.clone());
    gate.check(&deploy(&args), &round2).await.unwrap();
    assert!(
        round2.asked().is_empty(),
        "the answer was used, not asked again"
    );
    // The same retry again (a replayed request with the same inputResponses).
    let d = denial(gate.check(&deploy(&args), &later_round(&key, yes)).await);
    assert_eq!(d.reason, DenialReason::Replayed);
}

#[tokio::test]
async fn modern_rounds_refuse_tampering_and_another_call() {
    let gate = gate();
    let args = deploy_args();
    let yes = accept(json!({"approve": true}));

    // An altered key (the sealed request it carries).
    let key = first_round(&gate, &args).await;
    let altered = flip(&key, KEY_PREFIX.len() + 5);
    let d = denial(
        gate.check(&deploy(&args), &later_round(&altered, yes.clone()))
            .await,
    );
    assert_eq!(d.reason, DenialReason::Tampered);

    // Approved for some arguments, retried with others.
    let key = first_round(&gate, &args).await;
    let other = json!({"env": "prod", "version": "6.6.6"});
    let d = denial(
        gate.check(&deploy(&other), &later_round(&key, yes.clone()))
            .await,
    );
    assert_eq!(d.reason, DenialReason::WrongBinding);

    // Approved for alice, retried by mallory.
    let key = first_round(&gate, &args).await;
    let mallory = PendingCall::new("deploy", &args, "mallory");
    let d = denial(gate.check(&mallory, &later_round(&key, yes.clone())).await);
    assert_eq!(d.reason, DenialReason::WrongBinding);

    // Declined on the client.
    let key = first_round(&gate, &args).await;
    let d = denial(
        gate.check(
            &deploy(&args),
            &later_round(&key, answer(ElicitAction::Decline)),
        )
        .await,
    );
    assert_eq!(d.reason, DenialReason::Declined);
}

#[tokio::test]
async fn modern_rounds_refuse_an_expired_request() {
    let gate = ApprovalGate::new(Approvals::new(&[5; 32]).with_lifetime(Duration::ZERO));
    let args = deploy_args();
    let key = first_round(&gate, &args).await;
    let d = denial(
        gate.check(
            &deploy(&args),
            &later_round(&key, accept(json!({"approve": true}))),
        )
        .await,
    );
    assert_eq!(d.reason, DenialReason::Expired);
}

/// A later round whose sealed state carries `grant` (and, as a real one does, the answer an
/// earlier round used).
fn carrying(grant: &str, key: &str) -> Asker {
    let mut asker = later_round(key, accept(json!({"approve": true})));
    asker.carried = Some(grant.to_owned());
    asker
}

/// Rounds 1 and 2 of a modern call whose tool asks for more input once approved: returns the
/// approval's key and the grant round 2 seals into the state of round 3.
async fn approved_round(gate: &ApprovalGate, call: &PendingCall<'_>) -> (String, String) {
    let key = first_round(gate, call.arguments).await;
    let round2 = later_round(&key, accept(json!({"approve": true})));
    gate.check(call, &round2).await.unwrap();
    (key, round2.grant())
}

#[tokio::test]
async fn modern_approval_then_elicitation_rounds_use_the_carried_grant() {
    let gate = gate();
    let args = deploy_args();
    let key = first_round(&gate, &args).await;
    // Round 2: approved; the tool then asks for more input, so the round ends.
    let round2 = later_round(&key, accept(json!({"approve": true})));
    let approved = gate.check(&deploy(&args), &round2).await.unwrap();
    let grant = round2.grant();
    // Round 3 carries the grant: the same approval, nothing asked, the spent answer ignored.
    let round3 = carrying(&grant, &key);
    assert_eq!(gate.check(&deploy(&args), &round3).await.unwrap(), approved);
    assert!(round3.asked().is_empty());
    // Round 4 (the tool asked once more) carries the grant of round 3.
    let round4 = carrying(&round3.grant(), &key);
    assert_eq!(gate.check(&deploy(&args), &round4).await.unwrap(), approved);
    // Round 3's state sent again: its round was spent.
    let d = denial(gate.check(&deploy(&args), &carrying(&grant, &key)).await);
    assert_eq!(d.reason, DenialReason::Replayed);
    assert_eq!(
        d.detail,
        "the approval was used already, or is unknown to this server"
    );
    // A new call is asked again.
    let asker = Asker::new(Client::Answers(accept(json!({"approve": true}))));
    gate.check(&deploy(&args), &asker).await.unwrap();
    assert_eq!(asker.asked().len(), 1);
}

#[tokio::test]
async fn approval_grant_of_one_call_not_valid_for_another() {
    let gate = gate();
    let args = deploy_args();
    let other_args = json!({"env": "prod", "version": "6.6.6"});
    let misuses: [(PendingCall<'_>, DenialReason, &str); 3] = [
        (
            deploy(&other_args),
            DenialReason::WrongBinding,
            "the approval was issued for another tool, other arguments or another principal",
        ),
        (
            PendingCall::new("deploy", &args, "mallory"),
            DenialReason::WrongBinding,
            "the approval was issued for another tool, other arguments or another principal",
        ),
        (
            PendingCall::new("delete_everything", &args, "alice"),
            DenialReason::WrongBinding,
            "the approval was issued for another tool, other arguments or another principal",
        ),
    ];
    for (call, reason, detail) in misuses {
        let (key, grant) = approved_round(&gate, &deploy(&args)).await;
        let d = denial(gate.check(&call, &carrying(&grant, &key)).await);
        assert_eq!(
            (d.reason, d.detail.as_str()),
            (reason, detail),
            "{}",
            call.tool
        );
        // Presented for another call, the grant is burnt: its own call cannot use it either.
        let d = denial(gate.check(&deploy(&args), &carrying(&grant, &key)).await);
        assert_eq!(d.reason, DenialReason::Replayed);
    }
    // An altered grant, an approval request passed off as a grant: tampered, and not spent.
    let (key, grant) = approved_round(&gate, &deploy(&args)).await;
    let d = denial(
        gate.check(&deploy(&args), &carrying(&flip(&grant, 4), &key))
            .await,
    );
    assert_eq!(d.reason, DenialReason::Tampered);
    let d = denial(
        gate.check(&deploy(&args), &carrying(&key[KEY_PREFIX.len()..], &key))
            .await,
    );
    assert_eq!(
        (d.reason, d.detail.as_str()),
        (DenialReason::Tampered, "the token is not an approval grant")
    );
    // A grant passed off as the answer to an approval request: tampered.
    let d = denial(
        gate.check(
            &deploy(&args),
            &later_round(
                &format!("{KEY_PREFIX}{grant}"),
                accept(json!({"approve": true})),
            ),
        )
        .await,
    );
    assert_eq!(
        (d.reason, d.detail.as_str()),
        (DenialReason::Tampered, "the token is not an approval token")
    );
    // Another server's grant (another key): tampered.
    let elsewhere = ApprovalGate::new(Approvals::new(&[6; 32]));
    let (_, foreign) = approved_round(&elsewhere, &deploy(&args)).await;
    let d = denial(gate.check(&deploy(&args), &carrying(&foreign, &key)).await);
    assert_eq!(d.reason, DenialReason::Tampered);
    // The good grant, after all that, still serves its own call once.
    gate.check(&deploy(&args), &carrying(&grant, &key))
        .await
        .unwrap();
}

#[tokio::test]
async fn out_of_band_gate_never_counts_the_clients_answer() {
    let gate = gate();
    let args = deploy_args();
    // A real, pending request answered "yes" by the client: the gate has no approver, so an
    // out-of-band call is refused without asking anyone, and the request is not spent.
    let key = first_round(&gate, &args).await;
    let asker = later_round(&key, accept(json!({"approve": true})));
    let d = denial(gate.check(&deploy(&args).out_of_band(), &asker).await);
    assert_eq!(
        (d.reason, d.detail.as_str()),
        (
            DenialReason::Unavailable,
            "the tool `deploy` may only be approved out of band, by a server-side approver, and \
             this server has none configured"
        )
    );
    assert!(asker.asked().is_empty());
    // A grant from a call the client approved does not carry to an out-of-band call.
    let (key2, grant) = approved_round(&gate, &deploy(&args)).await;
    let d = denial(
        gate.check(&deploy(&args).out_of_band(), &carrying(&grant, &key2))
            .await,
    );
    assert_eq!(
        (d.reason, d.detail.as_str()),
        (
            DenialReason::WrongBinding,
            "this tool may only be approved by the server's approver, not by the client"
        )
    );
    // With an approver, the client's "yes" is ignored: the approver says no.
    let (approver, mut queue) = ChannelApprover::new(4, Duration::from_secs(30));
    let approving = gate.clone().with_approver(approver);
    let ops = tokio::spawn(async move {
        let prompt = queue.recv().await.unwrap();
        prompt.deny("ops says no");
        // Then approves the next one, and the grant carries its decision to a later round.
        let prompt = queue.recv().await.unwrap();
        prompt.approve();
        queue
    });
    let d = denial(approving.check(&deploy(&args).out_of_band(), &asker).await);
    assert_eq!(
        (d.reason, d.detail.as_str()),
        (DenialReason::Declined, "ops says no")
    );
    let round1 = Asker::new(Client::Hangs);
    let approved = approving
        .check(&deploy(&args).out_of_band(), &round1)
        .await
        .unwrap();
    let mut queue = ops.await.unwrap();
    let round2 = carrying(&round1.grant(), &key);
    assert_eq!(
        approving
            .check(&deploy(&args).out_of_band(), &round2)
            .await
            .unwrap(),
        approved
    );
    assert!(queue.try_recv().is_err(), "the approver was asked once");
    // The pending request the client answered was never spent: its own call still uses it.
    gate.check(
        &deploy(&args),
        &later_round(&key, accept(json!({"approve": true}))),
    )
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn url_mode_waits_for_the_external_approver() {
    let gate = gate().with_approval_url("https://approve.example/page");
    let args = deploy_args();
    let cases = [
        (Some(true), ElicitAction::Accept, None),
        (
            Some(false),
            ElicitAction::Accept,
            Some(DenialReason::Declined),
        ),
        (None, ElicitAction::Accept, Some(DenialReason::Timeout)),
        (
            Some(true),
            ElicitAction::Decline,
            Some(DenialReason::Declined),
        ),
    ];
    for (decision, action, expected) in cases {
        let mut asker = Asker::new(Client::Answers(answer(action)));
        asker.url = true;
        asker.page = Some((gate.clone(), decision));
        let result = gate.check(&deploy(&args), &asker).await;
        match expected {
            None => assert!(result.is_ok(), "{decision:?}: {result:?}"),
            Some(reason) => assert_eq!(denial(result).reason, reason, "{decision:?} {action:?}"),
        }
        let asked = asker.asked();
        let ElicitRequestParams::Url(url) = &asked[0].1 else {
            panic!("expected a URL elicitation");
        };
        assert!(url.url.starts_with("https://approve.example/page?request="));
    }
    // Without URL support on the client, the form is used.
    let asker = Asker::new(Client::Answers(accept(json!({"approve": true}))));
    gate.check(&deploy(&args), &asker).await.unwrap();
    assert!(matches!(asker.asked()[0].1, ElicitRequestParams::Form(_)));
}

// ---------------------------------------------------------------------------------------------
// Server-side approvers.

#[tokio::test]
async fn the_channel_approver_hands_requests_to_the_application() {
    let (approver, mut queue) = ChannelApprover::new(8, Duration::from_secs(30));
    let gate = gate().with_approver(approver);
    // The application: approves v1.2.3 deployments, denies the rest.
    let app = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(prompt) = queue.recv().await {
            seen.push(prompt.request.clone());
            if prompt.summary.contains("1.2.3") {
                prompt.approve();
            } else {
                prompt.deny("only 1.2.3 may ship");
            }
        }
        seen
    });
    let args = deploy_args();
    // The client is never asked when a server-side approver is configured.
    let asker = Asker::new(Client::Hangs);
    let request = gate.check(&deploy(&args), &asker).await.unwrap();
    assert_eq!(request.arguments_hash, arguments_hash(&args));
    let other = json!({"env": "prod", "version": "6.6.6"});
    let d = denial(gate.check(&deploy(&other), &asker).await);
    assert_eq!(d.reason, DenialReason::Declined);
    assert_eq!(d.detail, "only 1.2.3 may ship");
    assert!(asker.asked().is_empty());
    drop(gate);
    let seen = app.await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], request);
}

#[tokio::test]
async fn with_an_approver_the_clients_answers_do_not_count() {
    let asking = gate();
    let args = deploy_args();
    // A question asked of the client, answered "yes" on a later round...
    let key = first_round(&asking, &args).await;
    let (approver, mut queue) = ChannelApprover::new(1, Duration::from_secs(30));
    tokio::spawn(async move {
        while let Some(prompt) = queue.recv().await {
            prompt.deny("ops says no");
        }
    });
    // ...but the gate (same authority) now has an approver: only the approver decides.
    let approving = asking.clone().with_approver(approver);
    let d = denial(
        approving
            .check(
                &deploy(&args),
                &later_round(&key, accept(json!({"approve": true}))),
            )
            .await,
    );
    assert_eq!(d.reason, DenialReason::Declined);
    assert_eq!(d.detail, "ops says no");
}

#[tokio::test(start_paused = true)]
async fn the_channel_approver_denies_without_an_answer() {
    let request = Approvals::new(&[1; 32])
        .issue("deploy", &deploy_args(), "alice", "")
        .await
        .unwrap()
        .0;
    // Nobody drains the queue.
    let (approver, _queue) = ChannelApprover::new(1, Duration::from_secs(5));
    assert_eq!(approver.approve(&request, "").await, Decision::TimedOut);
    // The receiver is gone.
    let (approver, queue) = ChannelApprover::new(1, Duration::from_secs(5));
    drop(queue);
    assert!(matches!(
        approver.approve(&request, "").await,
        Decision::Denied(_)
    ));
    // The application drops the prompt.
    let (approver, mut queue) = ChannelApprover::new(1, Duration::from_secs(5));
    tokio::spawn(async move { drop(queue.recv().await) });
    assert!(matches!(
        approver.approve(&request, "").await,
        Decision::Denied(_)
    ));
    // Through the gate, a timeout is audited as one.
    let (approver, _queue) = ChannelApprover::new(1, Duration::from_secs(5));
    let gate = gate().with_approver(approver);
    let args = deploy_args();
    let d = denial(gate.check(&deploy(&args), &Asker::new(Client::Hangs)).await);
    assert_eq!(d.reason, DenialReason::Timeout);
}

#[cfg(all(feature = "http", feature = "webhook"))]
mod webhook {
    use super::*;
    use axum::Json;
    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    /// A local approval endpoint: approves when the summary mentions 1.2.3 and the bearer is right.
    async fn webhook_server() -> (String, Arc<Mutex<Vec<Value>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = Router::new()
            .route(
                "/approve",
                post(move |headers: HeaderMap, Json(body): Json<Value>| {
                    let log = Arc::clone(&log);
                    async move {
                        log.lock().unwrap().push(body.clone());
                        if headers.get("authorization").and_then(|v| v.to_str().ok())
                            != Some("Bearer s3cret")
                        {
                            return (StatusCode::UNAUTHORIZED, Json(json!({})));
                        }
                        let ok = body["summary"].as_str().unwrap_or("").contains("1.2.3");
                        (
                            StatusCode::OK,
                            Json(json!({"approved": ok, "reason": "not on the release list"})),
                        )
                    }
                }),
            )
            .route(
                "/error",
                post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route("/garbage", post(|| async { "yes please" }))
            .route(
                "/redirect",
                post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/approve")]) }),
            )
            .route(
                "/slow",
                // Never answers: the approver's timeout is what ends the wait.
                post(std::future::pending::<Json<Value>>),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test]
    async fn the_webhook_approver_posts_the_request_and_reads_the_decision() {
        let (base, seen) = webhook_server().await;
        let approver = WebhookApprover::new(format!("{base}/approve"))
            .unwrap()
            .with_header("Authorization", "Bearer s3cret")
            .unwrap()
            .with_timeout(Duration::from_secs(10));
        let gate = gate().with_approver(approver);
        let args = deploy_args();
        let asker = Asker::new(Client::Hangs);
        let request = gate.check(&deploy(&args), &asker).await.unwrap();
        let body = seen.lock().unwrap()[0].clone();
        assert_eq!(body["request"], serde_json::to_value(&request).unwrap());
        assert_eq!(
            body["request"]["argumentsHash"],
            json!(arguments_hash(&args))
        );
        assert!(body["summary"].as_str().unwrap().contains("`deploy`"));

        let other = json!({"env": "prod", "version": "6.6.6"});
        let d = denial(gate.check(&deploy(&other), &asker).await);
        assert_eq!(d.reason, DenialReason::Declined);
        assert_eq!(d.detail, "not on the release list");

        // Without the header the endpoint refuses: a denial.
        let unauthenticated = WebhookApprover::new(format!("{base}/approve")).unwrap();
        let d = denial(
            gate.clone()
                .with_approver(unauthenticated)
                .check(&deploy(&args), &asker)
                .await,
        );
        assert_eq!(d.reason, DenialReason::Declined);
        assert!(d.detail.contains("401"), "{}", d.detail);
    }

    #[tokio::test]
    async fn the_webhook_approver_denies_on_anything_but_a_clear_yes() {
        let (base, _) = webhook_server().await;
        let request = Approvals::new(&[1; 32])
            .issue("deploy", &deploy_args(), "alice", "1.2.3")
            .await
            .unwrap()
            .0;
        for path in ["/error", "/garbage", "/redirect", "/missing"] {
            let approver = WebhookApprover::new(format!("{base}{path}")).unwrap();
            let decision = approver.approve(&request, "1.2.3").await;
            assert!(
                matches!(decision, Decision::Denied(_)),
                "{path}: {decision:?}"
            );
        }
        // Nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let approver = WebhookApprover::new(format!("http://127.0.0.1:{port}/")).unwrap();
        assert!(matches!(
            approver.approve(&request, "").await,
            Decision::Denied(_)
        ));
        // Too slow.
        let approver = WebhookApprover::new(format!("{base}/slow"))
            .unwrap()
            .with_timeout(Duration::from_millis(200));
        assert_eq!(approver.approve(&request, "").await, Decision::TimedOut);

        assert!(WebhookApprover::new("not a url").is_err());
        assert!(WebhookApprover::new("file:///etc/passwd").is_err());
        assert!(
            WebhookApprover::new("http://localhost/")
                .unwrap()
                .with_header("bad header", "v")
                .is_err()
        );
    }

    #[tokio::test]
    async fn webhook_approver_refuses_plain_http_except_loopback() {
        for url in [
            "http://approvals.example.com/hook",
            "http://10.0.0.7:8080/hook",
            "http://[2001:db8::1]/hook",
            "http://[::ffff:10.0.0.7]/hook",
            "http://localhost.example.com/hook",
            "http://127.0.0.1.nip.io/hook",
        ] {
            let e = WebhookApprover::new(url).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "the webhook URL `{url}` uses plain http, which is allowed only on loopback \
                     (localhost, 127.0.0.0/8, [::1]): use https"
                )
            );
        }
        assert_eq!(
            WebhookApprover::new("ftp://approvals.example.com/")
                .unwrap_err()
                .to_string(),
            "the webhook URL `ftp://approvals.example.com/` is not http or https"
        );
        for url in [
            "https://approvals.example.com/hook",
            "http://localhost:9000/hook",
            "http://LOCALHOST./hook",
            "http://approver.localhost/hook",
            "http://127.0.0.1/hook",
            "http://127.10.0.1/hook",
            "http://[::1]:9000/hook",
            "http://[::ffff:127.0.0.1]/hook",
        ] {
            assert!(WebhookApprover::new(url).is_ok(), "{url}");
        }
        // A good request afterwards: a loopback endpoint over plain http approves a call.
        let (base, _) = webhook_server().await;
        let approver = WebhookApprover::new(format!("{base}/approve"))
            .unwrap()
            .with_header("Authorization", "Bearer s3cret")
            .unwrap();
        let gate = gate().with_approver(approver);
        let args = deploy_args();
        let request = gate
            .check(&deploy(&args), &Asker::new(Client::Hangs))
            .await
            .unwrap();
        assert_eq!(request.arguments_hash, arguments_hash(&args));
    }
}

// ---------------------------------------------------------------------------------------------
// The terminal approver, on a scripted terminal.

#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_terminal_approver_reads_the_operators_answer() {
    let request = Approvals::new(&[1; 32])
        .issue("deploy", &deploy_args(), "alice", "")
        .await
        .unwrap()
        .0;
    for (typed, approved) in [
        ("y\n", true),
        ("YES\n", true),
        ("n\n", false),
        ("\n", false),
        ("", false),
        ("yolo\n", false),
    ] {
        let screen = Screen::default();
        let approver =
            TerminalApprover::with_io(Cursor::new(typed.as_bytes().to_vec()), screen.clone());
        let decision = approver.approve(&request, "deploy to \u{1b}[2Jprod?").await;
        assert_eq!(
            decision == Decision::Approved,
            approved,
            "{typed:?}: {decision:?}"
        );
        let shown = String::from_utf8(screen.0.lock().unwrap().clone()).unwrap();
        assert!(shown.contains("deploy to"), "{shown}");
        assert!(shown.contains(&request.nonce));
        // The escape sequence is shown, not obeyed.
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
        assert!(shown.ends_with("Approve? [y/N] "));
    }
}

#[tokio::test]
async fn denial_reasons_read_well_in_audit_records() {
    let reasons = [
        DenialReason::Declined,
        DenialReason::Timeout,
        DenialReason::Tampered,
        DenialReason::Replayed,
        DenialReason::Expired,
        DenialReason::WrongBinding,
        DenialReason::Unavailable,
    ];
    for r in reasons {
        assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
    }
    let d = Denial {
        reason: DenialReason::WrongBinding,
        detail: "issued for another call".into(),
    };
    assert_eq!(
        d.to_string(),
        "approval denied (wrong_binding): issued for another call"
    );
}

// ---------------------------------------------------------------------------------------------
// Through the server: modern rounds (`input_required`, `requestState`).

mod server {
    use super::*;
    use crate::support::{Client, modern_meta};
    use mcp_server::{Context, Server, tool};

    /// Runs per service (each test uses its own service: tests run in parallel).
    static RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn ran(service: &str) -> usize {
        RAN.lock().unwrap().iter().filter(|s| *s == service).count()
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Region {
        region: String,
    }

    /// Ships a service, once approved, to the region the user then picks.
    #[tool(destructive, approval = "required")]
    async fn ship(cx: Context, service: String) -> mcp_server::Result<String> {
        let answer = cx.keyed("region").elicit::<Region>("Which region?").await?;
        let Some(Region { region }) = answer.accepted() else {
            return Ok("not shipped".into());
        };
        RAN.lock().unwrap().push(service.clone());
        Ok(format!("shipped {service} to {region}"))
    }

    /// Wipes a database, once the operator (never the caller) approves, in the region the
    /// caller then picks.
    #[tool(destructive, approval = "out_of_band")]
    async fn wipe(cx: Context, service: String) -> mcp_server::Result<String> {
        let answer = cx.keyed("region").elicit::<Region>("Which region?").await?;
        let Some(Region { region }) = answer.accepted() else {
            return Ok("not wiped".into());
        };
        RAN.lock().unwrap().push(service.clone());
        Ok(format!("wiped {service} in {region}"))
    }

    fn server() -> Server {
        Server::new("ops", "1.0.0").tool(Ship).tool(Wipe)
    }

    fn params(tool: &str, service: &str) -> Value {
        json!({"_meta": modern_meta(json!({})), "name": tool, "arguments": {"service": service}})
    }

    fn text(r: &Value) -> &str {
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
    }

    /// The one key of an `input_required` result, and its `requestState`.
    fn asked(r: &Value) -> (String, Value) {
        assert_eq!(r["result"]["resultType"], "input_required", "{r}");
        let requests = r["result"]["inputRequests"].as_object().unwrap();
        assert_eq!(requests.len(), 1, "{r}");
        let key = requests.keys().next().unwrap().clone();
        (key, r["result"]["requestState"].clone())
    }

    fn retry(params: &Value, state: &Value, responses: Value) -> Value {
        let mut p = params.clone();
        p["requestState"] = state.clone();
        p["inputResponses"] = responses;
        p
    }

    fn approve() -> Value {
        json!({"action": "accept", "content": {"approve": true}})
    }

    fn region(r: &str) -> Value {
        json!({"action": "accept", "content": {"region": r}})
    }

    /// Rounds 1 and 2 of `ship`: asked for approval, approved, asked for the region. Returns
    /// the approval's key and the state of round 3.
    async fn approved(c: &mut Client, id: i64, p: &Value) -> (String, Value) {
        let r = c.call(id, "tools/call", p.clone()).await;
        let (key, state) = asked(&r);
        assert!(key.starts_with(KEY_PREFIX), "{key}");
        let r = c
            .call(
                id + 1,
                "tools/call",
                retry(p, &state, json!({ &key: approve() })),
            )
            .await;
        let (region_key, state) = asked(&r);
        assert_eq!(region_key, "region");
        (key, state)
    }

    #[tokio::test]
    async fn modern_approval_then_elicitation_round_completes() {
        let mut c = Client::start(server());
        let p = params("ship", "api");
        let (_, state) = approved(&mut c, 1, &p).await;
        // Round 3 answers the region: the approval given on round 2 still holds for this call.
        let r = c
            .call(
                3,
                "tools/call",
                retry(&p, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(text(&r), "shipped api to eu", "{r}");
        assert_eq!(ran("api"), 1);
        // A new call of the same tool with the same arguments is asked again.
        let r = c.call(4, "tools/call", p.clone()).await;
        let (key, _) = asked(&r);
        assert!(key.starts_with(KEY_PREFIX), "{key}");
        assert_eq!(ran("api"), 1);
    }

    /// Arguments too big for the server to keep a copy of until a round asks for input are
    /// bound at once: the rounds complete, and the state holds for these arguments only.
    #[tokio::test]
    async fn rounds_of_a_call_with_big_arguments_complete_and_stay_bound() {
        let mut c = Client::start(server());
        let big = "b".repeat(20_000);
        let p = params("ship", &big);
        let (_, state) = approved(&mut c, 1, &p).await;
        let other = params("ship", &format!("{big}!"));
        let r = c
            .call(
                3,
                "tools/call",
                retry(&other, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(r["error"]["message"], "invalid requestState (WrongRequest)");
        let r = c
            .call(
                4,
                "tools/call",
                retry(&p, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(text(&r), format!("shipped {big} to eu"));
        assert_eq!(ran(&big), 1);
    }

    #[tokio::test]
    async fn approval_state_of_one_call_not_valid_for_another() {
        let mut c = Client::start(server());
        let p = params("ship", "db");
        let (key, state) = approved(&mut c, 1, &p).await;

        // The state of this call, sent with other arguments: refused before anything runs.
        let other = params("ship", "db-replica");
        let r = c
            .call(
                3,
                "tools/call",
                retry(&other, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(r["error"]["code"], -32602, "{r}");
        assert_eq!(r["error"]["message"], "invalid requestState (WrongRequest)");
        // The approval's answer, sent on a new call (no state): the approval was spent.
        let r = c
            .call(
                4,
                "tools/call",
                retry(&p, &Value::Null, json!({ &key: approve() })),
            )
            .await;
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert_eq!(
            text(&r),
            "not approved: the approval was used already, or is unknown to this server"
        );
        assert_eq!(ran("db"), 0);

        // The good round 3 of the call: served.
        let round3 = retry(&p, &state, json!({"region": region("us")}));
        let r = c.call(5, "tools/call", round3.clone()).await;
        assert_eq!(text(&r), "shipped db to us", "{r}");
        assert_eq!(ran("db"), 1);
        // The same round 3 again (a replay of the whole request): the carried approval was
        // for one round; denied, the tool does not run twice.
        let r = c.call(6, "tools/call", round3).await;
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert_eq!(
            text(&r),
            "not approved: the approval was used already, or is unknown to this server"
        );
        assert_eq!(ran("db"), 1);
        // A new call is served after approval.
        let (_, state) = approved(&mut c, 7, &p).await;
        let r = c
            .call(
                9,
                "tools/call",
                retry(&p, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(text(&r), "shipped db to eu", "{r}");
        assert_eq!(ran("db"), 2);
    }

    #[tokio::test]
    async fn out_of_band_tool_not_approved_by_client_elicitation() {
        // No server-side approver: refused at call time, with the reason, and the client is
        // never asked, even with a well-formed "yes" to a real pending request in hand.
        let mut c = Client::start(server());
        let r = c.call(1, "tools/call", params("ship", "cache")).await;
        let (key, _) = asked(&r);
        let wipe = params("wipe", "cache");
        let r = c
            .call(
                2,
                "tools/call",
                retry(&wipe, &Value::Null, json!({ &key: approve() })),
            )
            .await;
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert_eq!(
            text(&r),
            "not approved: the tool `wipe` may only be approved out of band, by a server-side \
             approver, and this server has none configured"
        );
        assert_eq!(ran("cache"), 0);

        // With an approver: the client's "yes" does not count, the approver's "no" does.
        let (approver, mut queue) = ChannelApprover::new(4, Duration::from_secs(30));
        let gate = ApprovalGate::new(Approvals::random()).with_approver(approver);
        let mut c = Client::start(server().approval(gate));
        let ops = tokio::spawn(async move {
            let prompt = queue.recv().await.unwrap();
            assert_eq!(prompt.request.tool, "wipe");
            prompt.deny("not during business hours");
            queue
        });
        let r = c
            .call(
                3,
                "tools/call",
                retry(&wipe, &Value::Null, json!({ &key: approve() })),
            )
            .await;
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert_eq!(text(&r), "not approved: not during business hours");
        assert_eq!(ran("cache"), 0);
        let mut queue = ops.await.unwrap();
        // A good request afterwards: the approver approves, the call goes on to its question.
        let ops = tokio::spawn(async move {
            queue.recv().await.unwrap().approve();
            queue
        });
        let r = c.call(4, "tools/call", wipe.clone()).await;
        let (region_key, _) = asked(&r);
        assert_eq!(region_key, "region");
        ops.await.unwrap();
    }

    #[tokio::test]
    async fn out_of_band_tool_approved_by_server_side_approver() {
        let (approver, mut queue) = ChannelApprover::new(4, Duration::from_secs(30));
        let gate = ApprovalGate::new(Approvals::random()).with_approver(approver);
        let mut c = Client::start(server().approval(gate));
        let ops = tokio::spawn(async move {
            let prompt = queue.recv().await.unwrap();
            assert_eq!(prompt.request.tool, "wipe");
            assert_eq!(
                prompt.request.arguments_hash,
                arguments_hash(&json!({"service": "sessions"}))
            );
            prompt.approve();
            queue
        });
        let wipe = params("wipe", "sessions");
        // Round 1: the approver approves; the tool asks the caller for the region.
        let r = c.call(1, "tools/call", wipe.clone()).await;
        let (region_key, state) = asked(&r);
        assert_eq!(region_key, "region");
        let mut queue = ops.await.unwrap();
        // Round 2: runs on the approval of round 1; the approver is not asked again.
        let r = c
            .call(
                2,
                "tools/call",
                retry(&wipe, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(text(&r), "wiped sessions in eu", "{r}");
        assert_eq!(ran("sessions"), 1);
        assert!(queue.try_recv().is_err(), "the approver was asked once");
        // Round 2 replayed: denied, the tool does not run twice.
        let r = c
            .call(
                3,
                "tools/call",
                retry(&wipe, &state, json!({"region": region("eu")})),
            )
            .await;
        assert_eq!(
            text(&r),
            "not approved: the approval was used already, or is unknown to this server"
        );
        assert_eq!(ran("sessions"), 1);
        // A `required` tool on the same server is decided by the approver too.
        let ops = tokio::spawn(async move {
            let prompt = queue.recv().await.unwrap();
            assert_eq!(prompt.request.tool, "ship");
            prompt.approve();
        });
        let r = c.call(4, "tools/call", params("ship", "sessions")).await;
        let (region_key, _) = asked(&r);
        assert_eq!(region_key, "region");
        ops.await.unwrap();
    }
}
