//! Secrets from the environment: `NAME`, or a file named by `NAME_FILE` (a mounted secret),
//! never a command-line flag (which any user of the machine can read in the process list).

use std::path::Path;

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("set {0} or {0}_FILE, not both")]
    Both(String),
    #[error("{name}_FILE: cannot read {path}: {source}")]
    Unreadable {
        name: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is empty")]
    Empty(String),
}

/// The secret `name`, from `name` or the file `name_FILE`; `None` when neither is set. A file's
/// trailing newline is not part of the secret.
pub fn secret(name: &str) -> Result<Option<String>, SecretError> {
    let direct = std::env::var(name).ok();
    let file = std::env::var(format!("{name}_FILE")).ok();
    let value = match (direct, file) {
        (Some(_), Some(_)) => return Err(SecretError::Both(name.to_owned())),
        (Some(value), None) => value,
        (None, Some(path)) => read_file(name, Path::new(&path))?,
        (None, None) => return Ok(None),
    };
    if value.trim().is_empty() {
        return Err(SecretError::Empty(name.to_owned()));
    }
    Ok(Some(value))
}

fn read_file(name: &str, path: &Path) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
        name: name.to_owned(),
        path: path.display().to_string(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(event = "secret_file_readable_by_others", secret = name);
        }
    }
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}
