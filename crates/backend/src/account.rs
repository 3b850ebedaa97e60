//! The signed-in account: sign-in, sign-up, restore at launch, sign-out, and an access token
//! that is always fresh. Refreshes happen at ~80 % of the token's life, one at a time (a
//! second caller waits for the first's result instead of spending the single-use refresh
//! token again), and a request refused for an expired token is refreshed and retried once.
//! The access token lives only here, in memory; the refresh token also in the keyring.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock, watch};

use crate::auth::{AuthSession, LogoutScope, SignUp};
use crate::client::Backend;
use crate::error::BackendError;
use crate::vault::{KeyringVault, Stored, VaultError};

/// Share of an access token's life after which it is refreshed.
const REFRESH_AT: f64 = 0.8;
/// How long a refresh waits for another process's rotation of the same sign-in.
const ROTATION_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Who is signed in, for the UI.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AuthState {
    SignedOut {
        /// Why, when it was not the user's choice ("You were signed out: ...").
        reason: Option<String>,
    },
    SignedIn {
        user_id: String,
        email: String,
        /// `candidate` or `interviewer` (from `app_metadata.viva_role`).
        role: Option<String>,
    },
}

/// Whether the sign-in survives quitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "keyring", rename_all = "snake_case")]
pub enum KeyringStatus {
    Available,
    /// Signed in for this run only; `message` says why, for the user.
    Unavailable {
        code: String,
        message: String,
    },
}

#[derive(Clone)]
struct Tokens {
    access: String,
    refresh: String,
    obtained: Instant,
    lifetime: Duration,
    user: Value,
}

impl Tokens {
    fn from_session(session: AuthSession) -> Self {
        let lifetime = if session.expires_in > 0 {
            session.expires_in
        } else {
            session.expires_at - unix_now()
        };
        Self {
            access: session.access_token,
            refresh: session.refresh_token,
            obtained: Instant::now(),
            lifetime: Duration::from_secs(lifetime.max(1).unsigned_abs()),
            user: session.user,
        }
    }

    fn refresh_due_at(&self) -> Instant {
        self.obtained + self.lifetime.mul_f64(REFRESH_AT)
    }

    fn expired(&self) -> bool {
        self.obtained.elapsed() >= self.lifetime
    }

