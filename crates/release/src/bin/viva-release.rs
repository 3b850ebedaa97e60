//! `viva-release`: makes the release key, and signs and publishes built bundles into the
//! update site (called by `cargo xtask release`; see docs/releasing.md).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use viva_release::{Release, ReleaseKey, UpdateChannel, check, publish};

#[derive(Parser)]
#[command(about = "Viva's release key and update manifests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signs bundles and publishes them, with the channel's latest.json, into the site folder.
    Publish {
        /// The update site's folder (served as --base-url).
        #[arg(long)]
        site: PathBuf,
        #[arg(long)]
        channel: UpdateChannel,
        /// The version the bundles carry.
        #[arg(long)]
        version: semver::Version,
        /// A file with the release notes shown in the update dialog.
        #[arg(long)]
        notes: PathBuf,
        #[arg(long, default_value = "https://releases.viva.app")]
        base_url: String,
        /// The public key the build embeds (its text, or a file holding it): the signing key
        /// must be its private half, or installed copies would refuse the update. Defaults to
        /// the signing key's own public half.
        #[arg(long, env = "VIVA_UPDATER_PUBKEY")]
        pubkey: Option<String>,
        /// The key (its text, or a file holding it), as Tauri's signer takes it.
        #[arg(long, env = "TAURI_SIGNING_PRIVATE_KEY", hide_env_values = true)]
        private_key: String,
        #[arg(
            long,
            env = "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
            hide_env_values = true
        )]
        password: Option<String>,
        /// For the one release that brings in a new key: the public key installed copies
        /// trust today (the old one), which must sign it while tauri.conf.json holds the new.
        #[arg(long)]
        rotating_from: Option<String>,
        /// Only check the key, the notes and that the channel may take this version.
        #[arg(long)]
        check_only: bool,
        /// The bundles (.deb, .AppImage, .rpm).
        #[arg(required_unless_present = "check_only")]
        bundles: Vec<PathBuf>,
    },
    /// Prints the public half of the signing key (TAURI_SIGNING_PRIVATE_KEY).
    PublicKey {
        #[arg(long, env = "TAURI_SIGNING_PRIVATE_KEY", hide_env_values = true)]
        private_key: String,
        #[arg(
            long,
            env = "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
            hide_env_values = true
        )]
        password: Option<String>,
    },
    /// Makes a new password-protected release key: writes the private half to a new file and
    /// the public half to another (what `cargo xtask release` builds into the app).
    Keygen {
        /// Where the private key goes; it must not exist yet.
        #[arg(long)]
        private_key: PathBuf,
        /// Where the public key goes; it must not exist yet.
        #[arg(long)]
        public_key: PathBuf,
        #[arg(
            long,
            env = "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
            hide_env_values = true
        )]
        password: String,
    },
}

/// The key's text: the variable holds it, or names a file that does (both are Tauri's way).
fn key_text(value: &str) -> Result<String> {
    let path = Path::new(value.trim());
    if value.len() < 4096 && path.is_file() {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key file {}", path.display()));
    }
    Ok(value.to_owned())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Publish {
            site,
            channel,
            version,
            notes,
            base_url,
            pubkey,
            private_key,
            password,
            rotating_from,
            check_only,
            bundles,
        } => {
            let key = ReleaseKey::from_private_key(&key_text(&private_key)?, password.as_deref())?;
            let configured = match pubkey {
                Some(pubkey) => key_text(&pubkey)?.trim().to_owned(),
                None => key.public_key(),
            };
            match rotating_from {
                None if !key.matches(&configured) => bail!(
                    "TAURI_SIGNING_PRIVATE_KEY is not the key the build trusts (VIVA_UPDATER_PUBKEY): \
                     installed copies would refuse this update. Sign with the release key \
                     (docs/releasing.md)."
                ),
                None => {}
                Some(old) => {
                    if !key.matches(&old) {
                        bail!(
                            "--rotating-from: TAURI_SIGNING_PRIVATE_KEY must be the old key, the \
                             one installed copies trust"
                        );
                    }
                    if key.matches(&configured) {
                        bail!(
                            "--rotating-from: the build would still trust the old public key; \
                             give the new one in VIVA_UPDATER_PUBKEY"
                        );
                    }
                }
            }
            let notes = std::fs::read_to_string(&notes)
                .with_context(|| format!("cannot read the release notes {}", notes.display()))?;
            if notes.trim().is_empty() {
                bail!("the release notes are empty: users see them in the update dialog");
            }
            let release = Release {
                version,
                channel,
                notes,
                pub_date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                base_url,
            };
            if check_only {
                let channels = check(&site, &release)?;
                let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
                println!(
                    "ready: {} would update {}",
                    release.version,
                    names.join(" and ")
                );
                return Ok(());
            }
            let published = publish(&site, &bundles, &key, &release)?;
            for artifact in &published.artifacts {
                println!("signed     {}", artifact.display());
            }
            for (channel, path) in &published.manifests {
                println!("{:<10} {}", channel.as_str(), path.display());
            }
            Ok(())
        }
        Command::PublicKey {
            private_key,
            password,
        } => {
            let key = ReleaseKey::from_private_key(&key_text(&private_key)?, password.as_deref())?;
            println!("{}", key.public_key());
            Ok(())
        }
        Command::Keygen {
            private_key,
            public_key,
            password,
        } => {
            for path in [&private_key, &public_key] {
                if path.exists() {
                    bail!(
                        "{} exists: a new key is never written over an old one",
                        path.display()
                    );
                }
            }
            let (key, encrypted) = ReleaseKey::generate(&password)?;
            write_private(&private_key, &encrypted)?;
            std::fs::write(&public_key, format!("{}\n", key.public_key()))
                .with_context(|| format!("cannot write {}", public_key.display()))?;
            println!(
                "private key: {} (password-protected; store it and its password as the CI \
                 secrets TAURI_SIGNING_PRIVATE_KEY and TAURI_SIGNING_PRIVATE_KEY_PASSWORD, then \
                 delete this file)\npublic key: {} (cargo xtask release builds it into the app; \
                 it is not secret)",
                private_key.display(),
                public_key.display()
            );
            Ok(())
        }
    }
}

/// Writes the private key readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
