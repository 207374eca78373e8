//! Human approval of tool calls: a tool that requires approval does not run until a human says
//! yes.
//!
//! Every approval starts as an [`ApprovalRequest`] issued by [`Approvals`]: it names the tool,
//! a hash of the exact arguments ([`arguments_hash`]), the principal, a random 128-bit nonce and
//! an expiry, and travels as a token sealed with HMAC-SHA256 under a key derived from the
//! server's key. When the answer comes back, [`Approvals::redeem`] checks, in this order, that
//! the token is intact (else [`DenialReason::Tampered`]), that it was issued for this tool,
//! these arguments and this principal ([`DenialReason::WrongBinding`]), that it has not expired
//! ([`DenialReason::Expired`]) and that its nonce is pending, then spends the nonce: using a
//! token twice, or a token the server does not know, is [`DenialReason::Replayed`].
//!
//! The [`ApprovalGate`] is what the request dispatcher calls before running such a tool. It asks
//! a server-side [`Approver`] if one is configured ([`ChannelApprover`]: a queue the application
//! drains; [`WebhookApprover`]: an HTTP endpoint; [`TerminalApprover`]: the operator's
//! terminal), and otherwise the client's user through elicitation ([`ApprovalAsker`], which the
//! dispatcher implements): a form with an `approve` checkbox, or a URL to an external approver
//! page that carries the sealed request. Declining, cancelling, a timeout, a tampered, replayed,
//! expired or misbound token all deny, each with a [`Denial`] whose reason suits an audit record.
//!
//! # Which level to choose
//!
//! - `approval = "required"` ([`Approval::Required`]): a human approves each call. With a
//!   server-side approver configured ([`ApprovalGate::with_approver`]) only that approver is
//!   asked; otherwise the client's user is, through elicitation. Choose it when the person at the
//!   client is the one who should decide (a user confirming what their assistant is about to
//!   do), or when you configure an approver anyway.
//! - `approval = "out_of_band"` ([`Approval::OutOfBand`]): only the server-side [`Approver`]
//!   decides; an elicitation answer from the client never counts, however well-formed. Choose
//!   it when the calling client must not be able to approve its own call: an autonomous agent
//!   (whose "user" may be itself), a client you do not trust to show the question faithfully, or
//!   an action whose approver is someone else (an operator, a second person). A server with
//!   such a tool must configure an approver: without one, every call of the tool is denied
//!   ([`DenialReason::Unavailable`], naming the tool). The check is made at call time, not at
//!   registration, because tools, default policies and the gate may be set in any order and
//!   tools may be added while serving; the call is the one moment that always knows both, and
//!   the denial fails closed.
//!
//! # Modern rounds
//!
//! In the modern era a tool that needs more input ends a round with `input_required` and runs
//! again from the top on the next one. The approval is spent on the round where it is given; the
//! gate then hands the dispatcher a [`CarriedApproval`] whose grant (sealed like a request, bound
//! to the same tool, arguments hash, principal and nonce, with a fresh single-use round nonce)
//! travels inside the call's sealed `requestState`. The next round of that call runs on it
//! without asking again; the grant is good for that one round (the next one gets a new one) and
//! until the approval expires. The same state replayed, or presented with other arguments, by
//! another principal or for another tool, is denied, and nothing the client sends outside the
//! sealed state is taken for a grant.
//!
//! ```
//! use std::time::Duration;
//! use mcp_server::approval::*;
//! use mcp_server::types::{ElicitRequestParams, ElicitResult};
//!
//! /// The dispatcher's side: here, a client that cannot elicit.
//! struct NoElicitation;
//!
//! impl ApprovalAsker for NoElicitation {
//!     type Error = &'static str;
//!     fn supports_form(&self) -> bool { false }
//!     fn supports_url(&self) -> bool { false }
//!     async fn elicit(&self, _: &str, _: ElicitRequestParams) -> Result<ElicitResult, Self::Error> {
//!         Err("the client supports no elicitation")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Approvals go to a queue the application drains (a chat bot, an admin UI...).
//! let (approver, mut queue) = ChannelApprover::new(16, Duration::from_secs(60));
//! tokio::spawn(async move {
//!     while let Some(prompt) = queue.recv().await {
//!         println!("{}", prompt.summary);
//!         prompt.approve();
//!     }
//! });
//! let gate = ApprovalGate::new(Approvals::random()).with_approver(approver);
//!
//! let arguments = serde_json::json!({"env": "prod"});
//! let call = PendingCall::new("deploy", &arguments, "alice");
//! match gate.check(&call, &NoElicitation).await {
//!     Ok(request) => println!("approved once (nonce {})", request.nonce),
//!     Err(GateError::Denied(denial)) => println!("denied: {}", denial.reason),
//!     // Pass it on (in the modern era: the `input_required` round).
//!     Err(GateError::Interrupted(e)) => println!("not asked: {e}"),
//! }
//! # }
//! ```
#![cfg_attr(
    not(feature = "webhook"),
    doc = "[`WebhookApprover`]: crate#features \"with the `webhook` feature\""
)]

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_core::types::{
    BooleanSchema, ElicitAction, ElicitRequestFormParams, ElicitRequestParams,
    ElicitRequestUrlParams, ElicitResult, ElicitationSchema, PrimitiveSchemaDefinition,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};

#[cfg(doc)]
use crate::policy::Approval;
use crate::state_token::{self, OpenError};

/// How long an approval request stays valid, by default.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// How long the gate waits for an answer, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How many approvals may be pending (or remembered as used) at once, by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The field of the approval form: a boolean the human sets to approve.
pub const APPROVE_FIELD: &str = "approve";

/// The prefix of the elicitation keys the gate uses; the rest of the key is the sealed request.
pub const KEY_PREFIX: &str = "approval:";

/// The key of approval tokens, derived from the server's key.
const KEY_PURPOSE: &str = "mcp-server approval token v1";

/// Longest summary (in bytes) kept for an approver page.
const MAX_SUMMARY: usize = 4096;

/// Longest rendering of the arguments in a summary.
const MAX_ARGUMENTS_IN_SUMMARY: usize = 2000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// JSON with object keys sorted (by their UTF-8 bytes) and no whitespace: equal values give equal
/// text whatever the order of their keys.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    crate::audit::canonical_json(value, &mut out);
    out
}

/// The hash that binds an approval to exact arguments: lowercase hex SHA-256 of
/// [`canonical_json`].
pub fn arguments_hash(arguments: &Value) -> String {
    crate::trace::hex(&Sha256::digest(canonical_json(arguments)))
}

/// What a human is asked to approve: one call of one tool with exact arguments, by one
/// principal, once, before it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// The tool.
    pub tool: String,
    /// [`arguments_hash`] of the arguments.
    pub arguments_hash: String,
    /// The subject of the caller.
    pub principal: String,
    /// 128 random bits, hex: makes each request single-use.
    pub nonce: String,
    /// Milliseconds since the Unix epoch when it was issued.
    pub issued_at_ms: u64,
    /// Milliseconds since the Unix epoch when it expires.
    pub expires_at_ms: u64,
}

impl ApprovalRequest {
    /// Whether it was issued for this tool, these arguments and this principal.
    pub fn is_for(&self, tool: &str, arguments: &Value, principal: &str) -> bool {
        self.tool == tool
            && self.principal == principal
            && self.arguments_hash == arguments_hash(arguments)
    }
}

/// The decision of an [`Approver`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// A human approved.
    Approved,
    /// Denied, with the reason given.
    Denied(String),
    /// Nobody answered in time.
    TimedOut,
}

