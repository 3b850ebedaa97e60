//! The typed answer ids this process passed on, per interview call: a resend of an answer
//! whose acknowledgement was lost is acknowledged again, not passed on twice
//! (docs/protocols.md §3).

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::Proxy;
use crate::upstream::UpstreamCall;

/// Typed answer ids remembered per call: a client resends only the answers a lost link left
/// unacknowledged, a handful at most, so a resend of an answer passed on is always among them.
pub const TYPED_IDS_PER_CALL: usize = 256;
/// Calls whose typed answer ids this process remembers at once; past it, the least recently
/// used call is forgotten (a resend to it would then be passed on again).
pub const TYPED_CALLS_REMEMBERED: usize = 1024;
/// A call's ids are forgotten after this long without a typed answer: a resend comes as soon
/// as the client's link is open again, well within it.
pub const TYPED_IDS_KEPT_FOR: Duration = Duration::from_secs(60 * 60);
/// How long a resend waits for an older connection still passing the same id on (longer than
/// the upstream's own timeout); past it, it is passed on again (at least once beats never).
const TYPED_IN_FLIGHT_WAIT: Duration = Duration::from_secs(20);

/// One interview call of this process, as far as typed answer ids go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CallKey {
    instance: String,
    session_id: String,
    call_id: String,
}

impl CallKey {
    pub(super) fn of(proxy: &Proxy, call: &UpstreamCall) -> Self {
        Self {
            instance: proxy.instance.clone(),
            session_id: call.session_id.clone(),
            call_id: call.id.clone(),
        }
    }
}

/// The typed answer ids one call was given.
#[derive(Debug)]
struct CallIds {
    /// Passed on, the most recent last; at most [`TYPED_IDS_PER_CALL`].
    passed_on: VecDeque<String>,
    /// Being passed on now, by some connection: a resend waits for the outcome (the sender
    /// is dropped when it is known).
    in_flight: HashMap<String, tokio::sync::watch::Receiver<()>>,
    used: Instant,
}

/// The ids of the typed answers this process passed on, per call. It lives beside the
/// connections rather than in one: a resend comes on the link that replaced the one whose
/// acknowledgement was lost. Within one process only: after a crash between passing an answer
/// on and acknowledging it, the client's resend is passed on again (docs/protocols.md §3).
#[derive(Debug, Default)]
pub(super) struct TypedIds {
    calls: Mutex<HashMap<CallKey, CallIds>>,
}

pub(super) static TYPED_IDS: LazyLock<TypedIds> = LazyLock::new(TypedIds::default);

pub(super) enum Claimed {
    /// This call took this id already: acknowledge it again.
    Already,
    /// Pass it on, then say how it went.
    Yours(Delivering),
}

/// A typed answer being passed on. [`Delivering::passed_on`] remembers its id; dropped
/// without it (the upstream failed, or the connection's task ended), the id is free again.
pub(super) struct Delivering {
    key: CallKey,
    id: String,
    /// `None`: passed on without the resends of others waiting on it (one waited too long).
    done: Option<tokio::sync::watch::Sender<()>>,
    passed_on: bool,
}

impl Delivering {
    pub(super) fn passed_on(mut self) {
        self.passed_on = true;
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        let Ok(mut calls) = TYPED_IDS.calls.lock() else {
            return;
        };
        if let Some(call) = calls.get_mut(&self.key) {
            if self.done.is_some() {
                call.in_flight.remove(&self.id);
            }
            if self.passed_on && !call.passed_on.contains(&self.id) {
                if call.passed_on.len() >= TYPED_IDS_PER_CALL {
                    call.passed_on.pop_front();
                }
                call.passed_on.push_back(self.id.clone());
            }
        }
        // Wakes the resends waiting on it (after the lock: they look again at once).
        drop(calls);
        self.done.take();
    }
}

impl TypedIds {
    /// Whether `id` is new to the call `key`; waits while another connection passes it on.
    pub(super) async fn claim(&self, key: CallKey, id: &str) -> Claimed {
        let deadline = Instant::now() + TYPED_IN_FLIGHT_WAIT;
        loop {
            let mut waiting = {
                let Ok(mut calls) = self.calls.lock() else {
                    // A panic while the map was held: pass it on (at least once).
                    return Claimed::Yours(Delivering {
                        key,
                        id: id.to_owned(),
                        done: None,
                        passed_on: false,
                    });
                };
                let now = Instant::now();
                if !calls.contains_key(&key) {
                    make_room(&mut calls, now);
                }
                let call = calls.entry(key.clone()).or_insert_with(|| CallIds {
                    passed_on: VecDeque::new(),
                    in_flight: HashMap::new(),
                    used: now,
                });
                call.used = now;
                if call.passed_on.iter().any(|seen| seen == id) {
                    return Claimed::Already;
                }
                match call.in_flight.get(id) {
                    Some(waiting) => waiting.clone(),
                    None => {
                        let (done, waiting) = tokio::sync::watch::channel(());
                        call.in_flight.insert(id.to_owned(), waiting);
                        return Claimed::Yours(Delivering {
                            key,
                            id: id.to_owned(),
                            done: Some(done),
                            passed_on: false,
                        });
                    }
                }
            };
            // Another connection (the one this client's link replaced) is passing it on.
            if tokio::time::timeout_at(deadline, waiting.changed())
                .await
                .is_err()
            {
                return Claimed::Yours(Delivering {
                    key,
                    id: id.to_owned(),
                    done: None,
                    passed_on: false,
                });
            }
        }
    }

