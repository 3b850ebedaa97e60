//! One live connection per interview: the lease a connection holds on its session, who may
//! take it over, and how a holder learns it lost it. The rules are the same for every store
//! (in memory here; PostgreSQL when instances share a database).
//!
//! - A session with no holder, or whose hold has expired, is granted at once.
//! - The same user with the same sign-in (the token's `session_id`: this computer) replaces
//!   the holder at once: a laptop that changed networks reconnects before its old socket is
//!   known to be dead. The old connection is told ([`LeaseLoss::Replaced`]) and closes 4009
//!   `replaced`.
//! - Anyone else is refused (4009) until the holder goes: by `bye`, by closing, by silence
//!   (the socket's pings), or by expiry when its instance is gone.

pub mod pg;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::auth::BoxFuture;
use crate::upstream::UpstreamCall;

/// Who asks for a session's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub session_id: String,
    /// This connection (random per socket).
    pub conn_id: String,
    pub user_id: String,
    /// The token's `session_id`; empty when it had none (then nothing is replaced at once).
    pub auth_session: String,
}

impl Claim {
    /// Whether `self` is the same sign-in as `other`: it may replace it.
    pub fn same_sign_in(&self, other: &Claim) -> bool {
        !self.auth_session.is_empty()
            && self.user_id == other.user_id
            && self.auth_session == other.auth_session
    }
}

/// How a lease was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    Fresh,
    /// The same sign-in's older connection was replaced.
    ReplacedOwn,
    /// The previous holder's lease had expired (its instance is gone).
    TookOverExpired,
}

/// A granted lease.
#[derive(Debug)]
pub struct Grant {
    pub how: Acquired,
    /// The call the session had when it was taken over: typed answers can go on to it before
    /// any new offer, and a new offer's call replaces it.
    pub call: Option<UpstreamCall>,
    /// Resolves when this connection loses the lease.
    pub lost: oneshot::Receiver<LeaseLoss>,
}

/// Why a holder lost its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseLoss {
    /// A newer connection of the same sign-in took it.
    Replaced,
    /// The store could not confirm the hold in time: stop using the upstream.
    Unconfirmed,
}

/// Why a lease was not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("this session already has a live connection")]
    Held,
    #[error("the lease store cannot answer now")]
    Unavailable,
    /// The claim no longer holds the lease.
    #[error("this connection no longer holds the session")]
    Lost,
}

/// Where leases live.
pub trait Leases: Send + Sync + std::fmt::Debug {
    fn acquire<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Grant, LeaseError>>;

    /// Records the call `claim`'s connection now has; returns the call it replaced, if another.
    fn record_call<'a>(
        &'a self,
        claim: &'a Claim,
        call: &'a UpstreamCall,
    ) -> BoxFuture<'a, Result<Option<UpstreamCall>, LeaseError>>;

    /// Gives the lease up if `claim` still holds it, returning its call.
    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Option<UpstreamCall>>;

    /// Where the leases are kept, for `/health` and the start-up message.
    fn kind(&self) -> &'static str;

    /// Whether the store answers now (for `/health`).
    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

#[derive(Debug)]
struct Held {
    claim: Claim,
    call: Option<UpstreamCall>,
    lost: Option<oneshot::Sender<LeaseLoss>>,
}

/// Leases in this process: right for one instance (the local stack, or a proxy without a
/// database). The holder's socket is its liveness: it releases on close or silence.
#[derive(Debug, Default, Clone)]
pub struct MemoryLeases {
    held: Arc<Mutex<HashMap<String, Held>>>,
}

impl MemoryLeases {
    fn acquire_now(&self, claim: &Claim) -> Result<Grant, LeaseError> {
        let mut held = self.held.lock().map_err(|_| LeaseError::Unavailable)?;
        let (tell, lost) = oneshot::channel();
        let entry = Held {
            claim: claim.clone(),
            call: None,
            lost: Some(tell),
        };
        let (how, call) = match held.remove(&claim.session_id) {
            None => (Acquired::Fresh, None),
            Some(mut old) if claim.same_sign_in(&old.claim) => {
                if let Some(tell) = old.lost.take() {
                    let _ = tell.send(LeaseLoss::Replaced);
                }
                (Acquired::ReplacedOwn, old.call)
            }
            Some(old) => {
                held.insert(claim.session_id.clone(), old);
                return Err(LeaseError::Held);
            }
        };
        held.insert(
            claim.session_id.clone(),
            Held {
                call: call.clone(),
                ..entry
            },
        );
        Ok(Grant { how, call, lost })
    }