/// Why a call was not approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenialReason {
    /// The human (or approver) said no, or cancelled.
    Declined,
    /// Nobody answered in time.
    Timeout,
    /// The token was altered, forged or malformed.
    Tampered,
    /// The token was used already, or the server does not know its nonce.
    Replayed,
    /// The token has expired.
    Expired,
    /// The token was issued for another tool, other arguments or another principal.
    WrongBinding,
    /// There is no way to ask: no approver is configured and the client cannot elicit, or the
    /// approver failed.
    Unavailable,
    /// The store the replicas share ([`crate::store`]) could not be reached, so single use
    /// could not be checked: refused, never allowed.
    StoreUnavailable,
}

impl DenialReason {
    /// The reason as a short `snake_case` word, for audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialReason::Declined => "declined",
            DenialReason::Timeout => "timeout",
            DenialReason::Tampered => "tampered",
            DenialReason::Replayed => "replayed",
            DenialReason::Expired => "expired",
            DenialReason::WrongBinding => "wrong_binding",
            DenialReason::Unavailable => "unavailable",
            DenialReason::StoreUnavailable => "store_unavailable",
        }
    }
}

impl fmt::Display for DenialReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call that was not approved, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("approval denied ({reason}): {detail}")]
pub struct Denial {
    /// The reason, for audit records and metrics.
    pub reason: DenialReason,
    /// What happened, in words (safe to show the caller: it holds no secret).
    pub detail: String,
}

impl Denial {
    fn new(reason: DenialReason, detail: impl Into<String>) -> Self {
        Denial {
            reason,
            detail: detail.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    /// `"approval"` (a request) or `"grant"` (the proof that a call was approved, carried to its
    /// next round): a token of one kind does not open as the other.
    kind: String,
    request: ApprovalRequest,
    /// A grant's single-use round nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    round: Option<String>,
    /// Whether a grant was given by a server-side approver for an `out_of_band` call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    out_of_band: bool,
}

const KIND_REQUEST: &str = "approval";
const KIND_GRANT: &str = "grant";

/// How a pending approval was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Channel {
    /// An answer carries the decision ([`Approvals::issue`]; the gate's approval form).
    Answer,
    /// A URL: the external approver records the decision with [`Approvals::record_decision`].
    Url,
    /// The gate's server-side [`Approver`]: never answered through the client.
    Approver,
    /// The next round of an approved call ([`CarriedApproval`]): spent by that round.
    Round,
}

struct Entry {
    expires_at_ms: u64,
    /// Order of issue, to break ties between entries that expire in the same millisecond.
    seq: u64,
    state: EntryState,
}

enum EntryState {
    Pending {
        summary: String,
        channel: Channel,
        decision: watch::Sender<Option<bool>>,
    },
    Used,
}

/// Pending and used nonces until they expire, at most `capacity` of them.
///
/// Every nonce is spent through [`NonceStore::spend`] (and issued through
/// [`NonceStore::insert`]): the one seam a store shared between replicas would replace.
struct NonceStore {
    entries: HashMap<String, Entry>,
    capacity: usize,
    issued: u64,
}

impl NonceStore {
    fn make_room(&mut self, now: u64) {
        if self.entries.len() < self.capacity {
            return;
        }
        self.entries.retain(|_, e| e.expires_at_ms > now);
        while self.entries.len() >= self.capacity {
            // Forgetting the entry that expires first fails closed: a pending one can no longer
            // be redeemed, a used one still cannot (it is unknown now).
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| (e.expires_at_ms, e.seq))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Remembers a new pending nonce until `expires_at_ms`.
    fn insert(&mut self, nonce: &str, expires_at_ms: u64, summary: String, channel: Channel) {
        self.make_room(now_ms());
        self.issued += 1;
        let seq = self.issued;
        self.entries.insert(
            nonce.to_owned(),
            Entry {
                expires_at_ms,
                seq,
                state: EntryState::Pending {
                    summary,
                    channel,
                    decision: watch::channel(None).0,
                },
            },
        );
    }

    /// Spends a nonce: `Some` with what an external approver recorded for it if it was pending,
    /// `None` if it was used already or is unknown. Either way it is used afterwards.
    fn spend(&mut self, nonce: &str) -> Option<Option<bool>> {
        let entry = self.entries.get_mut(nonce)?;
        match std::mem::replace(&mut entry.state, EntryState::Used) {
            EntryState::Pending { decision, .. } => Some(*decision.borrow()),
            EntryState::Used => None,
        }
    }
}

/// The result of [`Approvals::redeem`]: the request, now spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// The request that was approved or denied.
    pub request: ApprovalRequest,
    /// What an external approver recorded for it ([`Approvals::record_decision`]), if anything.
    /// A request issued with [`Approvals::issue_for_url`] is approved only if this is
    /// `Some(true)`; redeeming it just spends it.
    pub recorded: Option<bool>,
}

/// A pending request as an approver page shows it ([`Approvals::inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    /// The request.
    pub request: ApprovalRequest,
    /// What the human is asked, in words.
    pub summary: String,
}

/// Issues, seals and redeems approval requests: the server-side authority.
///
/// The seal is HMAC-SHA256 under a key derived from the server's key; the nonce store (bounded,
/// entries expire with their request) makes every request single-use.
pub struct Approvals {
    key: [u8; 32],
    lifetime: Duration,
    store: Mutex<NonceStore>,
    /// The store shared with other replicas, when there is one: nonces are kept there instead.
    shared: std::sync::OnceLock<Arc<dyn crate::store::Store>>,
}

/// A pending request as the shared store keeps it (`approval:{nonce}`).
#[derive(Serialize, Deserialize)]
struct SharedEntry {
    summary: String,
    channel: Channel,
}

/// The bus topic on which a replica announces a decision recorded for a nonce.
const DECIDED_TOPIC: &str = "approval-decided";

fn store_unavailable(e: &crate::store::StoreError) -> Denial {
    tracing::warn!(error = %e, "an approval was refused: the shared store is unavailable");
    Denial::new(
        DenialReason::StoreUnavailable,
        "the server's shared state is unavailable, so the approval cannot be checked: try again shortly",
    )
}

