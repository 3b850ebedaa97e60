//! What a failed check, download or install means to the user.

/// Why an update could not be checked, downloaded or installed, worded for the user: the
/// message is shown as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The download's signature is not the release key's: it was thrown away.
    #[error(
        "The update is not signed with Viva's release key, so it was thrown away and nothing was installed."
    )]
    Unsigned,
    #[error(
        "The update server stopped answering (nothing arrived for a while); Viva will try again later."
    )]
    Stalled,
    /// The whole check took longer than [`crate::CHECK_TIMEOUT`].
    #[error("The update server did not answer; Viva will try again later.")]
    NoAnswer,
    /// The manifest is missing, malformed, or names no valid version.
    #[error("The update server's answer cannot be read; Viva will try again later.")]
    Unreadable,
    #[error("The update server has no build for this computer yet.")]
    NoBuild,
    #[error("The update server cannot be reached; Viva will try again later. ({0})")]
    Unreachable(String),
    #[error("The update address {url} is not usable: {detail}")]
    BadAddress { url: String, detail: String },
    #[error("Checking for updates failed: {0}")]
    Failed(String),
    /// Downloading was asked before a check found anything.
    #[error("Check for updates first.")]
    NotChecked,
    /// Installing was asked before a download was verified.
    #[error("Download the update first.")]
    NotDownloaded,
    #[error(
        "Viva was installed from a .deb package: update it with your package manager (for example `sudo apt upgrade`, or install the new .deb)."
    )]
    PackageManaged,
    #[error(
        "This copy of Viva was not installed from a package, so it cannot replace itself. The new version was downloaded and verified; install it from the release page."
    )]
    NotPackaged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_worded_for_the_user() {
        assert_eq!(
            UpdateError::Unsigned.to_string(),
            "The update is not signed with Viva's release key, so it was thrown away and nothing was installed."
        );
        assert_eq!(
            UpdateError::Unreachable("connection refused".into()).to_string(),
            "The update server cannot be reached; Viva will try again later. (connection refused)"
        );
        assert!(
            UpdateError::PackageManaged
                .to_string()
                .contains("sudo apt upgrade")
        );
        assert_eq!(
            UpdateError::NotChecked.to_string(),
            "Check for updates first."
        );
    }
}