    fn with_own<T>(&self, claim: &Claim, f: impl FnOnce(&mut Held) -> T) -> Option<T> {
        let mut held = self.held.lock().ok()?;
        let own = held
            .get_mut(&claim.session_id)
            .filter(|h| h.claim.conn_id == claim.conn_id)?;
        Some(f(own))
    }
}

impl Leases for MemoryLeases {
    fn acquire<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Grant, LeaseError>> {
        Box::pin(async move { self.acquire_now(claim) })
    }

    fn record_call<'a>(
        &'a self,
        claim: &'a Claim,
        call: &'a UpstreamCall,
    ) -> BoxFuture<'a, Result<Option<UpstreamCall>, LeaseError>> {
        Box::pin(async move {
            self.with_own(claim, |own| {
                own.call
                    .replace(call.clone())
                    .filter(|previous| previous != call)
            })
            .ok_or(LeaseError::Lost)
        })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Option<UpstreamCall>> {
        Box::pin(async move {
            let mut held = self.held.lock().ok()?;
            let own = held
                .get(&claim.session_id)
                .is_some_and(|h| h.claim.conn_id == claim.conn_id);
            if own {
                held.remove(&claim.session_id).and_then(|h| h.call)
            } else {
                None
            }
        })
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn claim(conn: &str, user: &str, sign_in: &str) -> Claim {
        Claim {
            session_id: "s1".into(),
            conn_id: conn.into(),
            user_id: user.into(),
            auth_session: sign_in.into(),
        }
    }

    fn call(id: &str) -> UpstreamCall {
        UpstreamCall {
            session_id: "s1".into(),
            live: true,
            id: id.into(),
        }
    }

    #[tokio::test]
    async fn another_sign_in_is_refused_while_the_holder_is_there() {
        let leases = MemoryLeases::default();
        let _first = leases.acquire(&claim("c1", "u", "laptop")).await.unwrap();
        let refused = leases.acquire(&claim("c2", "u", "desktop")).await;
        assert_eq!(refused.err(), Some(LeaseError::Held));
        // A token without a sign-in id never replaces anyone.
        let refused = leases.acquire(&claim("c3", "u", "")).await;
        assert_eq!(refused.err(), Some(LeaseError::Held));
    }

    #[tokio::test]
    async fn the_same_sign_in_replaces_its_own_connection_and_keeps_the_call() {
        let leases = MemoryLeases::default();
        let first_claim = claim("c1", "u", "laptop");
        let first = leases.acquire(&first_claim).await.unwrap();
        assert_eq!(first.how, Acquired::Fresh);
        leases
            .record_call(&first_claim, &call("live_1"))
            .await
            .unwrap();
        let second = leases.acquire(&claim("c2", "u", "laptop")).await.unwrap();
        assert_eq!(second.how, Acquired::ReplacedOwn);
        assert_eq!(second.call, Some(call("live_1")));
        assert_eq!(first.lost.await, Ok(LeaseLoss::Replaced));
        // The replaced connection can neither record a call nor free the new holder's lease.
        assert_eq!(
            leases.record_call(&first_claim, &call("live_2")).await,
            Err(LeaseError::Lost)
        );
        assert_eq!(leases.release(&first_claim).await, None);
        assert!(leases.acquire(&claim("c3", "u", "desktop")).await.is_err());
    }

    #[tokio::test]
    async fn a_new_call_names_the_one_it_replaced_and_release_frees_the_session() {
        let leases = MemoryLeases::default();
        let holder = claim("c1", "u", "laptop");
        let _grant = leases.acquire(&holder).await.unwrap();
        assert_eq!(leases.record_call(&holder, &call("a")).await, Ok(None));
        assert_eq!(leases.record_call(&holder, &call("a")).await, Ok(None));
        assert_eq!(
            leases.record_call(&holder, &call("b")).await,
            Ok(Some(call("a")))
        );
        assert_eq!(leases.release(&holder).await, Some(call("b")));
        assert!(leases.acquire(&claim("c2", "u", "desktop")).await.is_ok());
    }
}
