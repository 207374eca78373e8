//! Who is subscribed to which resource, across every connection of a server: legacy
//! `resources/subscribe` (per session, until `resources/unsubscribe` or the session's end) and
//! modern `subscriptions/listen` (for the stream's life).
//!
//! A server that serves another's resources (a gateway) subscribes there only while someone is
//! subscribed here: [`Server::on_subscription_change`](crate::Server::on_subscription_change)
//! tells it when a resource gets its first subscriber and when it loses its last.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A resource got its first subscriber, or lost its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionChange {
    /// The first client subscribed to the resource at this URI.
    Subscribed(String),
    /// No client is subscribed to it any more (the last one unsubscribed, its session ended or
    /// its `subscriptions/listen` stream closed).
    Unsubscribed(String),
}

/// What [`Server::on_subscription_change`](crate::Server::on_subscription_change) calls.
pub(crate) type Hook = Arc<dyn Fn(SubscriptionChange) + Send + Sync>;

/// How many subscriptions each URI has, and whom to tell of the first and the last.
#[derive(Default)]
pub(crate) struct Subscribers {
    counts: Mutex<HashMap<String, usize>>,
    hook: Option<Hook>,
}

impl Subscribers {
    pub(crate) fn set_hook(&mut self, hook: Hook) {
        self.hook = Some(hook);
    }

    /// One more subscription to `uri`.
    pub(crate) fn add(&self, uri: &str) {
        // The hook is called under the lock: the changes it sees come in the order the counts
        // took them.
        let mut counts = self.counts.lock().expect("not poisoned");
        let n = counts.entry(uri.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1
            && let Some(hook) = &self.hook
        {
            hook(SubscriptionChange::Subscribed(uri.to_owned()));
        }
    }

    /// One subscription to `uri` fewer.
    pub(crate) fn remove(&self, uri: &str) {
        let mut counts = self.counts.lock().expect("not poisoned");
        match counts.get_mut(uri) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                counts.remove(uri);
                if let Some(hook) = &self.hook {
                    hook(SubscriptionChange::Unsubscribed(uri.to_owned()));
                }
            }
            None => {}
        }
    }

    /// A set of subscriptions replaced by another: what `new` adds is counted, what it lost
    /// is not any more. (A legacy HTTP session's copy of another replica's state.)
    #[cfg(any(feature = "http", test))]
    pub(crate) fn replace(&self, old: &BTreeSet<String>, new: &BTreeSet<String>) {
        for uri in new.difference(old) {
            self.add(uri);
        }
        for uri in old.difference(new) {
            self.remove(uri);
        }
    }

    /// How many subscriptions `uri` has.
    #[cfg(test)]
    pub(crate) fn count(&self, uri: &str) -> usize {
        self.counts
            .lock()
            .expect("not poisoned")
            .get(uri)
            .copied()
            .unwrap_or(0)
    }
}

/// Holds subscriptions for as long as it lives (a `subscriptions/listen` stream's).
pub(crate) struct Held<'a> {
    subscribers: &'a Subscribers,
    uris: Vec<String>,
}

impl<'a> Held<'a> {
    pub(crate) fn new(
        subscribers: &'a Subscribers,
        uris: impl IntoIterator<Item = String>,
    ) -> Self {
        // The same URI twice in one stream counts once.
        let uris: BTreeSet<String> = uris.into_iter().collect();
        for uri in &uris {
            subscribers.add(uri);
        }
        Held {
            subscribers,
            uris: uris.into_iter().collect(),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for uri in &self.uris {
            self.subscribers.remove(uri);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> (Subscribers, Arc<Mutex<Vec<SubscriptionChange>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut s = Subscribers::default();
        let log = seen.clone();
        s.set_hook(Arc::new(move |c| log.lock().unwrap().push(c)));
        (s, seen)
    }

    #[test]
    fn the_first_subscriber_and_the_last_are_told() {
        use SubscriptionChange::*;
        let (s, seen) = watched();
        s.add("a://1");
        s.add("a://1");
        s.add("a://2");
        s.remove("a://1");
        assert_eq!(s.count("a://1"), 1);
        s.remove("a://1");
        // A removal of what was not counted changes nothing.
        s.remove("a://1");
        s.remove("a://3");
        {
            let _held = Held::new(
                &s,
                ["a://2".to_owned(), "a://4".to_owned(), "a://4".to_owned()],
            );
            assert_eq!(s.count("a://4"), 1);
        }
        s.replace(
            &["a://2".to_owned()].into_iter().collect(),
            &["a://5".to_owned()].into_iter().collect(),
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                Subscribed("a://1".into()),
                Subscribed("a://2".into()),
                Unsubscribed("a://1".into()),
                Subscribed("a://4".into()),
                Unsubscribed("a://4".into()),
                Subscribed("a://5".into()),
                Unsubscribed("a://2".into()),
            ]
        );
    }
}