fn shared_ttl(expires_at_ms: u64) -> Duration {
    Duration::from_millis(expires_at_ms.saturating_sub(now_ms()).max(1))
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Approvals {
    /// Approvals sealed under a key derived from `server_key` (the same secret may serve other
    /// purposes, such as `requestState`: derived keys do not collide).
    pub fn new(server_key: &[u8; 32]) -> Self {
        Approvals {
            key: state_token::derive_key(server_key, KEY_PURPOSE),
            lifetime: DEFAULT_LIFETIME,
            store: Mutex::new(NonceStore {
                entries: HashMap::new(),
                capacity: DEFAULT_CAPACITY,
                issued: 0,
            }),
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Keeps nonces in `store`, shared with the other replicas of the server, so that a request
    /// is single-use across all of them (and a decision recorded through one replica's approver
    /// page is seen by the replica that waits for it). Every replica needs the same server key.
    pub fn with_store(self, store: Arc<dyn crate::store::Store>) -> Self {
        self.attach_store(store);
        self
    }

    /// [`Approvals::with_store`] on a shared instance; a store attached already stays.
    pub(crate) fn attach_store(&self, store: Arc<dyn crate::store::Store>) {
        let _ = self.shared.set(store);
    }

    // The nonce operations: in this process, or in the shared store.

    async fn insert(
        &self,
        nonce: &str,
        expires_at_ms: u64,
        summary: String,
        channel: Channel,
    ) -> Result<(), Denial> {
        match self.shared.get() {
            None => {
                self.store.lock().expect("not poisoned").insert(
                    nonce,
                    expires_at_ms,
                    summary,
                    channel,
                );
                Ok(())
            }
            Some(store) => {
                let entry =
                    serde_json::to_vec(&SharedEntry { summary, channel }).expect("serializes");
                store
                    .put(
                        &format!("approval:{nonce}"),
                        &entry,
                        shared_ttl(expires_at_ms),
                    )
                    .await
                    .map_err(|e| store_unavailable(&e))
            }
        }
    }

    /// Spends a nonce: `Some` with the recorded decision if it was pending, `None` if it was
    /// used already or is unknown.
    async fn spend(&self, nonce: &str) -> Result<Option<Option<bool>>, Denial> {
        match self.shared.get() {
            None => Ok(self.store.lock().expect("not poisoned").spend(nonce)),
            Some(store) => {
                let taken = store
                    .take(&format!("approval:{nonce}"))
                    .await
                    .map_err(|e| store_unavailable(&e))?;
                if taken.is_none() {
                    return Ok(None);
                }
                let decision = store
                    .take(&format!("approval-decision:{nonce}"))
                    .await
                    .map_err(|e| store_unavailable(&e))?;
                Ok(Some(decision.map(|d| d == b"1")))
            }
        }
    }

    /// The summary and channel of a pending nonce (`None` if it is not pending).
    async fn pending(&self, nonce: &str) -> Result<Option<(String, Channel)>, Denial> {
        match self.shared.get() {
            None => {
                let store = self.store.lock().expect("not poisoned");
                Ok(match store.entries.get(nonce).map(|e| &e.state) {
                    Some(EntryState::Pending {
                        summary, channel, ..
                    }) => Some((summary.clone(), *channel)),
                    _ => None,
                })
            }
            Some(store) => {
                let entry = store
                    .get(&format!("approval:{nonce}"))
                    .await
                    .map_err(|e| store_unavailable(&e))?;
                Ok(entry
                    .and_then(|e| serde_json::from_slice::<SharedEntry>(&e).ok())
                    .map(|e| (e.summary, e.channel)))
            }
        }
    }

    /// Approvals under a random key (tokens do not survive a restart; nonces never do anyway).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random source works");
        Self::new(&key)
    }

    /// How long a request stays valid ([`DEFAULT_LIFETIME`] by default).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How many requests may be pending or remembered at once ([`DEFAULT_CAPACITY`] by
    /// default). When full, the one that expires first is forgotten (and can no longer be
    /// redeemed).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.store.get_mut().expect("not poisoned").capacity = capacity.max(1);
        self
    }

    /// How many requests are pending or remembered.
    pub fn len(&self) -> usize {
        self.store.lock().expect("not poisoned").entries.len()
    }

    /// Whether no request is pending or remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Issues a request for one call, to be approved through an answer (a form, or a
    /// server-side approver). Returns the request and its sealed token.
    pub async fn issue(
        &self,
        tool: &str,
        arguments: &Value,
        principal: &str,
        summary: &str,
    ) -> Result<(ApprovalRequest, String), Denial> {
        self.issue_via(tool, arguments, principal, summary, Channel::Answer)
            .await
    }

    /// Issues a request to be decided by an external approver page, which calls
    /// [`Approvals::record_decision`] with the token.
    pub async fn issue_for_url(
        &self,
        tool: &str,
        arguments: &Value,
        principal: &str,
        summary: &str,
    ) -> Result<(ApprovalRequest, String), Denial> {
        self.issue_via(tool, arguments, principal, summary, Channel::Url)
            .await
    }

    async fn issue_via(
        &self,
        tool: &str,
        arguments: &Value,
        principal: &str,
        summary: &str,
        channel: Channel,
    ) -> Result<(ApprovalRequest, String), Denial> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let issued_at_ms = now_ms();
        let lifetime = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        let request = ApprovalRequest {
            tool: tool.to_owned(),
            arguments_hash: arguments_hash(arguments),
            principal: principal.to_owned(),
            nonce: crate::trace::hex(&nonce),
            issued_at_ms,
            expires_at_ms: issued_at_ms.saturating_add(lifetime),
        };
        let mut summary = summary.to_owned();
        truncate(&mut summary, MAX_SUMMARY);
        self.insert(&request.nonce, request.expires_at_ms, summary, channel)
            .await?;
        let token = self.seal(&Sealed {
            kind: KIND_REQUEST.into(),
            request: request.clone(),
            round: None,
            out_of_band: false,
        });
        Ok((request, token))
    }

    fn seal(&self, sealed: &Sealed) -> String {
        state_token::seal_bytes(&self.key, &serde_json::to_vec(sealed).expect("serializes"))
    }

    /// Opens a token: intact and of the right kind, or [`DenialReason::Tampered`].
    fn open(&self, token: &str) -> Result<ApprovalRequest, Denial> {
        Ok(self.open_kind(token, KIND_REQUEST)?.request)
    }

    /// The request a token was issued for, if its seal verifies (spent or not, expired or
    /// not): to tell which call an answer belongs to (a result filter's release).
    #[cfg(feature = "filters")]
    pub(crate) fn issued_for(&self, token: &str) -> Option<ApprovalRequest> {
        self.open(token).ok()
    }

    fn open_kind(&self, token: &str, kind: &str) -> Result<Sealed, Denial> {
        let tampered = |what: &str| Denial::new(DenialReason::Tampered, what.to_owned());
        let bytes = state_token::open_bytes(&self.key, token).map_err(|e| match e {
            OpenError::BadSignature => tampered("the approval token's seal does not verify"),
            _ => tampered("the approval token is malformed"),
        })?;
        let sealed: Sealed = serde_json::from_slice(&bytes)
            .map_err(|_| tampered("the approval token is malformed"))?;
        if sealed.kind != kind {
            return Err(tampered(if kind == KIND_GRANT {
                "the token is not an approval grant"
            } else {
                "the token is not an approval token"
            }));
        }
        Ok(sealed)
    }

    /// The proof, for the next round of one call, that `request` was approved for it: a grant
    /// sealed like a request, naming the request (tool, arguments hash, principal, nonce,
    /// expiry) and a fresh single-use round nonce. Redeemed by [`Approvals::redeem_grant`].
    fn grant(&self, request: &ApprovalRequest, out_of_band: bool) -> String {
        let mut round = [0u8; 16];
        getrandom::fill(&mut round).expect("the OS random source works");
        let round = crate::trace::hex(&round);
        // With a shared store, the round is marked used when it is redeemed
        // (`Approvals::spend_round`): nothing to write now.
        if self.shared.get().is_none() {
            self.store.lock().expect("not poisoned").insert(
                &round,
                request.expires_at_ms,
                String::new(),
                Channel::Round,
            );
        }
        self.seal(&Sealed {
            kind: KIND_GRANT.into(),
            request: request.clone(),
            round: Some(round),
            out_of_band,
        })
    }

    /// Redeems a grant on a later round of the call it was made for: checks integrity, binding
    /// (tool, arguments, principal), that an `out_of_band` call was approved by a server-side
    /// approver, expiry, and spends the round nonce (a round's state replayed is
    /// [`DenialReason::Replayed`]).
    async fn redeem_grant(
        &self,
        token: &str,
        call: &PendingCall<'_>,
    ) -> Result<ApprovalRequest, Denial> {
        let sealed = self.open_kind(token, KIND_GRANT)?;
        let spent = match &sealed.round {
            Some(round) => {
                self.spend_round(round, sealed.request.expires_at_ms)
                    .await?
            }
            None => None,
        };
        if !sealed
            .request
            .is_for(call.tool, call.arguments, call.principal)
        {
            return Err(wrong_binding());
        }
        if call.out_of_band && !sealed.out_of_band {
            return Err(not_out_of_band());
        }
        Self::check_expiry(&sealed.request)?;
        spent.ok_or_else(replayed)?;
        Ok(sealed.request)
    }

    /// Spends a grant's round nonce: `Some` the first time.
    async fn spend_round(&self, round: &str, expires_at_ms: u64) -> Result<Option<()>, Denial> {
        match self.shared.get() {
            None => Ok(self
                .store
                .lock()
                .expect("not poisoned")
                .spend(round)
                .map(|_| ())),
            Some(store) => {
                let first = store
                    .put_new(
                        &format!("approval-round:{round}"),
                        b"used",
                        shared_ttl(expires_at_ms),
                    )
                    .await
                    .map_err(|e| store_unavailable(&e))?;
                Ok(first.then_some(()))
            }
        }
    }

    fn check_expiry(request: &ApprovalRequest) -> Result<(), Denial> {
        if now_ms() >= request.expires_at_ms {
            return Err(Denial::new(
                DenialReason::Expired,
                "the approval request has expired",
            ));
        }
        Ok(())
    }

    /// A pending request, for an approver page to show: intact, unexpired and not used yet.
    /// Does not spend it.
    pub async fn inspect(&self, token: &str) -> Result<PendingApproval, Denial> {
        let request = self.open(token)?;
        Self::check_expiry(&request)?;
        match self.pending(&request.nonce).await? {
            Some((summary, _)) => Ok(PendingApproval { summary, request }),
            None => Err(replayed()),
        }
    }

    /// Records the decision of an external approver (the page a URL elicitation points to) for a
    /// pending request issued with [`Approvals::issue_for_url`]. The first decision stands.
    ///
    /// The page must authenticate the human who decides: anyone holding the token (the client
    /// sees the URL) could otherwise approve.
    pub async fn record_decision(
        &self,
        token: &str,
        approved: bool,
    ) -> Result<ApprovalRequest, Denial> {
        let request = self.open(token)?;
        Self::check_expiry(&request)?;
        if let Some(store) = self.shared.get() {
            return match self.pending(&request.nonce).await? {
                Some((_, Channel::Url)) => {
                    let decision: &[u8] = if approved { b"1" } else { b"0" };
                    store
                        .put_new(
                            &format!("approval-decision:{}", request.nonce),
                            decision,
                            shared_ttl(request.expires_at_ms),
                        )
                        .await
                        .map_err(|e| store_unavailable(&e))?;
                    // The replica waiting for it may be another one; it also polls.
                    if let Err(e) = store.publish(DECIDED_TOPIC, request.nonce.as_bytes()).await {
                        tracing::warn!(error = %e, "an approval decision was not announced");
                    }
                    Ok(request)
                }
                Some(_) => Err(not_by_url()),
                None => Err(replayed()),
            };
        }
        let store = self.store.lock().expect("not poisoned");
        match store.entries.get(&request.nonce).map(|e| &e.state) {
            Some(EntryState::Pending {
                channel: Channel::Url,
                decision,
                ..
            }) => {
                decision.send_if_modified(|d| {
                    if d.is_none() {
                        *d = Some(approved);
                        true
                    } else {
                        false
                    }
                });
                Ok(request)
            }
            Some(EntryState::Pending { .. }) => Err(not_by_url()),
            _ => Err(replayed()),
        }
    }

    /// Redeems a token for one call: checks integrity, binding (tool, arguments, principal),
    /// expiry and single use, then spends the nonce. A token presented for the wrong call is
    /// spent too.
    pub async fn redeem(
        &self,
        token: &str,
        tool: &str,
        arguments: &Value,
        principal: &str,
    ) -> Result<Redeemed, Denial> {
        let request = self.open(token)?;
        let bound = request.is_for(tool, arguments, principal);
        let recorded = self.spend(&request.nonce).await?;
        if !bound {
            return Err(wrong_binding());
        }
        Self::check_expiry(&request)?;
        let recorded = recorded.ok_or_else(replayed)?;
        Ok(Redeemed { request, recorded })
    }

    /// How a pending request was issued (`None` if it is not pending).
    async fn channel(&self, request: &ApprovalRequest) -> Result<Option<Channel>, Denial> {
        Ok(self.pending(&request.nonce).await?.map(|(_, c)| c))
    }

    /// Spends a pending request without using it (declined, timed out).
    async fn revoke(&self, nonce: &str) {
        // A store that cannot be reached leaves it pending until it expires: it is still
        // single-use, and nobody holds its token but the caller that gave up on it.
        let _ = self.spend(nonce).await;
    }

    /// Waits until an external approver records a decision for `nonce`, or `timeout` passes.
    async fn recorded_decision(&self, nonce: &str, timeout: Duration) -> Option<bool> {
        if let Some(store) = self.shared.get() {
            return Self::shared_decision(store.as_ref(), nonce, timeout).await;
        }
        let mut rx = {
            let store = self.store.lock().expect("not poisoned");
            match store.entries.get(nonce).map(|e| &e.state) {
                Some(EntryState::Pending { decision, .. }) => decision.subscribe(),
                _ => return None,
            }
        };
        let wait = rx.wait_for(Option::is_some);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(d)) => *d,
            _ => None,
        }
    }
}

