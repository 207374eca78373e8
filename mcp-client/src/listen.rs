//! Change events from the server as a stream, in both eras: [`Client::listen`].
//!
//! A modern server (2026-07-28) sends them on a `subscriptions/listen` request that lasts until
//! the client cancels it; each notification carries the subscription's id. A legacy server
//! sends list-changed notifications to the session and resource updates after
//! `resources/subscribe`. The [`Listener`] hides the difference.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use mcp_core::messages::{self, NotificationMethod as _, RequestMethod as _};
use mcp_core::types::{SubscriptionFilter, SubscriptionsListenRequestParams};
use mcp_core::{Era, JsonRpcNotification, Meta, RequestId};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::handler::Change;

/// How many events wait for a slow listener before the oldest are dropped.
const CAPACITY: usize = 256;

/// How long [`Client::listen`] waits for a modern server to acknowledge the subscription.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the read loop saw, for listeners.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A change, with the subscription it came on (modern era).
    Change(Change, Option<RequestId>),
    /// `notifications/subscriptions/acknowledged`.
    Acknowledged(Option<RequestId>),
}

/// The channel from the read loop to the listeners.
pub(crate) struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Events {
    /// Forwards a change notification to the listeners, if any.
    pub(crate) fn dispatch(&self, n: &JsonRpcNotification) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let params: Option<Value> = n
            .params
            .as_deref()
            .and_then(|p| serde_json::from_str(p.get()).ok());
        let subscription = params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| serde_json::from_value::<Meta>(m.clone()).ok())
            .and_then(|m| m.subscription_id().ok().flatten());
        let method = n.method.as_str();
        let change = if method == messages::ToolListChanged::METHOD {
            Change::Tools
        } else if method == messages::PromptListChanged::METHOD {
            Change::Prompts
        } else if method == messages::ResourceListChanged::METHOD {
            Change::Resources
        } else if method == messages::ResourceUpdated::METHOD {
            match params.as_ref().and_then(|p| p.get("uri")?.as_str()) {
                Some(uri) => Change::Resource(uri.to_owned()),
                None => return,
            }
        } else if method == messages::SubscriptionsAcknowledged::METHOD {
            let _ = self.tx.send(Event::Acknowledged(subscription));
            return;
        } else {
            return;
        };
        let _ = self.tx.send(Event::Change(change, subscription));
    }
}

/// What to listen to: list changes and updates of resources.
///
/// ```
/// use mcp_client::Subscription;
///
/// let subscription = Subscription::new()
///     .tools()
///     .resource("file:///notes.txt");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    tools: bool,
    prompts: bool,
    resources: bool,
    uris: Vec<String>,
}

impl Subscription {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every list change and the updates of `uris`.
    pub fn all<I: IntoIterator<Item = S>, S: Into<String>>(uris: I) -> Self {
        Subscription {
            tools: true,
            prompts: true,
            resources: true,
            uris: uris.into_iter().map(Into::into).collect(),
        }
    }

    /// Changes of the tool list.
    pub fn tools(mut self) -> Self {
        self.tools = true;
        self
    }

    /// Changes of the prompt list.
    pub fn prompts(mut self) -> Self {
        self.prompts = true;
        self
    }

    /// Changes of the resource list.
    pub fn resources(mut self) -> Self {
        self.resources = true;
        self
    }

    /// Updates of the resource at `uri`.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.uris.push(uri.into());
        self
    }

    fn wants(&self, change: &Change) -> bool {
        match change {
            Change::Tools => self.tools,
            Change::Prompts => self.prompts,
            Change::Resources => self.resources,
            Change::Resource(uri) => self.uris.contains(uri),
        }
    }

    fn filter(&self) -> SubscriptionFilter {
        SubscriptionFilter {
            tools_list_changed: self.tools.then_some(true),
            prompts_list_changed: self.prompts.then_some(true),
            resources_list_changed: self.resources.then_some(true),
            resource_subscriptions: (!self.uris.is_empty()).then(|| self.uris.clone()),
            tasks_status: None,
        }
    }
}

/// The changes a server reports, as a [`Stream`]; dropping it ends the subscription
/// (`notifications/cancelled` for the modern `subscriptions/listen`, `resources/unsubscribe`
/// for legacy resource subscriptions).
pub struct Listener {
    stream: BoxStream<'static, Change>,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The task holding the `subscriptions/listen` request.
    Modern(tokio::task::JoinHandle<()>),
    /// The resources to unsubscribe from.
    Legacy(Client, Vec<String>),
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// The next change; `None` when the connection closed.
    pub async fn next(&mut self) -> Option<Change> {
        self.stream.next().await
    }
}

