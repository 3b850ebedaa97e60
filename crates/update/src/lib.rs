//! Keeping Viva current, as policy: which release channel, when a check is due, where each
//! channel's manifest lives, how long to wait on the update server, which key an update must be
//! signed with, how this installation is updated, and what the user is told.
//!
//! What it owns:
//! - **Channels** ([`UpdateChannel`]): stable or beta, their names in settings and manifests.
//! - **The check** ([`check_due`], [`CHECK_EVERY`], the timeouts, [`Endpoint`]): a launch check
//!   at most every six hours; the manifest address per channel; the release key, or none when
//!   the build was not given one ([`release_key`]). Debug builds (tests, development) may point
//!   elsewhere through `VIVA_UPDATE_*` variables; a release build never reads them.
//! - **Installing** ([`InstallKind`]): in place for an AppImage, by the package manager for a
//!   `.deb` or `.rpm`, by hand otherwise.
//! - **The shapes the UI receives** ([`UpdateCheckView`], [`UpdateProgress`], [`InstallView`],
//!   with `specta::Type` under the `specta` feature) and the user-facing wording of every
//!   failure ([`UpdateError`]).
//!
//! What it does not own: fetching, verifying and installing (Tauri's updater plugin, called by
//! the desktop shell, which also keeps the found and downloaded update and maps [`UpdateError`]
//! to its IPC error codes), the settings table (`viva-store`), and making releases — signing
//! and writing each channel's `latest.json` (`viva-release`).

mod channel;
mod check;
mod error;
mod view;

pub use channel::{CHANNEL_KEY, UnknownChannel, UpdateChannel};
pub use check::{
    CHECK_EVERY, CHECK_TIMEOUT, CONNECT_TIMEOUT, Endpoint, LAST_CHECK_KEY, MANIFEST_URL,
    READ_TIMEOUT, UNCONFIGURED_PUBKEY, check_due, release_key,
};
pub use error::UpdateError;
pub use view::{InstallKind, InstallView, UpdateCheckView, UpdateProgress};