impl Approvals {
    /// [`Approvals::recorded_decision`] through the shared store: woken by the replica that
    /// records it, and polling once a second in case that announcement is missed.
    async fn shared_decision(
        store: &dyn crate::store::Store,
        nonce: &str,
        timeout: Duration,
    ) -> Option<bool> {
        let mut announced = store.subscribe();
        let key = format!("approval-decision:{nonce}");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(decision)) = store.get(&key).await {
                return Some(decision == b"1");
            }
            let woken = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_secs(1)),
                async {
                    loop {
                        match announced.recv().await {
                            Ok(m) if m.topic == DECIDED_TOPIC && m.payload == nonce.as_bytes() => {
                                break;
                            }
                            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                },
            )
            .await;
            if woken.is_err() && tokio::time::Instant::now() >= deadline {
                return None;
            }
        }
    }
}

fn not_by_url() -> Denial {
    Denial::new(
        DenialReason::WrongBinding,
        "this approval request is not decided by an external approver",
    )
}

fn replayed() -> Denial {
    Denial::new(
        DenialReason::Replayed,
        "the approval was used already, or is unknown to this server",
    )
}

fn wrong_binding() -> Denial {
    Denial::new(
        DenialReason::WrongBinding,
        "the approval was issued for another tool, other arguments or another principal",
    )
}

fn not_out_of_band() -> Denial {
    Denial::new(
        DenialReason::WrongBinding,
        "this tool may only be approved by the server's approver, not by the client",
    )
}

/// Decides whether a call may run, on the server side (not through the client).
///
/// Implementations: [`ChannelApprover`] (a queue the application drains), [`WebhookApprover`]
/// (an HTTP endpoint), [`TerminalApprover`] (the operator's terminal).
///
#[cfg_attr(
    not(feature = "webhook"),
    doc = "[`WebhookApprover`]: crate#features \"with the `webhook` feature\""
)]
pub trait Approver: Send + Sync + 'static {
    /// Asks for a decision on `request`; `summary` says in words what the call does.
    fn approve(
        &self,
        request: &ApprovalRequest,
        summary: &str,
    ) -> impl Future<Output = Decision> + Send;
}