impl Stream for Listener {
    type Item = Change;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Change>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        match &mut self.cleanup {
            // Dropping the request's future sends `notifications/cancelled`.
            Cleanup::Modern(task) => task.abort(),
            Cleanup::Legacy(client, uris) => {
                let uris = std::mem::take(uris);
                if uris.is_empty() {
                    return;
                }
                let client = client.clone();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        for uri in uris {
                            let _ = client
                                .request::<messages::Unsubscribe>(
                                    mcp_core::types::UnsubscribeRequestParams { uri, meta: None },
                                )
                                .await;
                        }
                    });
                }
            }
        }
    }
}

/// The events of one subscription, as a stream of the changes it wants.
fn changes(
    rx: broadcast::Receiver<Event>,
    subscription: Subscription,
    id: Option<RequestId>,
) -> BoxStream<'static, Change> {
    futures::stream::unfold(rx, move |mut rx| {
        let subscription = subscription.clone();
        let id = id.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(Event::Change(change, from))
                        if subscription.wants(&change) && (id.is_none() || from == id) =>
                    {
                        return Some((change, rx));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "a listener fell behind; changes were dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
    .boxed()
}

impl Client {
    /// Listens to changes on the server: list changes and updates of resources, in either era.
    ///
    /// Modern era: a `subscriptions/listen` request, acknowledged before this returns, whose
    /// notifications the [`Listener`] yields until it is dropped. Legacy era: `resources/subscribe`
    /// for each URI (list changes arrive without asking, when the server supports them).
    /// Changes also reach the handler's [`on_change`](crate::ClientHandler::on_change).
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> mcp_client::Result<()> {
    /// use mcp_client::{Change, Subscription};
    ///
    /// let mut changes = client
    ///     .listen(Subscription::new().tools().resource("file:///notes.txt"))
    ///     .await?;
    /// while let Some(change) = changes.next().await {
    ///     match change {
    ///         Change::Tools => println!("the tools changed"),
    ///         Change::Resource(uri) => println!("{uri} was updated"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn listen(&self, subscription: Subscription) -> Result<Listener> {
        let mut rx = self.events().tx.subscribe();
        if self.session().era() == Era::Legacy {
            for uri in &subscription.uris {
                self.subscribe(uri).await?;
            }
            let uris = subscription.uris.clone();
            return Ok(Listener {
                stream: changes(rx, subscription, None),
                cleanup: Cleanup::Legacy(self.clone(), uris),
            });
        }

        let id = self.next_request_id();
        let params = SubscriptionsListenRequestParams {
            notifications: subscription.filter(),
            meta: None,
        };
        let params = serde_json::to_value(&params).map_err(|e| Error::Protocol(e.to_string()))?;
        let params = self.with_meta(params, None, None);
        let (done_tx, mut done_rx) = oneshot::channel();
        let client = self.clone();
        let request_id = id.clone();
        let task = tokio::spawn(async move {
            let answer = client
                .send_request_as(
                    request_id,
                    messages::SubscriptionsListen::METHOD,
                    &params,
                    None,
                )
                .await;
            let _ = done_tx.send(answer.map(drop));
        });
        let acknowledged = async {
            loop {
                tokio::select! {
                    event = rx.recv() => match event {
                        Ok(Event::Acknowledged(Some(ack))) if ack == id => return Ok(()),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => {
                            return Err(Error::Connection("the connection closed".into()));
                        }
                    },
                    done = &mut done_rx => return Err(match done {
                        Ok(Err(e)) => e,
                        _ => Error::Protocol(
                            "`subscriptions/listen` ended before it was acknowledged".into(),
                        ),
                    }),
                }
            }
        };
        match tokio::time::timeout(ACK_TIMEOUT, acknowledged).await {
            Ok(Ok(())) => Ok(Listener {
                stream: changes(rx, subscription, Some(id)),
                cleanup: Cleanup::Modern(task),
            }),
            Ok(Err(e)) => {
                task.abort();
                Err(e)
            }
            Err(_) => {
                task.abort();
                Err(Error::Timeout {
                    method: messages::SubscriptionsListen::METHOD.to_owned(),
                    seconds: ACK_TIMEOUT.as_secs(),
                })
            }
        }
    }
}
