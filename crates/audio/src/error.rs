//! The one error type of `viva-audio`: a variant per thing a user or caller can act on.

/// What went wrong with audio, in words a user can act on. `code()` is stable for the UI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// No microphone can be opened: none is connected, or the sound server is not running.
    #[error(
        "No usable microphone was found. Connect one, or check that your sound server \
         (PulseAudio or PipeWire) is running. ({detail})"
    )]
    NoInputDevice { detail: String },
    /// No speaker or headphones can be opened.
    #[error(
        "No usable speaker or headphones were found. Connect some, or check that your sound \
         server (PulseAudio or PipeWire) is running. ({detail})"
    )]
    NoOutputDevice { detail: String },
    /// The device asked for by id is not connected (any more).
    #[error("The audio device \"{id}\" is not connected.")]
    DeviceNotFound { id: String },
    /// The device exists but refused to open with any configuration we can use.
    #[error("The audio device \"{id}\" could not be opened: {detail}")]
    DeviceOpen { id: String, detail: String },
    /// The Opus codec refused a setting or a packet.
    #[error("The Opus codec failed: {0}")]
    Codec(String),
    /// Sample-rate conversion could not be set up for the device's rate.
    #[error("Audio at {from} Hz cannot be converted to {to} Hz: {detail}")]
    Resample { from: u32, to: u32, detail: String },
    /// A caller passed a setting outside its range.
    #[error("Invalid audio setting: {0}")]
    InvalidConfig(String),
    /// The audio worker thread could not be started or stopped unexpectedly.
    #[error("The audio worker stopped unexpectedly: {0}")]
    Worker(String),
    /// An audio file could not be read.
    #[error("The audio file {path} cannot be read: {detail}")]
    File { path: String, detail: String },
}

impl AudioError {
    /// A stable machine-readable code for the UI and logs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoInputDevice { .. } => "no_input_device",
            Self::NoOutputDevice { .. } => "no_output_device",
            Self::DeviceNotFound { .. } => "device_not_found",
            Self::DeviceOpen { .. } => "device_open_failed",
            Self::Codec(_) => "codec_failed",
            Self::Resample { .. } => "resample_failed",
            Self::InvalidConfig(_) => "invalid_config",
            Self::Worker(_) => "worker_failed",
            Self::File { .. } => "audio_file_unreadable",
        }
    }
}

impl From<opus::Error> for AudioError {
    fn from(error: opus::Error) -> Self {
        Self::Codec(error.to_string())
    }
}
