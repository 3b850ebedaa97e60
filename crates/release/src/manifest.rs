//! The update manifest (`latest.json`) in the shape Tauri's updater reads, and which manifest
//! entries a bundle answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ReleaseError;

/// One channel's `latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    /// Release notes, shown in the update dialog.
    pub notes: String,
    /// RFC 3339.
    pub pub_date: String,
    /// `linux-x86_64-deb`, `linux-x86_64-appimage`, `linux-x86_64`, … → where and what.
    pub platforms: BTreeMap<String, Platform>,
}

/// One build in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// The minisign signature, as the `.sig` file's text in base64.
    pub signature: String,
    pub url: String,
}

impl Manifest {
    pub fn version(&self) -> Result<semver::Version, semver::Error> {
        semver::Version::parse(self.version.trim_start_matches('v'))
    }
}

/// The manifest keys a bundle answers, as the updater looks them up: `{os}-{arch}-{installer}`
/// for an installation of that kind, and `{os}-{arch}` (what any other build of Viva asks
/// for) only for the AppImage, the one bundle that can replace any copy of Viva in place.
pub fn platform_keys(file_name: &str) -> Result<Vec<String>, ReleaseError> {
    let unknown = || ReleaseError::UnknownBundle {
        file: file_name.to_owned(),
    };
    let (stem, installer) = [(".deb", "deb"), (".rpm", "rpm"), (".AppImage", "appimage")]
        .into_iter()
        .find_map(|(ext, installer)| file_name.strip_suffix(ext).map(|stem| (stem, installer)))
        .ok_or_else(unknown)?;
    // The architecture ends the name: `_amd64.deb`, `_amd64.AppImage`, `.x86_64.rpm`.
    let arch = [
        ("amd64", "x86_64"),
        ("x86_64", "x86_64"),
        ("arm64", "aarch64"),
        ("aarch64", "aarch64"),
        ("i386", "i686"),
        ("i686", "i686"),
        ("armhf", "armv7"),
        ("armv7", "armv7"),
    ]
    .into_iter()
    .find_map(|(named, arch)| {
        let before = stem.strip_suffix(named)?;
        before.ends_with(['_', '-', '.']).then_some(arch)
    })
    .ok_or_else(unknown)?;
    let mut keys = vec![format!("linux-{arch}-{installer}")];
    if installer == "appimage" {
        keys.push(format!("linux-{arch}"));
    }
    Ok(keys)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bundles_map_to_the_keys_the_updater_asks_for() {
        assert_eq!(
            platform_keys("Viva_1.2.0_amd64.deb").unwrap(),
            ["linux-x86_64-deb"]
        );
        assert_eq!(
            platform_keys("Viva_1.2.0_amd64.AppImage").unwrap(),
            ["linux-x86_64-appimage", "linux-x86_64"]
        );
        assert_eq!(
            platform_keys("Viva-1.2.0-1.x86_64.rpm").unwrap(),
            ["linux-x86_64-rpm"]
        );
        assert_eq!(
            platform_keys("Viva_1.2.0_arm64.deb").unwrap(),
            ["linux-aarch64-deb"]
        );
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        for name in ["Viva_1.2.0_amd64.tar.gz", "notes.md", "Viva_1.2.0.deb"] {
            let error = platform_keys(name).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn a_manifest_reads_back_as_written() {
        let manifest = Manifest {
            version: "1.2.0".into(),
            notes: "Faster search.".into(),
            pub_date: "2026-11-23T10:00:00Z".into(),
            platforms: BTreeMap::from([(
                "linux-x86_64-deb".into(),
                Platform {
                    signature: "c2ln".into(),
                    url: "https://releases.viva.app/download/1.2.0/Viva_1.2.0_amd64.deb".into(),
                },
            )]),
        };
        let text = serde_json::to_string(&manifest).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), manifest);
        assert_eq!(manifest.version().unwrap(), semver::Version::new(1, 2, 0));
    }
}
