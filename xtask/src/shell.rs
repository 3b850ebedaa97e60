//! Running the programs the tasks orchestrate, with errors that name what failed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Runs `command` with inherited output and fails if it does not succeed.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` and returns its trimmed stdout, or `None` if it cannot run or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether a program is found on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Like `Command::new`, working in `dir`.
pub fn cmd_in(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    command
}

pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Whether this process runs as root (then apt-get needs no sudo).
pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

/// Puts `dir` first on this process's PATH, so this process and every program it starts find
/// what `dir` holds before anything of the machine's (it need not exist yet).
#[allow(unsafe_code)] // set_var is unsafe only while another thread may read the environment.
pub fn put_first_on_path(dir: &Path) -> Result<()> {
    let mut paths: Vec<PathBuf> = vec![dir.to_path_buf()];
    if let Some(current) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&current).filter(|p| p != dir));
    }
    let joined = std::env::join_paths(paths)
        .with_context(|| format!("cannot put {} on PATH", dir.display()))?;
    // SAFETY: main calls this before it starts any thread, so nothing reads the environment
    // while it changes.
    unsafe { std::env::set_var("PATH", joined) };
    Ok(())
}