    /// The call ended: its ids cannot come again.
    pub(super) fn forget(&self, key: &CallKey) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(key);
        }
    }
}

/// Forgets the calls idle past [`TYPED_IDS_KEPT_FOR`], then, while there are still
/// [`TYPED_CALLS_REMEMBERED`], the least recently used (none with an answer in flight).
fn make_room(calls: &mut HashMap<CallKey, CallIds>, now: Instant) {
    calls.retain(|_, call| {
        !call.in_flight.is_empty() || now.duration_since(call.used) < TYPED_IDS_KEPT_FOR
    });
    while calls.len() >= TYPED_CALLS_REMEMBERED {
        let oldest = calls
            .iter()
            .filter(|(_, call)| call.in_flight.is_empty())
            .min_by_key(|(_, call)| call.used)
            .map(|(key, _)| key.clone());
        match oldest {
            Some(key) => {
                calls.remove(&key);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn key(call: &str) -> CallKey {
        CallKey {
            instance: format!("test-{}", uuid::Uuid::new_v4()),
            session_id: "s1".into(),
            call_id: call.into(),
        }
    }

    #[tokio::test]
    async fn an_id_passed_on_is_acknowledged_again_and_a_failed_one_may_be_tried_again() {
        let call = key("live_1");
        let Claimed::Yours(first) = TYPED_IDS.claim(call.clone(), "a-1").await else {
            panic!("a new id is to be passed on");
        };
        first.passed_on();
        assert!(matches!(
            TYPED_IDS.claim(call.clone(), "a-1").await,
            Claimed::Already
        ));
        // Another call of the same interview (a new offer) has not heard it.
        assert!(matches!(
            TYPED_IDS.claim(key("live_2"), "a-1").await,
            Claimed::Yours(_)
        ));
        // The upstream failed: not remembered.
        let Claimed::Yours(failed) = TYPED_IDS.claim(call.clone(), "a-2").await else {
            panic!("a new id");
        };
        drop(failed);
        assert!(matches!(
            TYPED_IDS.claim(call.clone(), "a-2").await,
            Claimed::Yours(_)
        ));
        // The call ended: forgotten.
        TYPED_IDS.forget(&call);
        assert!(matches!(
            TYPED_IDS.claim(call, "a-1").await,
            Claimed::Yours(_)
        ));
    }

    #[tokio::test]
    async fn a_resend_waits_for_the_same_id_being_passed_on_elsewhere() {
        let call = key("live_1");
        let Claimed::Yours(first) = TYPED_IDS.claim(call.clone(), "a-1").await else {
            panic!("a new id");
        };
        let resend = tokio::spawn({
            let call = call.clone();
            async move { matches!(TYPED_IDS.claim(call, "a-1").await, Claimed::Already) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!resend.is_finished(), "it waits for the outcome");
        first.passed_on();
        assert!(
            resend.await.unwrap(),
            "passed on by the other: acknowledged"
        );
    }

    #[test]
    fn only_the_latest_ids_and_calls_are_remembered() {
        let mut calls = HashMap::new();
        let now = Instant::now();
        for n in 0..TYPED_CALLS_REMEMBERED + 5 {
            make_room(&mut calls, now);
            calls.insert(
                key(&n.to_string()),
                CallIds {
                    passed_on: VecDeque::new(),
                    in_flight: HashMap::new(),
                    used: now + Duration::from_millis(n as u64),
                },
            );
        }
        assert_eq!(calls.len(), TYPED_CALLS_REMEMBERED);
        assert!(
            !calls.keys().any(|k| k.call_id == "0"),
            "the least recently used went first"
        );
        let later = now + TYPED_IDS_KEPT_FOR + Duration::from_secs(3600);
        make_room(&mut calls, later);
        assert!(calls.is_empty(), "idle past the limit");

        let call = key("live_1");
        for n in 0..=TYPED_IDS_PER_CALL {
            let id = format!("a-{n}");
            let claim = TYPED_IDS.claim(call.clone(), &id);
            let Some(Claimed::Yours(delivering)) = futures_util::FutureExt::now_or_never(claim)
            else {
                panic!("a new id is claimed at once");
            };
            delivering.passed_on();
        }
        let calls = TYPED_IDS.calls.lock().unwrap();
        let ids = &calls[&call].passed_on;
        assert_eq!(ids.len(), TYPED_IDS_PER_CALL);
        assert_eq!(
            ids.front().map(String::as_str),
            Some("a-1"),
            "the oldest went"
        );
    }
}
