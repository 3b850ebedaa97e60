//! The Supabase-style backend client for Viva: authentication and refresh, edge functions and
//! tables over HTTPS (reqwest with rustls), and the token vault over the OS keyring.
//!
//! Refresh tokens live only in the OS keyring and access tokens only in memory; this crate never
//! writes a token to a file, a log or a URL. It does not own local storage (`viva-store`).

pub mod account;
pub mod admin;
pub mod auth;
pub mod client;
pub mod error;
pub mod functions;
pub mod tables;
pub mod vault;

pub use account::{Account, AuthState, KeyringStatus};
pub use admin::{AdminUser, Membership};
pub use auth::{AuthSession, LogoutScope, SignUp};
pub use client::{Backend, check_url};
pub use error::BackendError;
pub use functions::{Entry, ProcessorReply, StartRequest, VoiceApi};
pub use tables::{
    Closing, EntryRow, NewInterview, ObservedFragmentRow, ObservedRecord, ObservedWindowRow, Page,
    SessionQuery, SessionRow, TenantRow,
};
pub use vault::{KeyringVault, Stored, VaultError};
