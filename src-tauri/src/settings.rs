//! The app's settings file (`settings.json` in the app config dir): which backend to use. Only
//! public values live here — the backend's address and its anon key; tokens never do.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the user chose in Settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// `None`: no organisation backend; practice runs on the embedded stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anon_key: Option<String>,
}

/// Where the settings live, and reading and writing them.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    pub fn new(config_dir: &Path) -> Self {
        Self {
            path: config_dir.join("settings.json"),
        }
    }

    /// The saved settings; a missing file is the defaults, and an unreadable one is logged and
    /// treated as the defaults (the user can save new ones) rather than stopping the app.
    pub fn load(&self) -> Settings {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|error| {
                tracing::warn!(event = "settings_unreadable", path = %self.path.display(), %error);
                Settings::default()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(error) => {
                tracing::warn!(event = "settings_unreadable", path = %self.path.display(), %error);
                Settings::default()
            }
        }
    }

    /// Saves atomically (a temporary file renamed over the old one), so a crash never leaves
    /// half a file.
    pub fn save(&self, settings: &Settings) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(settings).map_err(std::io::Error::other)?;
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_bad_files_fall_back_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::new(dir.path());
        assert_eq!(file.load(), Settings::default());
        let chosen = Settings {
            backend_url: Some("https://abc.supabase.co".into()),
            anon_key: Some("anon".into()),
        };
        file.save(&chosen).unwrap();
        assert_eq!(file.load(), chosen);
        std::fs::write(dir.path().join("settings.json"), "{ not json").unwrap();
        assert_eq!(file.load(), Settings::default());
    }
}