    fn user_id(&self) -> String {
        self.user
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn state(&self) -> AuthState {
        let text = |pointer: &str| {
            self.user
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        AuthState::SignedIn {
            user_id: self.user_id(),
            email: text("/email").unwrap_or_default(),
            role: text("/app_metadata/viva_role"),
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One user's sign-in to one backend.
pub struct Account {
    backend: Backend,
    vault: Option<KeyringVault>,
    keyring: std::sync::Mutex<KeyringStatus>,
    tokens: RwLock<Option<Tokens>>,
    /// Held while a refresh is in flight: the single-flight lock.
    refreshing: Mutex<()>,
    state: watch::Sender<AuthState>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("backend", &self.backend.base_url())
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An account on `backend`, keeping its refresh token in `vault` — or, when the keyring
    /// could not be opened, only in memory (the status says so).
    #[must_use]
    pub fn new(backend: Backend, vault: Result<KeyringVault, VaultError>) -> Self {
        let (vault, keyring) = match vault {
            Ok(vault) => (Some(vault), KeyringStatus::Available),
            Err(error) => {
                tracing::warn!(event = "keyring_unavailable", code = error.code(), error = %error);
                (None, unavailable(&error))
            }
        };
        Self::build(backend, vault, keyring)
    }

    fn build(backend: Backend, vault: Option<KeyringVault>, keyring: KeyringStatus) -> Self {
        Self {
            backend,
            vault,
            keyring: std::sync::Mutex::new(keyring),
            tokens: RwLock::new(None),
            refreshing: Mutex::new(()),
            state: watch::Sender::new(AuthState::SignedOut { reason: None }),
        }
    }

    /// An account that keeps its sign-in in memory only, by choice (a one-off command-line
    /// run that should not change what the desktop app restores).
    #[must_use]
    pub fn in_memory(backend: Backend) -> Self {
        Self::build(
            backend,
            None,
            KeyringStatus::Unavailable {
                code: "in_memory".into(),
                message: "This sign-in is kept in memory only, by choice.".into(),
            },
        )
    }

    #[must_use]
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Follows sign-ins and sign-outs (including being signed out by the backend).
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<AuthState> {
        self.state.subscribe()
    }

    #[must_use]
    pub fn state(&self) -> AuthState {
        self.state.borrow().clone()
    }

    #[must_use]
    pub fn keyring_status(&self) -> KeyringStatus {
        self.keyring
            .lock()
            .map(|k| k.clone())
            .unwrap_or(KeyringStatus::Available)
    }

    /// Signs in with email and password and keeps the sign-in.
    ///
    /// # Errors
    /// The backend's refusal ([`BackendError::InvalidCredentials`], ...), or the network.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<AuthState, BackendError> {
        let session = self.backend.sign_in(email, password).await?;
        Ok(self.adopt(session).await)
    }

    /// Creates an account; signed in at once when the backend confirms emails itself.
    ///
    /// # Errors
    /// [`BackendError::UserExists`], [`BackendError::WeakPassword`], the network.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        data: Value,
    ) -> Result<SignUp, BackendError> {
        let result = self.backend.sign_up(email, password, data).await?;
        if let SignUp::SignedIn(session) = &result {
            self.adopt(session.clone()).await;
        }
        Ok(result)
    }

    /// Restores the sign-in kept in the keyring, if any: `Ok(true)` when signed in again.
    /// A kept sign-in the backend no longer accepts is forgotten, and the state says why.
    ///
    /// # Errors
    /// A network failure (the kept sign-in stays for the next try).
    pub async fn restore(&self) -> Result<bool, BackendError> {
        let Some(vault) = self.vault.clone() else {
            return Ok(false);
        };
        let _across_processes = self.lock_rotation().await;
        let stored = match vault.load(self.backend.base_url()).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(false),
            Err(error) => {
                self.keyring_failed(&error);
                return Ok(false);
            }
        };
        match self.backend.refresh(&stored.refresh_token).await {
            Ok(session) => {
                self.adopt(session).await;
                Ok(true)
            }
            Err(BackendError::SignedOut(reason)) => {
                self.end_locally(Some(format!("You were signed out: {reason}")))
                    .await;
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Signs out: ends the sign-in on the backend (best effort), forgets the kept one, and
    /// drops the tokens from memory.
    pub async fn sign_out(&self) {
        let access = self.tokens.read().await.as_ref().map(|t| t.access.clone());
        if let Some(access) = access
            && let Err(error) = self.backend.logout(&access, LogoutScope::Local).await
        {
            // Signed out here all the same; the backend forgets the session when it expires.
            tracing::info!(event = "logout_not_confirmed", error = %error);
        }
        self.end_locally(None).await;
    }

    /// A valid access token, refreshed first when its life is ~80 % over.
    ///
    /// # Errors
    /// [`BackendError::SignedOut`] when not signed in (any more); the network when a refresh
    /// was needed and the token has already expired.
    pub async fn access_token(&self) -> Result<String, BackendError> {
        let current = self.tokens.read().await.clone();
        let Some(tokens) = current else {
            return Err(BackendError::SignedOut("not signed in".into()));
        };
        if Instant::now() < tokens.refresh_due_at() {
            return Ok(tokens.access);
        }
        match self.refresh(&tokens.access).await {
            Ok(access) => Ok(access),
            // The old token still works for a while: use it, the next call tries again.
            Err(error) if error.is_transient() && !tokens.expired() => {
                tracing::info!(event = "refresh_postponed", error = %error);
                Ok(tokens.access)
            }
            Err(error) => Err(error),
        }
    }

    /// Runs `request` with a fresh access token; when the token is refused (expired, or
    /// revoked by a newer refresh), refreshes once and runs it again.
    ///
    /// # Errors
    /// The request's own error, or why no token could be had.
    pub async fn authorized<T, F, Fut>(&self, request: F) -> Result<T, BackendError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let token = self.access_token().await?;
        match request(token.clone()).await {
            Err(BackendError::Unauthorized(reason)) => {
                tracing::info!(event = "token_refused", %reason);
                let fresh = self.refresh(&token).await?;
                request(fresh).await
            }
            other => other,
        }
    }

    /// [`Account::authorized`] for a request on this account's backend: each attempt gets its
    /// own handle to the backend (a clone shares the connection pool) and a fresh token.
    ///
    /// # Errors
    /// The request's own error, or why no token could be had.
    pub async fn with_backend<T, F, Fut>(&self, request: F) -> Result<T, BackendError>
    where
        F: Fn(Backend, String) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        self.authorized(|token| request(self.backend.clone(), token))
            .await
    }

    /// Keeps the sign-in fresh while nothing else asks for a token (during a long call, say):
    /// wakes at 80 % of each token's life and refreshes. Ends when signed out.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let account = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(this) = account.upgrade() else {
                    return;
                };
                let due = this
                    .tokens
                    .read()
                    .await
                    .as_ref()
                    .map(Tokens::refresh_due_at);
                let mut changes = this.state.subscribe();
                drop(this);
                let Some(due) = due else { return };
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {
                        let Some(this) = account.upgrade() else { return };
                        if let Err(error) = this.access_token().await {
                            tracing::info!(event = "background_refresh_failed", error = %error);
                            // Transient trouble: try again shortly rather than at once.
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                    }
                    // A new sign-in (or a sign-out) changes when the next refresh is due.
                    changed = changes.changed() => if changed.is_err() { return },
                }
            }
        })
    }

    /// Refreshes unless another caller already replaced `stale_access`; returns the access
    /// token to use.
    ///
    /// Other Viva processes on this computer (the app, `viva account`) rotate the same
    /// sign-in: refresh tokens are single-use, and spending one another process already spent
    /// ends the sign-in for everyone once the server's reuse window is over. So the rotation
    /// holds a lock shared by all processes, starts from the newest token in the keyring
    /// rather than the one this process remembers, and writes the new one to the keyring before
    /// using it. A refusal is checked against the keyring once more before giving up.
    async fn refresh(&self, stale_access: &str) -> Result<String, BackendError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let current = self.tokens.read().await.clone();
        let Some(tokens) = current else {
            return Err(BackendError::SignedOut("not signed in".into()));
        };
        if tokens.access != stale_access {
            // Refreshed by someone else while we waited for the lock.
            return Ok(tokens.access);
        }
        let _across_processes = self.lock_rotation().await;
        let user_id = tokens.user_id();
        let mut refresh_token = self
            .kept_refresh_token(&user_id)
            .await
            .unwrap_or_else(|| tokens.refresh.clone());
        let mut checked_keyring_again = false;
        loop {
            match self.backend.refresh(&refresh_token).await {
                Ok(session) => {
                    self.adopt(session).await;
                    return self
                        .tokens
                        .read()
                        .await
                        .as_ref()
                        .map(|t| t.access.clone())
                        .ok_or_else(|| BackendError::SignedOut("signed out meanwhile".into()));
                }
                Err(BackendError::SignedOut(reason)) => {
                    if !checked_keyring_again {
                        checked_keyring_again = true;
                        if let Some(newer) = self.kept_refresh_token(&user_id).await
                            && newer != refresh_token
                        {
                            tracing::info!(event = "refresh_token_rotated_elsewhere");
                            refresh_token = newer;
                            continue;
                        }
                    }
                    let message = format!("You were signed out: {reason}. Please sign in again.");
                    self.end_locally(Some(message)).await;
                    return Err(BackendError::SignedOut(reason));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The cross-process rotation lock, when there is a keyring to share; rotating without it
    /// (the lock file cannot be made) is still better than not rotating.
    async fn lock_rotation(&self) -> Option<crate::vault::RotationLock> {
        let vault = self.vault.as_ref()?;
        match vault
            .lock_rotation(self.backend.base_url(), ROTATION_LOCK_WAIT)
            .await
        {
            Ok(lock) => Some(lock),
            Err(error) => {
                tracing::warn!(event = "rotation_lock_unavailable", error = %error);
                None
            }
        }
    }

    /// The refresh token the keyring holds for `user_id` on this backend, if any.
    async fn kept_refresh_token(&self, user_id: &str) -> Option<String> {
        let vault = self.vault.as_ref()?;
        match vault.load(self.backend.base_url()).await {
            Ok(Some(stored)) if stored.user_id == user_id => Some(stored.refresh_token),
            Ok(_) => None,
            Err(error) => {
                self.keyring_failed(&error);
                None
            }
        }
    }

    /// Takes new tokens: the keyring first (so another process never starts from a token this
    /// one has already spent), then memory, then the state.
    async fn adopt(&self, session: AuthSession) -> AuthState {
        let tokens = Tokens::from_session(session);
        let stored = Stored {
            user_id: tokens.user_id(),
            refresh_token: tokens.refresh.clone(),
        };
        let state = tokens.state();
        if let Some(vault) = &self.vault
            && let Err(error) = vault.save(self.backend.base_url(), &stored).await
        {
            self.keyring_failed(&error);
        }
        *self.tokens.write().await = Some(tokens);
        self.state.send_replace(state.clone());
        state
    }

    async fn end_locally(&self, reason: Option<String>) {
        *self.tokens.write().await = None;
        if let Some(vault) = &self.vault
            && let Err(error) = vault.forget(self.backend.base_url()).await
        {
            self.keyring_failed(&error);
        }
        self.state.send_replace(AuthState::SignedOut { reason });
    }

    fn keyring_failed(&self, error: &VaultError) {
        tracing::warn!(event = "keyring_failed", code = error.code(), error = %error);
        if let Ok(mut status) = self.keyring.lock() {
            *status = unavailable(error);
        }
    }
}

fn unavailable(error: &VaultError) -> KeyringStatus {
    KeyringStatus::Unavailable {
        code: error.code().into(),
        message: error.to_string(),
    }
}
