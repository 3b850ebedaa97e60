//! The token vault: refresh tokens in the OS keyring (the Secret Service on Linux), never in a
//! file. Per backend it keeps who is signed in and that user's refresh token, so the app can
//! restore the sign-in at launch knowing only the backend's address; different backends
//! (local, hosted) never share an entry.
//!
//! The keyring calls block (D-Bus round trips), so each runs on a blocking thread and the
//! methods here are async.

use std::sync::Arc;

use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error as KeyringError};

/// The keyring service name every entry is filed under.
pub const SERVICE: &str = "viva";

/// Why the keyring cannot be used; the message is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No Secret Service (none installed or running, no session bus).
    #[error(
        "Your system keyring is not available — Viva keeps you signed in only until you quit. ({0})"
    )]
    Unavailable(String),
    /// The keyring exists but is locked, and nothing can ask the user to unlock it.
    #[error(
        "Your system keyring is locked — unlock it to stay signed in; until then Viva keeps you signed in only until you quit. ({0})"
    )]
    Locked(String),
    /// The keyring answered with something unusable.
    #[error("The system keyring gave an unusable answer: {0}")]
    Broken(String),
}

impl VaultError {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "keyring_unavailable",
            Self::Locked(_) => "keyring_locked",
            Self::Broken(_) => "keyring_broken",
        }
    }
}

fn vault_error(error: KeyringError) -> VaultError {
    match error {
        KeyringError::NoStorageAccess(inner) => {
            let text = inner.to_string();
            if text.to_lowercase().contains("lock") || text.contains("Prompt") {
                VaultError::Locked(text)
            } else {
                VaultError::Unavailable(text)
            }
        }
        KeyringError::PlatformFailure(inner) => VaultError::Unavailable(inner.to_string()),
        KeyringError::NoDefaultStore => VaultError::Unavailable("no credential store".into()),
        other => VaultError::Broken(other.to_string()),
    }
}

/// A sign-in kept between runs.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    pub user_id: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// The OS keyring, opened and checked.
#[derive(Clone)]
pub struct KeyringVault {
    store: Arc<dyn CredentialStoreApi + Send + Sync>,
}

impl std::fmt::Debug for KeyringVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringVault").finish_non_exhaustive()
    }
}

/// The entry naming who is signed in to `backend`.
fn pointer_account(backend: &str) -> String {
    backend.trim_end_matches('/').to_owned()
}

/// The entry holding `user_id`'s refresh token for `backend`.
fn token_account(backend: &str, user_id: &str) -> String {
    format!("{} {user_id}", backend.trim_end_matches('/'))
}

impl KeyringVault {
    /// Connects to the Secret Service and checks it can be read (a locked or missing keyring
    /// is found now, not at the first sign-in).
    ///
    /// # Errors
    /// [`VaultError`] saying why the keyring cannot be used.
    pub async fn open() -> Result<Self, VaultError> {
        blocking(|| {
            let store = zbus_secret_service_keyring_store::Store::new().map_err(vault_error)?;
            let vault = Self { store };
            vault.read(&pointer_account("viva-keyring-check"))?;
            Ok(vault)
        })
        .await
    }

    fn entry(&self, account: &str) -> Result<Entry, VaultError> {
        self.store
            .build(SERVICE, account, None)
            .map_err(vault_error)
    }

    fn read(&self, account: &str) -> Result<Option<String>, VaultError> {
        match self.entry(account)?.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(error) => Err(vault_error(error)),
        }
    }

    fn remove(&self, account: &str) -> Result<(), VaultError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(error) => Err(vault_error(error)),
        }
    }

    /// The sign-in kept for `backend`, if any.
    ///
    /// # Errors
    /// When the keyring cannot be read.
    pub async fn load(&self, backend: &str) -> Result<Option<Stored>, VaultError> {
        let (vault, backend) = (self.clone(), backend.to_owned());
        blocking(move || vault.load_now(&backend)).await
    }

    fn load_now(&self, backend: &str) -> Result<Option<Stored>, VaultError> {
        let Some(user_id) = self.read(&pointer_account(backend))? else {
            return Ok(None);
        };
        Ok(self
            .read(&token_account(backend, &user_id))?
            .map(|refresh_token| Stored {
                user_id,
                refresh_token,
            }))
    }

    /// Keeps `user_id`'s refresh token for `backend` (replacing any earlier one).
    ///
    /// # Errors
    /// When the keyring cannot be written.
    pub async fn save(&self, backend: &str, stored: &Stored) -> Result<(), VaultError> {
        let (vault, backend, stored) = (self.clone(), backend.to_owned(), stored.clone());
        blocking(move || vault.save_now(&backend, &stored)).await
    }

    fn save_now(&self, backend: &str, stored: &Stored) -> Result<(), VaultError> {
        self.entry(&token_account(backend, &stored.user_id))?
            .set_password(&stored.refresh_token)
            .map_err(vault_error)?;
        self.entry(&pointer_account(backend))?
            .set_password(&stored.user_id)
            .map_err(vault_error)
    }

    /// Forgets the sign-in kept for `backend`.
    ///
    /// # Errors
    /// When the keyring cannot be written.
    pub async fn forget(&self, backend: &str) -> Result<(), VaultError> {
        let (vault, backend) = (self.clone(), backend.to_owned());
        blocking(move || vault.forget_now(&backend)).await
    }

    /// Takes the lock that every Viva process on this computer holds while it rotates the
    /// refresh token for `backend` (the desktop app and `viva` share one sign-in). Refresh
    /// tokens are single-use: two processes spending the same one more than the server's reuse
    /// window apart end the sign-in for both. Held until the guard is dropped; waits at most
    /// `wait` for another process to finish.
    ///
    /// # Errors
    /// When the lock file cannot be opened or another process holds it longer than `wait`.
    pub async fn lock_rotation(
        &self,
        backend: &str,
        wait: std::time::Duration,
    ) -> Result<RotationLock, VaultError> {
        let path = rotation_lock_path(backend);
        blocking(move || {
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)
                    .map_err(|e| VaultError::Broken(format!("{}: {e}", folder.display())))?;
            }
            let file = std::fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| VaultError::Broken(format!("{}: {e}", path.display())))?;
            let deadline = std::time::Instant::now() + wait;
            loop {
                match file.try_lock() {
                    Ok(()) => return Ok(RotationLock { _file: file }),
                    Err(std::fs::TryLockError::WouldBlock)
                        if std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {
                        return Err(VaultError::Broken(
                            "another Viva is refreshing this sign-in and did not finish".into(),
                        ));
                    }
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(VaultError::Broken(format!("{}: {e}", path.display())));
                    }
                }
            }
        })
        .await
    }

    fn forget_now(&self, backend: &str) -> Result<(), VaultError> {
        if let Some(user_id) = self.read(&pointer_account(backend))? {
            self.remove(&token_account(backend, &user_id))?;
        }
        self.remove(&pointer_account(backend))
    }
}

/// Held while this process rotates a refresh token; released when dropped.
#[derive(Debug)]
pub struct RotationLock {
    _file: std::fs::File,
}

/// One lock file per backend, in the user's runtime folder (or cache, or temp): it holds no
/// secret, only the advisory lock.
fn rotation_lock_path(backend: &str) -> std::path::PathBuf {
    let folder = dirs::runtime_dir()
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("viva");
    let name: String = backend
        .trim_end_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(120)
        .collect();
    folder.join(format!("refresh-{name}.lock"))
}

/// Runs a keyring call on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(VaultError::Broken(format!("the keyring call stopped: {e}"))))
}