/// [`Approver`] behind a pointer.
trait DynApprover: Send + Sync + 'static {
    fn approve_boxed<'a>(
        &'a self,
        request: &'a ApprovalRequest,
        summary: &'a str,
    ) -> BoxFuture<'a, Decision>;
}

impl<T: Approver> DynApprover for T {
    fn approve_boxed<'a>(
        &'a self,
        request: &'a ApprovalRequest,
        summary: &'a str,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(self.approve(request, summary))
    }
}

/// One approval waiting in a [`ChannelApprover`]'s queue: answer it with
/// [`ApprovalPrompt::approve`] or [`ApprovalPrompt::deny`]. Dropping it denies.
#[derive(Debug)]
pub struct ApprovalPrompt {
    /// The request.
    pub request: ApprovalRequest,
    /// What the call does, in words.
    pub summary: String,
    responder: oneshot::Sender<Decision>,
}

impl ApprovalPrompt {
    /// Approves the call.
    pub fn approve(self) {
        self.respond(Decision::Approved);
    }

    /// Denies the call.
    pub fn deny(self, reason: impl Into<String>) {
        self.respond(Decision::Denied(reason.into()));
    }

    /// Answers with `decision` (ignored if the call stopped waiting).
    pub fn respond(self, decision: Decision) {
        let _ = self.responder.send(decision);
    }
}

/// An [`Approver`] that puts each request on a queue ([`ApprovalPrompt`]s on a tokio mpsc
/// channel) for the application to present, in a UI or chat, and waits for the answer.
///
/// No answer within the timeout, a full queue that stays full, a closed receiver or a dropped
/// prompt all deny.
#[derive(Debug, Clone)]
pub struct ChannelApprover {
    tx: mpsc::Sender<ApprovalPrompt>,
    timeout: Duration,
}

impl ChannelApprover {
    /// An approver whose queue holds `capacity` prompts, waiting at most `timeout` for each
    /// answer; the receiver is for the application.
    pub fn new(capacity: usize, timeout: Duration) -> (Self, mpsc::Receiver<ApprovalPrompt>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ChannelApprover { tx, timeout }, rx)
    }
}

impl Approver for ChannelApprover {
    async fn approve(&self, request: &ApprovalRequest, summary: &str) -> Decision {
        let (responder, answer) = oneshot::channel();
        let prompt = ApprovalPrompt {
            request: request.clone(),
            summary: summary.to_owned(),
            responder,
        };
        let ask = async {
            if self.tx.send(prompt).await.is_err() {
                return Decision::Denied("no approver is listening".into());
            }
            answer
                .await
                .unwrap_or_else(|_| Decision::Denied("the approver dropped the request".into()))
        };
        tokio::time::timeout(self.timeout, ask)
            .await
            .unwrap_or(Decision::TimedOut)
    }
}

/// An [`Approver`] that POSTs each request to an HTTPS endpoint and reads the decision.
///
/// The URL must be `https`, or plain `http` on loopback only (`localhost`, `127.0.0.0/8`,
/// `[::1]`: a sidecar on the same host): over plain http anyone on the path could read the
/// requests and forge the decisions.
///
/// The body is `{"request": ApprovalRequest, "summary": "..."}`; the endpoint answers `2xx`
/// with `{"approved": true}` or `{"approved": false, "reason": "..."}`. Anything else (another
/// status, a malformed or oversized body, a redirect, a connection error) denies; no answer
/// within the timeout is a [`Decision::TimedOut`]. Redirects are not followed.
#[cfg(feature = "webhook")]
#[derive(Debug, Clone)]
pub struct WebhookApprover {
    client: reqwest::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
}

#[cfg(feature = "webhook")]
impl WebhookApprover {
    /// Largest response body read.
    const MAX_RESPONSE: usize = 64 * 1024;

    /// An approver that posts to `url`, waiting at most [`DEFAULT_TIMEOUT`].
    pub fn new(url: impl Into<String>) -> Result<Self, WebhookError> {
        let url = url.into();
        let parsed = url
            .parse::<reqwest::Url>()
            .map_err(|e| WebhookError(format!("invalid webhook URL `{url}`: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => {
                return Err(WebhookError(format!(
                    "the webhook URL `{url}` uses plain http, which is allowed only on loopback \
                     (localhost, 127.0.0.0/8, [::1]): use https"
                )));
            }
            _ => {
                return Err(WebhookError(format!(
                    "the webhook URL `{url}` is not http or https"
                )));
            }
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebhookError(format!("cannot build the HTTP client: {e}")))?;
        Ok(WebhookApprover {
            client,
            url,
            headers: reqwest::header::HeaderMap::new(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Waits at most this long for the endpoint's answer (connection included).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends this header with every request (say, `Authorization` for the endpoint).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, WebhookError> {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| WebhookError(format!("invalid header name `{name}`: {e}")))?;
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|e| WebhookError(format!("invalid value for header `{name}`: {e}")))?;
        value.set_sensitive(true);
        self.headers.insert(name, value);
        Ok(self)
    }

    async fn ask(&self, request: &ApprovalRequest, summary: &str) -> Decision {
        #[derive(Serialize)]
        struct Body<'a> {
            request: &'a ApprovalRequest,
            summary: &'a str,
        }
        #[derive(Deserialize)]
        struct Answer {
            approved: bool,
            reason: Option<String>,
        }
        let sent = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .json(&Body { request, summary })
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return Decision::Denied(format!("the approval webhook failed: {e}")),
        };
        if !response.status().is_success() {
            return Decision::Denied(format!(
                "the approval webhook answered {}",
                response.status()
            ));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > Self::MAX_RESPONSE {
                        return Decision::Denied(
                            "the approval webhook's answer is too large".into(),
                        );
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Decision::Denied(format!("the approval webhook's answer failed: {e}"));
                }
            }
        }
        match serde_json::from_slice::<Answer>(&body) {
            Ok(Answer { approved: true, .. }) => Decision::Approved,
            Ok(Answer {
                approved: false,
                reason,
            }) => {
                Decision::Denied(reason.unwrap_or_else(|| "denied by the approval webhook".into()))
            }
            Err(_) => Decision::Denied(
                "the approval webhook's answer is not {\"approved\": true|false}".into(),
            ),
        }
    }
}

#[cfg(feature = "webhook")]
impl Approver for WebhookApprover {
    async fn approve(&self, request: &ApprovalRequest, summary: &str) -> Decision {
        tokio::time::timeout(self.timeout, self.ask(request, summary))
            .await
            .unwrap_or(Decision::TimedOut)
    }
}

/// Whether the URL's host is this machine: `localhost` (or a name under it), or a loopback
/// address. Plain http is tolerated there only.
#[cfg(feature = "webhook")]
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// A [`WebhookApprover`] that cannot be built.
#[cfg(feature = "webhook")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(String);

type TerminalIo = (
    Box<dyn std::io::BufRead + Send>,
    Box<dyn std::io::Write + Send>,
);

/// An [`Approver`] that asks the operator at a terminal: it prints the summary and reads `y`
/// (approve) or anything else (deny).
///
/// Usable where a person watches the server's terminal:
/// - [`TerminalApprover::tty`] opens `/dev/tty`, the controlling terminal, and works with any
///   transport, stdio included (the protocol's stdin and stdout are never touched); it denies
///   when the process has no terminal (a daemon, a container without `-t`, an MCP client that
///   spawned it detached);
/// - [`TerminalApprover::stdio`] reads stdin and writes stderr: only for a server whose
///   transport is not stdio (Streamable HTTP run in a terminal).
///
/// Prompts are asked one at a time. On timeout the call is denied, but the terminal read goes on
/// until the operator presses Enter (that late answer is discarded).
#[derive(Clone)]
pub struct TerminalApprover {
    source: TerminalSource,
    timeout: Duration,
    lock: Arc<Mutex<()>>,
}

