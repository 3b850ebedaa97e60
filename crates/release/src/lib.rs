//! Making releases: the release key in the format Tauri's updater trusts, minisign signatures
//! of the updater artifacts, and publishing them with each channel's `latest.json` into the
//! update site's tree.
//!
//! What it owns: the key's formats, signing and verifying, the manifest's shape and which
//! platform entries a bundle answers, and the publishing rules (a release must be newer than
//! what its channel offers; pre-releases go to beta; a newer stable release reaches beta too).
//!
//! What it does not own: the channels themselves and the addresses installed copies ask, nor
//! when and how they check (`viva-update`, whose [`UpdateChannel`] it publishes to); building
//! the bundles and merging the public key into the build (`cargo xtask release`); serving the
//! site.

mod key;
mod manifest;
mod publish;

pub use key::{ReleaseKey, verify};
pub use manifest::{Manifest, Platform, platform_keys};
pub use publish::{Published, Release, check, manifest_path, publish};
/// The channel a [`Release`] is published to.
pub use viva_update::UpdateChannel;

/// Why a release could not be signed or published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    #[error("the release key cannot be read: {0}")]
    Key(String),
    #[error(
        "the release key is password-protected: set TAURI_SIGNING_PRIVATE_KEY_PASSWORD to its password"
    )]
    KeyPassword,
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the signature does not match: {0}")]
    Verify(String),
    #[error(
        "`{file}` is not an updater artifact Viva ships (expected a .deb, .rpm or .AppImage named <name>_<version>_<arch>.<ext>)"
    )]
    UnknownBundle { file: String },
    #[error(
        "{version} is not newer than {published}, already on the {channel} channel: publish a rollback as a higher patch version"
    )]
    NotNewer {
        version: String,
        published: String,
        channel: UpdateChannel,
    },
    #[error("{version} is a pre-release: publish it on the beta channel")]
    PrereleaseOnStable { version: String },
    #[error("no bundle to publish")]
    NothingToPublish,
    #[error("the {channel} channel's manifest at {path} cannot be read: {detail}")]
    BadManifest {
        channel: UpdateChannel,
        path: String,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl ReleaseError {
    fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
