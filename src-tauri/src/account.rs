//! The app's sign-in state: the configured backend and its [`viva_backend::Account`], restored
//! from the keyring on first use after launch and kept fresh in the background — or, for
//! practice with no account, the embedded local stack and a throw-away local candidate.

use std::sync::Arc;

use tokio::sync::Mutex;
use viva_backend::{Account, Backend, BackendError, KeyringVault};
use viva_localstack::LocalStack;

use crate::error::{AppError, ErrorCode};
use crate::settings::{Settings, SettingsFile};

/// Managed Tauri state.
#[derive(Debug)]
pub struct AccountState {
    file: SettingsFile,
    current: Mutex<Current>,
}

#[derive(Debug, Default)]
struct Current {
    settings: Settings,
    account: Option<Arc<Account>>,
    /// The kept sign-in was looked for (once per backend per run).
    restored: bool,
    /// Practising offline: the embedded stack and its local candidate, for this run only.
    offline: Option<Offline>,
}

#[derive(Debug)]
struct Offline {
    stack: LocalStack,
    account: Arc<Account>,
}

impl AccountState {
    pub fn new(file: SettingsFile) -> Self {
        let settings = file.load();
        Self {
            file,
            current: Mutex::new(Current {
                settings,
                ..Current::default()
            }),
        }
    }

    pub async fn settings(&self) -> Settings {
        self.current.lock().await.settings.clone()
    }

    /// The account of the organisation's backend when someone is signed in to it; `None` when
    /// practising offline, signed out, or no backend is configured (or it cannot be).
    pub async fn signed_in(&self) -> Option<Arc<Account>> {
        if self.is_offline().await {
            return None;
        }
        self.account()
            .await
            .ok()
            .flatten()
            .filter(|account| matches!(account.state(), viva_backend::AuthState::SignedIn { .. }))
    }

    /// The account for the configured backend, with any kept sign-in restored; `None` when no
    /// backend is configured.
    pub async fn account(&self) -> Result<Option<Arc<Account>>, BackendError> {
        let mut current = self.current.lock().await;
        if let Some(offline) = &current.offline {
            return Ok(Some(offline.account.clone()));
        }
        if current.account.is_none() {
            let (Some(url), Some(key)) =
                (&current.settings.backend_url, &current.settings.anon_key)
            else {
                return Ok(None);
            };
            let backend = Backend::from_settings(url, key)?;
            let account = Arc::new(Account::new(backend, KeyringVault::open().await));
            current.account = Some(account);
            current.restored = false;
        }
        let Some(account) = current.account.clone() else {
            return Ok(None);
        };
        if !current.restored {
            match account.restore().await {
                Ok(restored) => {
                    if restored {
                        account.spawn_refresher();
                    }
                    current.restored = true;
                }
                // Offline at launch: the kept sign-in stays, and the next call tries again.
                Err(error) => tracing::warn!(event = "restore_failed", error = %error),
            }
        }
        Ok(Some(account))
    }

    /// Whether the current account is the offline practice one.
    pub async fn is_offline(&self) -> bool {
        self.current.lock().await.offline.is_some()
    }

    /// Starts the embedded local stack (once per run) and signs a new local candidate in, with
    /// no account, no network and nothing kept in the keyring.
    pub async fn practice_offline(&self) -> Result<Arc<Account>, AppError> {
        let mut current = self.current.lock().await;
        if let Some(offline) = &current.offline {
            return Ok(offline.account.clone());
        }
        let failed = |what: &str, error: String| {
            AppError::new(
                ErrorCode::Unavailable,
                format!("Offline practice could not start: {what} ({error})"),
            )
        };
        let stack = LocalStack::start(viva_localstack::Config::default())
            .await
            .map_err(|e| failed("the local backend did not start", e.to_string()))?;
        let tenant = stack
            .add_tenant("Practice")
            .await
            .map_err(|e| failed("the practice organisation", e.to_string()))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (email, password) = (format!("practice-{}@viva.local", &id[..8]), id);
        stack
            .add_user(&email, &password, &tenant, "candidate")
            .await
            .map_err(|e| failed("the practice account", e.message))?;
        // Its sign-in dies with the embedded stack: kept in memory by choice, which is no
        // keyring trouble (logging it as such put a false warning in every offline practice).
        let account = Arc::new(Account::in_memory(Backend::new(
            &stack.base_url,
            &stack.anon_key,
        )));
        account.sign_in(&email, &password).await?;
        account.spawn_refresher();
        current.offline = Some(Offline {
            stack,
            account: account.clone(),
        });
        Ok(account)
    }

    /// Leaves offline practice: the embedded stack stops. `false` when not practising offline.
    pub async fn leave_offline(&self) -> bool {
        let offline = self.current.lock().await.offline.take();
        match offline {
            Some(offline) => {
                offline.account.sign_out().await;
                offline.stack.shutdown().await;
                true
            }
            None => false,
        }
    }

    /// Checks and saves a new backend; the old account's in-memory sign-in is dropped (its
    /// keyring entry stays with that backend's address).
    pub async fn set_backend(&self, url: &str, anon_key: &str) -> Result<Settings, AppError> {
        let backend = Backend::from_settings(url, anon_key).map_err(AppError::from)?;
        let settings = Settings {
            backend_url: Some(backend.base_url().to_owned()),
            anon_key: Some(backend.anon_key().to_owned()),
        };
        self.file.save(&settings).map_err(|error| {
            AppError::new(
                ErrorCode::PathUnavailable,
                format!("Viva could not save its settings: {error}"),
            )
        })?;
        let mut current = self.current.lock().await;
        current.settings = settings.clone();
        current.account = None;
        current.restored = false;
        Ok(settings)
    }
}