#[derive(Clone)]
enum TerminalSource {
    Tty,
    Stdio,
    Custom(Arc<Mutex<TerminalIo>>),
}

impl fmt::Debug for TerminalApprover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            TerminalSource::Tty => "/dev/tty",
            TerminalSource::Stdio => "stdio",
            TerminalSource::Custom(_) => "custom",
        };
        f.debug_struct("TerminalApprover")
            .field("source", &source)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl TerminalApprover {
    fn with_source(source: TerminalSource) -> Self {
        TerminalApprover {
            source,
            timeout: DEFAULT_TIMEOUT,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// Asks on the controlling terminal (`/dev/tty`).
    pub fn tty() -> Self {
        Self::with_source(TerminalSource::Tty)
    }

    /// Asks on stderr and reads stdin: never with the stdio transport.
    pub fn stdio() -> Self {
        Self::with_source(TerminalSource::Stdio)
    }

    /// Asks on `output` and reads `input` (for tests, or a serial console).
    pub fn with_io(
        input: impl std::io::BufRead + Send + 'static,
        output: impl std::io::Write + Send + 'static,
    ) -> Self {
        Self::with_source(TerminalSource::Custom(Arc::new(Mutex::new((
            Box::new(input),
            Box::new(output),
        )))))
    }

    /// Waits at most this long for the operator ([`DEFAULT_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn prompt_text(request: &ApprovalRequest, summary: &str) -> String {
        // Control characters could move the cursor or recolour the prompt: show them escaped.
        let clean = |s: &str| -> String {
            s.chars()
                .flat_map(|c| {
                    if c.is_control() && c != '\n' {
                        c.escape_unicode().collect::<Vec<_>>()
                    } else {
                        vec![c]
                    }
                })
                .collect()
        };
        format!(
            "\n[mcp-server] approval required (request {}):\n{}\nApprove? [y/N] ",
            clean(&request.nonce),
            clean(summary)
        )
    }

    fn ask_blocking(source: &TerminalSource, prompt: &str) -> std::io::Result<String> {
        use std::io::{BufRead, Write};
        let mut line = String::new();
        match source {
            TerminalSource::Tty => {
                let tty = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/tty")?;
                (&tty).write_all(prompt.as_bytes())?;
                (&tty).flush()?;
                std::io::BufReader::new(&tty).read_line(&mut line)?;
            }
            TerminalSource::Stdio => {
                let mut err = std::io::stderr().lock();
                err.write_all(prompt.as_bytes())?;
                err.flush()?;
                std::io::stdin().lock().read_line(&mut line)?;
            }
            TerminalSource::Custom(io) => {
                let mut io = io.lock().map_err(|_| std::io::Error::other("poisoned"))?;
                let (input, output) = &mut *io;
                output.write_all(prompt.as_bytes())?;
                output.flush()?;
                input.read_line(&mut line)?;
            }
        }
        Ok(line)
    }
}

impl Approver for TerminalApprover {
    async fn approve(&self, request: &ApprovalRequest, summary: &str) -> Decision {
        let prompt = Self::prompt_text(request, summary);
        let source = self.source.clone();
        let lock = Arc::clone(&self.lock);
        let task = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
            Self::ask_blocking(&source, &prompt)
        });
        match tokio::time::timeout(self.timeout, task).await {
            Err(_) => Decision::TimedOut,
            Ok(Err(_)) => Decision::Denied("the terminal prompt failed".into()),
            Ok(Ok(Err(e))) => Decision::Denied(format!("no terminal to ask on: {e}")),
            Ok(Ok(Ok(line))) => match line.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => Decision::Approved,
                "" => Decision::Denied("no answer at the terminal".into()),
                _ => Decision::Denied("denied at the terminal".into()),
            },
        }
    }
}

/// The approval form: `summary` as the message and one required boolean field,
/// [`APPROVE_FIELD`].
pub fn approval_form(summary: &str) -> ElicitRequestFormParams {
    let mut properties = std::collections::BTreeMap::new();
    properties.insert(
        APPROVE_FIELD.to_owned(),
        PrimitiveSchemaDefinition::Boolean(BooleanSchema {
            title: Some("Approve".into()),
            description: Some("Allow this call to run once, with exactly these arguments".into()),
            default: Some(false),
            ..Default::default()
        }),
    );
    ElicitRequestFormParams {
        message: summary.to_owned(),
        requested_schema: ElicitationSchema {
            properties,
            required: Some(vec![APPROVE_FIELD.to_owned()]),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The URL elicitation that sends the user to an external approver page: `base` with the
/// sealed request added as the query parameter `request`. The elicitation id is the request's
/// nonce.
pub fn approval_url_elicitation(
    summary: &str,
    base: &str,
    token: &str,
    request: &ApprovalRequest,
) -> ElicitRequestUrlParams {
    let separator = if base.contains('?') { '&' } else { '?' };
    ElicitRequestUrlParams {
        message: summary.to_owned(),
        url: format!("{base}{separator}request={token}"),
        elicitation_id: Some(request.nonce.clone()),
        ..Default::default()
    }
}

/// What an answer to [`approval_form`] means: approved only if accepted with `approve: true`;
/// declined, cancelled, `false`, missing or not a boolean all deny.
pub fn interpret_form_answer(answer: &ElicitResult) -> Decision {
    match answer.action {
        ElicitAction::Decline => Decision::Denied("the user declined".into()),
        ElicitAction::Cancel => Decision::Denied("the user cancelled".into()),
        ElicitAction::Accept => match answer.content.as_ref().and_then(|c| c.get(APPROVE_FIELD)) {
            Some(Value::Bool(true)) => Decision::Approved,
            Some(Value::Bool(false)) => Decision::Denied("the user did not approve".into()),
            Some(_) => Decision::Denied(format!("`{APPROVE_FIELD}` is not a boolean")),
            None => Decision::Denied(format!("the answer has no `{APPROVE_FIELD}`")),
        },
    }
}

/// A call that waits for approval.
#[derive(Debug, Clone, Copy)]
pub struct PendingCall<'a> {
    /// The tool.
    pub tool: &'a str,
    /// The exact arguments (`{}` when the call has none).
    pub arguments: &'a Value,
    /// The subject of the caller.
    pub principal: &'a str,
    /// Arguments whose values the summary leaves out ([`crate::Policy::sensitive`]).
    pub sensitive: &'a [String],
    /// Whether only a server-side [`Approver`] may approve it
    /// ([`crate::policy::Approval::OutOfBand`]): the client's answers never count.
    pub out_of_band: bool,
}

impl<'a> PendingCall<'a> {
    /// A call of `tool` with `arguments` by `principal`.
    pub fn new(tool: &'a str, arguments: &'a Value, principal: &'a str) -> Self {
        PendingCall {
            tool,
            arguments,
            principal,
            sensitive: &[],
            out_of_band: false,
        }
    }

    /// Approvable only by a server-side [`Approver`] ([`crate::policy::Approval::OutOfBand`]).
    pub fn out_of_band(mut self) -> Self {
        self.out_of_band = true;
        self
    }

    /// With these arguments left out of the summary.
    pub fn sensitive(mut self, sensitive: &'a [String]) -> Self {
        self.sensitive = sensitive;
        self
    }

    /// What the human is asked, in words: the tool, the caller and the arguments (sensitive ones
    /// shown as `"[redacted]"`, long ones cut).
    pub fn summary(&self) -> String {
        let mut shown = self.arguments.clone();
        if let Value::Object(m) = &mut shown {
            for name in self.sensitive {
                if let Some(v) = m.get_mut(name) {
                    *v = Value::String("[redacted]".into());
                }
            }
        }
        let mut arguments = serde_json::to_string_pretty(&shown).unwrap_or_default();
        truncate(&mut arguments, MAX_ARGUMENTS_IN_SUMMARY);
        format!(
            "Allow the tool `{}` to run for `{}` with these arguments?\n{arguments}",
            self.tool, self.principal
        )
    }
}

/// How the gate reaches the client's user: the dispatcher implements it on its request context.
pub trait ApprovalAsker: Send + Sync {
    /// What stops asking without an answer, to be passed on unchanged: in the modern era, the
    /// `input_required` result that ends this round; a cancellation; a transport failure.
    type Error: Send;

    /// Whether the client supports form elicitation.
    fn supports_form(&self) -> bool;

    /// Whether the client supports URL elicitation.
    fn supports_url(&self) -> bool;

    /// Asks through elicitation. `key` identifies the question: in the modern era it is the
    /// `inputRequests` key, under which the client's answer comes back on the next round.
    fn elicit(
        &self,
        key: &str,
        params: ElicitRequestParams,
    ) -> impl Future<Output = Result<ElicitResult, Self::Error>> + Send;

    /// Answers that came with this request to questions of earlier rounds whose key starts
    /// with `prefix` (modern era: `inputResponses`); the legacy era has none.
    fn answered(&self, prefix: &str) -> Vec<(String, ElicitResult)> {
        let _ = prefix;
        Vec::new()
    }

    /// The grant that an earlier round of this same call carried in its sealed state (modern
    /// era: `requestState`, which the client cannot forge or alter), if the call was approved
    /// on an earlier round. Never take it from anything the client sends unsealed.
    fn carried_approval(&self) -> Option<String> {
        None
    }

    /// Called when the call is approved in this round. In the modern era, keep `approval` and,
    /// if this round ends with `input_required`, seal [`CarriedApproval::grant`] into the
    /// state the next round brings back ([`ApprovalAsker::carried_approval`]). The legacy era
    /// has no later rounds: ignore it.
    fn keep_approval(&self, approval: CarriedApproval) {
        let _ = approval;
    }
}

/// A call approved in this round, to carry to its next round: see
/// [`ApprovalAsker::keep_approval`].
///
/// The next round of the same call then runs without asking again, and exactly once: the
/// grant names the approved request (tool, arguments hash, principal, nonce, expiry) and a
/// fresh round nonce that the next round spends.
#[derive(Clone)]
pub struct CarriedApproval {
    approvals: Arc<Approvals>,
    request: ApprovalRequest,
    out_of_band: bool,
}

impl fmt::Debug for CarriedApproval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarriedApproval")
            .field("request", &self.request)
            .field("out_of_band", &self.out_of_band)
            .finish_non_exhaustive()
    }
}

