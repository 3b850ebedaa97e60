//! `cargo xtask release`: builds the bundles that can be built here, then has `viva-release`
//! sign them with the key in `TAURI_SIGNING_PRIVATE_KEY` and write the channel's
//! `latest.json` into the update site's folder. See docs/releasing.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::Workspace;
use crate::setup::Purpose;
use crate::shell::{cmd_in, output, run};

const USAGE: &str = "see `cargo xtask help` and docs/releasing.md";

struct Options {
    channel: String,
    notes: PathBuf,
    site: PathBuf,
    base_url: String,
    appimage: bool,
    allow_dirty: bool,
    rotating_from: Option<String>,
}

fn parse(root: &Path, args: &[String]) -> Result<Options> {
    let mut options = Options {
        channel: String::new(),
        notes: PathBuf::new(),
        site: root.join("dist/site"),
        base_url: "https://releases.viva.app".into(),
        appimage: false,
        allow_dirty: false,
        rotating_from: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("release: {name} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--channel" => options.channel = value("--channel")?,
            "--notes" => options.notes = PathBuf::from(value("--notes")?),
            "--site" => options.site = PathBuf::from(value("--site")?),
            "--base-url" => options.base_url = value("--base-url")?,
            "--appimage" => options.appimage = true,
            "--allow-dirty" => options.allow_dirty = true,
            "--rotating-from" => options.rotating_from = Some(value("--rotating-from")?),
            other => bail!("release: unknown option `{other}`; {USAGE}"),
        }
    }
    if !matches!(options.channel.as_str(), "stable" | "beta") {
        bail!("release: say which channel, `--channel stable` or `--channel beta`");
    }
    if options.notes.as_os_str().is_empty() {
        bail!("release: give the release notes users will read, `--notes FILE`");
    }
    Ok(options)
}

/// The version the app is built as (the desktop crate's).
fn app_version(ws: &Workspace) -> Result<String> {
    let metadata = output(
        ws.cargo()
            .args(["metadata", "--no-deps", "--format-version", "1"]),
    )
    .context("release: `cargo metadata` failed")?;
    let json: serde_json::Value = serde_json::from_str(&metadata)?;
    json["packages"]
        .as_array()
        .and_then(|packages| {
            packages
                .iter()
                .find(|p| p["name"] == "viva-desktop")
                .and_then(|p| p["version"].as_str())
        })
        .map(str::to_owned)
        .context("release: no viva-desktop package in the workspace")
}

impl Workspace {
    fn viva_release(
        &self,
        options: &Options,
        version: &str,
        pubkey: &str,
    ) -> std::process::Command {
        let mut command = self.cargo();
        command
            .args([
                "run",
                "--locked",
                "--quiet",
                "-p",
                "viva-release",
                "--",
                "publish",
            ])
            .arg("--site")
            .arg(&options.site)
            .args(["--channel", &options.channel, "--version", version])
            .arg("--notes")
            .arg(&options.notes)
            .args(["--base-url", &options.base_url])
            .args(["--pubkey", pubkey]);
        if let Some(old) = &options.rotating_from {
            command.args(["--rotating-from", old]);
        }
        command
    }

