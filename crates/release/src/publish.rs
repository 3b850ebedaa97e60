//! Publishing a release into the update site's tree: the bundles copied under
//! `download/<version>/` with their signatures, then the channel's `updates/<channel>/latest.json`
//! (and beta's, when a stable release is newer than what beta offers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use viva_update::UpdateChannel;

use crate::{Manifest, Platform, ReleaseError, ReleaseKey, platform_keys};

/// What is being released.
#[derive(Debug, Clone)]
pub struct Release {
    pub version: semver::Version,
    pub channel: UpdateChannel,
    pub notes: String,
    /// RFC 3339.
    pub pub_date: String,
    /// Where the site is served from, e.g. `https://releases.viva.app`.
    pub base_url: String,
}

/// What publishing wrote.
#[derive(Debug, Clone)]
pub struct Published {
    pub manifest: Manifest,
    /// The manifests written, one per channel updated.
    pub manifests: Vec<(UpdateChannel, PathBuf)>,
    /// The bundles as copied into the site, each with a `.sig` beside it.
    pub artifacts: Vec<PathBuf>,
}

/// Where a channel's manifest lives in the site.
pub fn manifest_path(site: &Path, channel: UpdateChannel) -> PathBuf {
    site.join("updates")
        .join(channel.as_str())
        .join("latest.json")
}

fn read_manifest(site: &Path, channel: UpdateChannel) -> Result<Option<Manifest>, ReleaseError> {
    let path = manifest_path(site, channel);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(ReleaseError::io(&path, error)),
    };
    let bad = |detail: String| ReleaseError::BadManifest {
        channel,
        path: path.display().to_string(),
        detail,
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    manifest.version().map_err(|e| bad(e.to_string()))?;
    Ok(Some(manifest))
}

/// Which channels' manifests this release would replace: its own, which must offer an older
/// version; and for a stable release, beta too when beta offers nothing newer (beta users
/// would otherwise stay behind stable).
pub fn check(site: &Path, release: &Release) -> Result<Vec<UpdateChannel>, ReleaseError> {
    if release.channel == UpdateChannel::Stable && !release.version.pre.is_empty() {
        return Err(ReleaseError::PrereleaseOnStable {
            version: release.version.to_string(),
        });
    }
    let offered = |channel| -> Result<Option<semver::Version>, ReleaseError> {
        Ok(read_manifest(site, channel)?.and_then(|m| m.version().ok()))
    };
    if let Some(published) = offered(release.channel)?
        && published >= release.version
    {
        return Err(ReleaseError::NotNewer {
            version: release.version.to_string(),
            published: published.to_string(),
            channel: release.channel,
        });
    }
    let mut channels = vec![release.channel];
    if release.channel == UpdateChannel::Stable
        && offered(UpdateChannel::Beta)?.is_none_or(|beta| beta < release.version)
    {
        channels.push(UpdateChannel::Beta);
    }
    Ok(channels)
}

/// Writes `bytes` so that a reader sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ReleaseError::io(dir, e))?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).map_err(|e| ReleaseError::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| ReleaseError::io(path, e))
}