impl CarriedApproval {
    /// The approved request.
    pub fn request(&self) -> &ApprovalRequest {
        &self.request
    }

    /// The sealed grant for the next round (issues its single-use round nonce: call it once,
    /// when the round ends with `input_required`). It expires with the approved request.
    pub fn grant(&self) -> String {
        self.approvals.grant(&self.request, self.out_of_band)
    }
}

/// Why [`ApprovalGate::check`] did not let a call run.
#[derive(Debug)]
pub enum GateError<E> {
    /// Not approved (audit it).
    Denied(Denial),
    /// Asking stopped without an answer ([`ApprovalAsker::Error`]): pass it on. In the modern
    /// era this is the `input_required` round; the request stays pending until it expires.
    Interrupted(E),
}

impl<E: fmt::Display> fmt::Display for GateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateError::Denied(d) => d.fmt(f),
            GateError::Interrupted(e) => write!(f, "approval interrupted: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GateError<E> {}

impl<E> From<Denial> for GateError<E> {
    fn from(d: Denial) -> Self {
        GateError::Denied(d)
    }
}

/// Holds calls until a human approves them: the dispatcher calls [`ApprovalGate::check`] before
/// running a tool whose policy requires approval.
///
/// With a server-side [`Approver`] configured it asks that; otherwise it asks the client's user
/// through elicitation ([`ApprovalAsker`]): by URL when an approval URL is configured and the
/// client supports URL elicitation, else by form. Without either, calls are denied. A call that
/// only a server-side approver may approve ([`PendingCall::out_of_band`]) is denied when there
/// is no approver.
#[derive(Clone)]
pub struct ApprovalGate {
    approvals: Arc<Approvals>,
    approver: Option<Arc<dyn DynApprover>>,
    url: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for ApprovalGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalGate")
            .field("approvals", &self.approvals)
            .field("approver", &self.approver.is_some())
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ApprovalGate {
    /// A gate issuing requests from `approvals`, asking through elicitation.
    pub fn new(approvals: Approvals) -> Self {
        ApprovalGate {
            approvals: Arc::new(approvals),
            approver: None,
            url: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Asks this server-side approver instead of the client's user.
    pub fn with_approver(mut self, approver: impl Approver) -> Self {
        self.approver = Some(Arc::new(approver));
        self
    }

    /// Sends the user to this external approver page (URL elicitation) when the client
    /// supports it. The page reads the `request` query parameter, shows
    /// [`Approvals::inspect`], authenticates the approver and calls
    /// [`Approvals::record_decision`].
    pub fn with_approval_url(mut self, base: impl Into<String>) -> Self {
        self.url = Some(base.into());
        self
    }

    /// How long to wait for an answer ([`DEFAULT_TIMEOUT`] by default). In the modern era,
    /// where the answer comes on a later round, the request's lifetime bounds the wait instead.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The authority, for an approver page.
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// Lets `call` run once if a human approves it; returns the spent request (for the audit
    /// record).
    ///
    /// Call it for every call of a tool that requires approval, after its arguments have been
    /// validated (a human should never be asked about a call that cannot run) and right before
    /// running it, on every round of a modern request. `Ok` is good for this one call only: on
    /// `Ok` the gate hands the asker a [`CarriedApproval`] whose grant, sealed into the state of
    /// the call's next round, lets that round run without asking again (once; a replayed round
    /// state, or a grant presented for other arguments, another tool or another principal, is
    /// denied).
    ///
    /// A call marked [`PendingCall::out_of_band`] is decided by the server-side [`Approver`]
    /// alone; without one it is denied ([`DenialReason::Unavailable`]).
    pub async fn check<A: ApprovalAsker>(
        &self,
        call: &PendingCall<'_>,
        asker: &A,
    ) -> Result<ApprovalRequest, GateError<A::Error>> {
        // A later round of a call approved on an earlier one: the grant it carries decides,
        // nothing is asked again.
        let (request, by_approver) = match asker.carried_approval() {
            Some(grant) => (
                self.approvals.redeem_grant(&grant, call).await?,
                call.out_of_band,
            ),
            None => self.ask(call, asker).await?,
        };
        asker.keep_approval(CarriedApproval {
            approvals: Arc::clone(&self.approvals),
            request: request.clone(),
            out_of_band: call.out_of_band && by_approver,
        });
        Ok(request)
    }

    /// Asks for an approval; `true` when the server-side approver gave it.
    async fn ask<A: ApprovalAsker>(
        &self,
        call: &PendingCall<'_>,
        asker: &A,
    ) -> Result<(ApprovalRequest, bool), GateError<A::Error>> {
        let summary = call.summary();
        if let Some(approver) = &self.approver {
            // The client's answers are never consulted: only the approver decides.
            let (request, token) = self
                .approvals
                .issue_via(
                    call.tool,
                    call.arguments,
                    call.principal,
                    &summary,
                    Channel::Approver,
                )
                .await?;
            let decision =
                tokio::time::timeout(self.timeout, approver.approve_boxed(&request, &summary))
                    .await
                    .unwrap_or(Decision::TimedOut);
            return Ok((self.settle(&token, &request, decision, call).await?, true));
        }
        if call.out_of_band {
            // Checked at call time: tools and gates may be registered in any order, and at
            // any time; this is the one place that always knows both.
            return Err(GateError::Denied(Denial::new(
                DenialReason::Unavailable,
                format!(
                    "the tool `{}` may only be approved out of band, by a server-side approver, \
                     and this server has none configured",
                    call.tool
                ),
            )));
        }
        // A later round of a modern request: the answer to the question of an earlier round.
        if let Some((key, answer)) = asker.answered(KEY_PREFIX).into_iter().next() {
            let token = &key[KEY_PREFIX.len().min(key.len())..];
            return Ok((self.conclude(token, &answer, call).await?, false));
        }
        let by_url = self.url.as_deref().filter(|_| asker.supports_url());
        if by_url.is_none() && !asker.supports_form() {
            return Err(GateError::Denied(Denial::new(
                DenialReason::Unavailable,
                "this tool requires approval, but no approver is configured and the client \
                 cannot ask its user (no elicitation support)",
            )));
        }
        let (request, token, params) = match by_url {
            Some(base) => {
                let (request, token) = self
                    .approvals
                    .issue_for_url(call.tool, call.arguments, call.principal, &summary)
                    .await?;
                let params = ElicitRequestParams::Url(approval_url_elicitation(
                    &summary, base, &token, &request,
                ));
                (request, token, params)
            }
            None => {
                let (request, token) = self
                    .approvals
                    .issue(call.tool, call.arguments, call.principal, &summary)
                    .await?;
                (
                    request,
                    token,
                    ElicitRequestParams::Form(approval_form(&summary)),
                )
            }
        };
        let key = format!("{KEY_PREFIX}{token}");
        match tokio::time::timeout(self.timeout, asker.elicit(&key, params)).await {
            Err(_) => {
                self.approvals.revoke(&request.nonce).await;
                Err(GateError::Denied(Denial::new(
                    DenialReason::Timeout,
                    "nobody answered the approval request in time",
                )))
            }
            Ok(Err(e)) => Err(GateError::Interrupted(e)),
            Ok(Ok(answer)) => Ok((self.conclude(&token, &answer, call).await?, false)),
        }
    }

    /// Turns an approver's decision into the outcome, spending the request.
    async fn settle(
        &self,
        token: &str,
        request: &ApprovalRequest,
        decision: Decision,
        call: &PendingCall<'_>,
    ) -> Result<ApprovalRequest, Denial> {
        match decision {
            Decision::Approved => {
                let redeemed = self
                    .approvals
                    .redeem(token, call.tool, call.arguments, call.principal)
                    .await?;
                Ok(redeemed.request)
            }
            Decision::Denied(why) => {
                self.approvals.revoke(&request.nonce).await;
                Err(Denial::new(DenialReason::Declined, why))
            }
            Decision::TimedOut => {
                self.approvals.revoke(&request.nonce).await;
                Err(Denial::new(
                    DenialReason::Timeout,
                    "the approver did not answer in time",
                ))
            }
        }
    }

    /// Turns an elicitation answer into the outcome: redeems the token first (integrity,
    /// binding, expiry, single use), then reads the decision.
    async fn conclude(
        &self,
        token: &str,
        answer: &ElicitResult,
        call: &PendingCall<'_>,
    ) -> Result<ApprovalRequest, Denial> {
        let request = self.approvals.open(token)?;
        let channel = self.approvals.channel(&request).await?;
        if channel == Some(Channel::Approver) {
            self.approvals
                .redeem(token, call.tool, call.arguments, call.principal)
                .await?;
            return Err(Denial::new(
                DenialReason::WrongBinding,
                "this approval is decided by the server's approver, not by the client",
            ));
        }
        if channel == Some(Channel::Url) {
            if answer.action != ElicitAction::Accept {
                self.approvals
                    .redeem(token, call.tool, call.arguments, call.principal)
                    .await?;
                return Err(Denial::new(
                    DenialReason::Declined,
                    "the user did not open the approval page",
                ));
            }
            // The user went to the page; wait for the approver there to decide.
            let recorded = self
                .approvals
                .recorded_decision(&request.nonce, self.timeout)
                .await;
            let redeemed = self
                .approvals
                .redeem(token, call.tool, call.arguments, call.principal)
                .await?;
            return match recorded.or(redeemed.recorded) {
                Some(true) => Ok(redeemed.request),
                Some(false) => Err(Denial::new(
                    DenialReason::Declined,
                    "the approver denied the call",
                )),
                None => Err(Denial::new(
                    DenialReason::Timeout,
                    "the approver did not decide in time",
                )),
            };
        }
        let redeemed = self
            .approvals
            .redeem(token, call.tool, call.arguments, call.principal)
            .await?;
        match interpret_form_answer(answer) {
            Decision::Approved => Ok(redeemed.request),
            Decision::Denied(why) => Err(Denial::new(DenialReason::Declined, why)),
            Decision::TimedOut => Err(Denial::new(
                DenialReason::Timeout,
                "nobody answered the approval request in time",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": "x\n"}], "x": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":"x\n","d":2}]},"b":1}"#
        );
        let b: Value =
            serde_json::from_str(r#"{"a":{"y":[1,{"c":"x\n","d":2}],"x":null},"b":1}"#).unwrap();
        assert_eq!(arguments_hash(&a), arguments_hash(&b));
        assert_ne!(arguments_hash(&a), arguments_hash(&json!({"b": 2})));
        assert_eq!(arguments_hash(&a).len(), 64);
    }

    #[tokio::test]
    async fn the_store_stays_bounded_and_fails_closed() {
        let approvals = Approvals::new(&[1; 32]).with_capacity(2);
        let args = json!({});
        let (_, first) = approvals.issue("t", &args, "p", "s").await.unwrap();
        let (_, second) = approvals.issue("t", &args, "p", "s").await.unwrap();
        let (_, third) = approvals.issue("t", &args, "p", "s").await.unwrap();
        assert_eq!(approvals.len(), 2);
        // The first was forgotten: it can no longer be redeemed.
        let denied = approvals.redeem(&first, "t", &args, "p").await.unwrap_err();
        assert_eq!(denied.reason, DenialReason::Replayed);
        assert!(approvals.redeem(&second, "t", &args, "p").await.is_ok());
        assert!(approvals.redeem(&third, "t", &args, "p").await.is_ok());
    }

    #[tokio::test]
    async fn a_request_state_token_is_not_an_approval_token() {
        let key = [3; 32];
        let approvals = Approvals::new(&key);
        let binding = state_token::binding("tools/call", &json!({}));
        let token = state_token::seal(&key, &binding, &Default::default());
        let denied = approvals
            .redeem(&token, "t", &json!({}), "p")
            .await
            .unwrap_err();
        assert_eq!(denied.reason, DenialReason::Tampered);
    }
}