    pub(crate) fn release(&self, args: &[String]) -> Result<()> {
        let options = parse(&self.root, args)?;
        if !options.allow_dirty {
            let changes = output(cmd_in("git", &self.root).args(["status", "--porcelain"]))
                .context("release: `git status` failed (is this a git checkout?)")?;
            if !changes.trim().is_empty() {
                bail!(
                    "release: the checkout has uncommitted changes; a release is built from a \
                     commit (or pass --allow-dirty for a trial):\n{changes}"
                );
            }
        }
        if std::env::var_os("TAURI_SIGNING_PRIVATE_KEY").is_none() {
            bail!(
                "release: TAURI_SIGNING_PRIVATE_KEY is not set; the release key (and \
                 TAURI_SIGNING_PRIVATE_KEY_PASSWORD) come from the release secrets, see docs/releasing.md"
            );
        }
        let version = app_version(self)?;
        let pubkey = self.release_pubkey()?;
        // Everything that can refuse the release is asked before the long build.
        run(self
            .viva_release(&options, &version, &pubkey)
            .arg("--check-only"))?;
        // The release key's public half goes into this build only: tauri.conf.json keeps its
        // "unconfigured" marker, so an organisation building its own Viva edits no tracked file.
        let merged = self.target.join("release-updater-key.json");
        std::fs::write(
            &merged,
            serde_json::json!({"plugins": {"updater": {"pubkey": pubkey}}}).to_string(),
        )
        .with_context(|| format!("release: cannot write {}", merged.display()))?;

        self.setup(Purpose::Run)?;
        self.build_ui()?;
        let mut bundles = vec!["deb"];
        if options.appimage {
            bundles.push("appimage");
        }
        let tauri = self.ui().join("node_modules/.bin/tauri");
        let mut build = cmd_in(&tauri, &self.root.join("src-tauri"));
        build
            .args(["build", "--ci", "--config"])
            .arg(&merged)
            .args(["--bundles"])
            .args(&bundles)
            .env("CARGO_TARGET_DIR", &self.target)
            // Signing is ours, after the build: the build never sees the key.
            .env_remove("TAURI_SIGNING_PRIVATE_KEY")
            .env_remove("TAURI_SIGNING_PRIVATE_KEY_PASSWORD");
        run(&mut build).with_context(|| {
            if options.appimage {
                "release: the build failed; AppImage bundling downloads linuxdeploy and AppRun \
                 from GitHub, so it fails without that access — release without --appimage"
            } else {
                "release: the build failed (see above)"
            }
        })?;

        let built = self.target.join("release/bundle");
        let mut artifacts = Vec::new();
        for (dir, ext) in [("deb", ".deb"), ("appimage", ".AppImage")] {
            if !bundles.contains(&dir) {
                continue;
            }
            let found = bundle_for(&built.join(dir), &version, ext)?;
            if dir == "deb" {
                recompress_deb(&found)?;
            }
            artifacts.push(found);
        }
        run(self
            .viva_release(&options, &version, &pubkey)
            .args(&artifacts))?;
        println!(
            "\nViva {version} is signed and published into {}.\nUpload that folder to {} \
             (download/ first, then updates/), and keep it: it is the channels' history.",
            options.site.display(),
            options.base_url
        );
        if !options.appimage {
            println!(
                "No AppImage was built (its bundler downloads its tools from GitHub); installs \
                 from the .deb update through the package manager."
            );
        }
        Ok(())
    }
}

impl Workspace {
    /// The public key the release build trusts: `VIVA_UPDATER_PUBKEY` (its text, or a file
    /// holding it) when the releaser gives one — needed when rotating to a new key — else the
    /// public half of the signing key itself.
    fn release_pubkey(&self) -> Result<String> {
        if let Ok(given) = std::env::var("VIVA_UPDATER_PUBKEY") {
            let path = Path::new(given.trim());
            let text = if path.is_file() {
                std::fs::read_to_string(path)
                    .with_context(|| format!("release: cannot read {}", path.display()))?
            } else {
                given
            };
            return Ok(text.trim().to_owned());
        }
        let derived = output(self.cargo().args([
            "run",
            "--locked",
            "--quiet",
            "-p",
            "viva-release",
            "--",
            "public-key",
        ]))
        .context("release: cannot read the public half of TAURI_SIGNING_PRIVATE_KEY")?;
        Ok(derived.trim().to_owned())
    }
}

/// Repacks the `.deb` Tauri built with its files compressed by xz instead of gzip: the same
/// package (files, modes, control data), a quarter smaller (the binary compresses to 12.4 MB
/// with xz against 18.3 MB with gzip), which every dpkg since Debian 6 installs. Tauri's
/// bundler has no compression setting for `.deb` in the pinned CLI. Runs before signing.
fn recompress_deb(deb: &Path) -> Result<()> {
    let unpacked = deb.with_extension("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    run(Command::new("dpkg-deb")
        .arg("--raw-extract")
        .arg(deb)
        .arg(&unpacked))
    .context("release: cannot unpack the .deb to recompress it (dpkg-deb)")?;
    let before = std::fs::metadata(deb).map(|m| m.len()).unwrap_or(0);
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&unpacked)
        .arg(deb))
    .context("release: cannot repack the .deb with xz (dpkg-deb)")?;
    std::fs::remove_dir_all(&unpacked)
        .with_context(|| format!("release: cannot remove {}", unpacked.display()))?;
    let after = std::fs::metadata(deb).map(|m| m.len()).unwrap_or(0);
    println!(
        "release: {} repacked with xz: {:.1} MB (was {:.1} MB)",
        deb.display(),
        after as f64 / 1e6,
        before as f64 / 1e6
    );
    Ok(())
}

/// The bundle of `version` the build left in `dir`.
fn bundle_for(dir: &Path, version: &str, ext: &str) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("release: the build left no {}", dir.display()))?;
    entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(ext) && name.contains(&format!("_{version}_")))
        })
        .with_context(|| format!("release: no {ext} of {version} in {}", dir.display()))
}