/// Signs `bundles` with `key` and publishes them into `site` as `release` says. Nothing is
/// written unless every bundle is one Viva ships and the channel may take this version.
pub fn publish(
    site: &Path,
    bundles: &[PathBuf],
    key: &ReleaseKey,
    release: &Release,
) -> Result<Published, ReleaseError> {
    if bundles.is_empty() {
        return Err(ReleaseError::NothingToPublish);
    }
    let channels = check(site, release)?;
    let named = bundles
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default()
                .to_owned();
            platform_keys(&name).map(|keys| (path, name, keys))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let version = release.version.to_string();
    let folder = site.join("download").join(&version);
    let base = release.base_url.trim_end_matches('/');
    let mut platforms = BTreeMap::new();
    let mut artifacts = Vec::new();
    for (path, name, keys) in named {
        let bytes = std::fs::read(path).map_err(|e| ReleaseError::io(path, e))?;
        let signature = key.sign(&bytes, &name)?;
        let copy = folder.join(&name);
        write_atomically(&copy, &bytes)?;
        write_atomically(&folder.join(format!("{name}.sig")), signature.as_bytes())?;
        let url = format!("{base}/download/{version}/{name}");
        for key in keys {
            platforms.insert(
                key,
                Platform {
                    signature: signature.clone(),
                    url: url.clone(),
                },
            );
        }
        artifacts.push(copy);
    }
    let manifest = Manifest {
        version,
        notes: release.notes.trim().to_owned(),
        pub_date: release.pub_date.clone(),
        platforms,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ReleaseError::Sign(format!("the manifest cannot be written: {e}")))?;
    let mut manifests = Vec::new();
    for channel in channels {
        let path = manifest_path(site, channel);
        write_atomically(&path, &text)?;
        manifests.push((channel, path));
    }
    Ok(Published {
        manifest,
        manifests,
        artifacts,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn release(version: &str, channel: UpdateChannel) -> Release {
        Release {
            version: semver::Version::parse(version).unwrap(),
            channel,
            notes: "Faster search.\n".into(),
            pub_date: "2026-11-23T10:00:00Z".into(),
            base_url: "https://releases.example/".into(),
        }
    }

    fn bundle(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("the bytes of {name}")).unwrap();
        path
    }

    /// A temporary site, a key made for the test and one .deb to publish, again and again.
    struct Fixture {
        dir: tempfile::TempDir,
        site: PathBuf,
        key: ReleaseKey,
        deb: PathBuf,
    }

    impl Fixture {
        fn new(deb_name: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let site = dir.path().join("site");
            let deb = bundle(dir.path(), deb_name);
            let key = ReleaseKey::generate_for_tests().unwrap();
            Self {
                dir,
                site,
                key,
                deb,
            }
        }

        fn publish(
            &self,
            version: &str,
            channel: UpdateChannel,
        ) -> Result<Published, ReleaseError> {
            publish(
                &self.site,
                std::slice::from_ref(&self.deb),
                &self.key,
                &release(version, channel),
            )
        }
    }

    #[test]
    fn a_release_lands_signed_under_its_version_with_a_manifest_per_channel() {
        let f = Fixture::new("Viva_1.2.0_amd64.deb");
        let published = f.publish("1.2.0", UpdateChannel::Stable).unwrap();

        // A stable release with no beta yet is what beta offers too.
        let written: Vec<UpdateChannel> = published.manifests.iter().map(|(c, _)| *c).collect();
        assert_eq!(written, [UpdateChannel::Stable, UpdateChannel::Beta]);
        let manifest: Manifest = serde_json::from_slice(
            &std::fs::read(manifest_path(&f.site, UpdateChannel::Stable)).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest.version, "1.2.0");
        assert_eq!(manifest.notes, "Faster search.");
        let entry = &manifest.platforms["linux-x86_64-deb"];
        assert_eq!(
            entry.url,
            "https://releases.example/download/1.2.0/Viva_1.2.0_amd64.deb"
        );
        let copied = std::fs::read(f.site.join("download/1.2.0/Viva_1.2.0_amd64.deb")).unwrap();
        assert_eq!(copied, std::fs::read(&f.deb).unwrap());
        crate::verify(&f.key.public_key(), &copied, &entry.signature).unwrap();
        let sig_file =
            std::fs::read_to_string(f.site.join("download/1.2.0/Viva_1.2.0_amd64.deb.sig"))
                .unwrap();
        assert_eq!(sig_file, entry.signature);
    }

    #[test]
    fn a_channel_never_goes_back_and_a_rollback_needs_a_higher_version() {
        let f = Fixture::new("Viva_1.2.0_amd64.deb");
        f.publish("1.2.0", UpdateChannel::Stable).unwrap();
        for version in ["1.2.0", "1.1.9"] {
            let error = f.publish(version, UpdateChannel::Stable).unwrap_err();
            assert!(matches!(error, ReleaseError::NotNewer { .. }), "{error}");
            assert!(
                error.to_string().contains("higher patch version"),
                "{error}"
            );
        }
        f.publish("1.2.1", UpdateChannel::Stable).unwrap();
    }

    #[test]
    fn beta_keeps_its_newer_release_when_stable_moves_on() {
        let f = Fixture::new("Viva_1.3.0_amd64.deb");
        f.publish("1.3.0-beta.1", UpdateChannel::Beta).unwrap();
        let published = f.publish("1.2.1", UpdateChannel::Stable).unwrap();
        assert_eq!(published.manifests.len(), 1, "beta's 1.3.0-beta.1 stays");
        let beta = read_manifest(&f.site, UpdateChannel::Beta)
            .unwrap()
            .unwrap();
        assert_eq!(beta.version, "1.3.0-beta.1");
        // A pre-release never reaches stable.
        let error = f
            .publish("1.3.0-beta.2", UpdateChannel::Stable)
            .unwrap_err();
        assert!(
            matches!(error, ReleaseError::PrereleaseOnStable { .. }),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_file_or_an_unreadable_manifest_stops_the_release_before_anything_is_written() {
        let f = Fixture::new("Viva_1.2.0_amd64.deb");
        let stray = bundle(f.dir.path(), "Viva_1.2.0_amd64.tar.gz");
        let error = publish(
            &f.site,
            &[f.deb.clone(), stray],
            &f.key,
            &release("1.2.0", UpdateChannel::Beta),
        )
        .unwrap_err();
        assert!(
            matches!(error, ReleaseError::UnknownBundle { .. }),
            "{error}"
        );
        assert!(!f.site.exists(), "nothing was written");

        let path = manifest_path(&f.site, UpdateChannel::Beta);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"version\": ").unwrap();
        let error = f.publish("1.2.0", UpdateChannel::Beta).unwrap_err();
        assert!(matches!(error, ReleaseError::BadManifest { .. }), "{error}");
        assert!(!f.site.join("download").exists());
        assert!(publish(&f.site, &[], &f.key, &release("1.2.0", UpdateChannel::Beta)).is_err());
    }
}
