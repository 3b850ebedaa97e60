//! The shapes the UI receives, and how this installation is updated.

use serde::Serialize;

/// How an update reaches this installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum InstallKind {
    /// Replaced in place and restarted (an AppImage).
    InPlace,
    /// Installed from a `.deb`: the system's package manager updates it.
    PackageManager,
    /// Not installed from a package (a build from source): the new version is downloaded and
    /// verified, but installing it is left to the user.
    Manual,
}

impl InstallKind {
    /// For the bundle this copy was installed from, named as Tauri names bundle types
    /// (`appimage`, `deb`, `rpm`, …); `None` when it came from no bundle.
    pub fn for_bundle(bundle: Option<&str>) -> Self {
        match bundle {
            Some("appimage") => Self::InPlace,
            Some("deb" | "rpm") => Self::PackageManager,
            _ => Self::Manual,
        }
    }

    /// Whether Viva may replace itself; if not, what the user is told to do instead.
    pub fn can_install(self) -> Result<(), crate::UpdateError> {
        match self {
            Self::InPlace => Ok(()),
            Self::PackageManager => Err(crate::UpdateError::PackageManaged),
            Self::Manual => Err(crate::UpdateError::NotPackaged),
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateCheckView {
    /// Nothing newer on the channel.
    UpToDate { current: String },
    /// A newer version, with its release notes.
    #[serde(rename_all = "camelCase")]
    Available {
        version: String,
        current: String,
        notes: String,
        /// RFC 3339, when the manifest says.
        published: Option<String>,
        install: InstallKind,
    },
    /// A check at launch, within six hours of the last: nothing was asked.
    NotDue,
    /// This build has no release key (built from source, not by the release tooling): it
    /// cannot verify an update, so it never checks or downloads one.
    NotSetUp,
}

/// Download progress, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct UpdateProgress {
    // f64: the UI's numbers; a u64 would be a BigInt in TypeScript.
    pub downloaded: f64,
    /// `None` when the server did not say how large the download is.
    pub total: Option<f64>,
}

impl UpdateProgress {
    pub fn new(downloaded: u64, total: Option<u64>) -> Self {
        Self {
            downloaded: downloaded as f64,
            total: total.map(|t| t as f64),
        }
    }
}

/// What installing did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InstallView {
    /// An interview is under way: ask again when it ends.
    Deferred,
    /// Installed; Viva restarts now.
    Restarting,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_appimage_replaces_itself() {
        assert_eq!(
            InstallKind::for_bundle(Some("appimage")),
            InstallKind::InPlace
        );
        assert_eq!(
            InstallKind::for_bundle(Some("deb")),
            InstallKind::PackageManager
        );
        assert_eq!(
            InstallKind::for_bundle(Some("rpm")),
            InstallKind::PackageManager
        );
        assert_eq!(InstallKind::for_bundle(Some("msi")), InstallKind::Manual);
        assert_eq!(InstallKind::for_bundle(None), InstallKind::Manual);
        assert!(InstallKind::InPlace.can_install().is_ok());
        assert!(InstallKind::PackageManager.can_install().is_err());
        assert!(InstallKind::Manual.can_install().is_err());
    }

    #[test]
    fn the_ui_receives_tagged_camel_case_shapes() {
        let view = UpdateCheckView::Available {
            version: "1.3.0".into(),
            current: "1.2.0".into(),
            notes: String::new(),
            published: None,
            install: InstallKind::PackageManager,
        };
        assert_eq!(
            serde_json::to_value(&view).ok(),
            Some(serde_json::json!({
                "state": "available", "version": "1.3.0", "current": "1.2.0", "notes": "",
                "published": null, "install": "package_manager"
            }))
        );
        assert_eq!(
            serde_json::to_value(UpdateCheckView::NotSetUp).ok(),
            Some(serde_json::json!({ "state": "not_set_up" }))
        );
    }
}
