//! Where a live session's voice comes from and goes to: a sound card, or stand-ins that need
//! none (a paced microphone saying recorded answers, a listener that decodes and measures the
//! interviewer's voice without playing it). The app opens devices; the `viva` command and the
//! tests inject the stand-ins. Either way the rest of the session is the same.

use std::sync::Arc;

use tokio::sync::mpsc;
use viva_audio::{
    AudioError, AudioEvent, Capture, CaptureSettings, Direction, EchoCanceller, EchoControl,
    EncodedFrame, EncoderSettings, Level, PacedMicrophone, Playback, PlaybackSettings,
};
use viva_rtc::{Listener, VoiceSink};

/// Where the candidate's voice comes from.
#[derive(Debug)]
pub enum Microphone {
    /// A sound card, opened when the session starts.
    Device(CaptureSettings),
    /// A stand-in (recorded answers, e.g. WAV files), sending real-time 20 ms frames like a sound
    /// card; what it says is queued through the [`PacedMicrophone`] the caller keeps.
    Paced {
        microphone: PacedMicrophone,
        frames: mpsc::Receiver<EncodedFrame>,
    },
    /// Answers are typed: nothing is opened and nothing is sent.
    None,
}

impl Microphone {
    /// A paced stand-in, and the handle to make it speak with.
    ///
    /// # Errors
    /// [`AudioError::Codec`] when the encoder cannot be made.
    pub fn paced(settings: EncoderSettings) -> Result<(Self, PacedMicrophone), AudioError> {
        let (microphone, frames) = PacedMicrophone::start(settings)?;
        Ok((
            Self::Paced {
                microphone: microphone.clone(),
                frames,
            },
            microphone,
        ))
    }
}

/// Where the interviewer's voice goes.
#[derive(Debug, Clone)]
pub enum Speakers {
    /// A sound card; without one the interview goes on (the questions are in the transcript).
    Device(PlaybackSettings),
    /// Decoded and measured, not played.
    Listener(Arc<Listener>),
}

impl Default for Speakers {
    fn default() -> Self {
        Self::Device(PlaybackSettings::default())
    }
}

/// The opened ends of a session's audio, kept for its life.
pub(crate) struct Opened {
    /// For the call: encoded microphone frames.
    pub uplink: mpsc::Receiver<EncodedFrame>,
    pub downlink: Option<Arc<dyn VoiceSink>>,
    pub capture: Option<Capture>,
    pub capture_events: Option<mpsc::Receiver<AudioEvent>>,
    pub playback: Option<Playback>,
    pub playback_events: Option<mpsc::Receiver<AudioEvent>>,
    /// The echo canceller between the speakers and the microphone, when both are devices.
    pub echo: Option<EchoControl>,
    /// Stand-ins whose levels are read on a timer (devices report their own).
    pub paced: Option<PacedMicrophone>,
    pub listener: Option<Arc<Listener>>,
    /// Text mode: the call still wants an uplink; nothing is ever sent on it.
    pub silent_uplink: Option<mpsc::Sender<EncodedFrame>>,
    /// Device trouble found while opening, for the owner.
    pub trouble: Option<AudioEvent>,
}

/// Opens `microphone` and `speakers`. When both are devices, the microphone goes through an
/// echo canceller fed with what the speakers play, on when `echo_cancellation` (off: the
/// candidate uses headphones; it can be switched on and off during the call).
///
/// # Errors
/// No microphone could be opened (speakers that cannot be opened are only reported).
pub(crate) fn open(
    microphone: Microphone,
    speakers: Speakers,
    echo_cancellation: bool,
) -> Result<Opened, AudioError> {
    let mut echo = None;
    let (uplink, capture, capture_events, paced, silent_uplink) = match microphone {
        Microphone::Device(settings) => {
            let (capture, streams) = if matches!(speakers, Speakers::Device(_)) {
                let canceller = EchoCanceller::awaiting_reference();
                let control = canceller.control();
                control.set_enabled(echo_cancellation);
                echo = Some(control);
                Capture::start_with(settings, Box::new(canceller))?
            } else {
                Capture::start(settings)?
            };
            (
                streams.frames,
                Some(capture),
                Some(streams.events),
                None,
                None,
            )
        }
        Microphone::Paced { microphone, frames } => (frames, None, None, Some(microphone), None),
        Microphone::None => {
            let (tx, rx) = mpsc::channel(1);
            (rx, None, None, None, Some(tx))
        }
    };
    let mut trouble = None;
    let (downlink, playback, playback_events, listener) = match speakers {
        Speakers::Device(settings) => match start_playback(settings, echo.clone()) {
            Ok((playback, events)) => (
                Some(Arc::new(playback.sender()) as Arc<dyn VoiceSink>),
                Some(playback),
                Some(events),
                None,
            ),
            Err(error) => {
                tracing::warn!(event = "no_speakers", %error);
                trouble = Some(AudioEvent::DeviceUnavailable {
                    direction: Direction::Output,
                    message: error.to_string(),
                });
                (None, None, None, None)
            }
        },
        Speakers::Listener(listener) => (
            Some(listener.clone() as Arc<dyn VoiceSink>),
            None,
            None,
            Some(listener),
        ),
    };
    Ok(Opened {
        uplink,
        downlink,
        capture,
        capture_events,
        playback,
        playback_events,
        echo,
        paced,
        listener,
        silent_uplink,
        trouble,
    })
}

fn start_playback(
    settings: PlaybackSettings,
    echo: Option<EchoControl>,
) -> Result<(Playback, mpsc::Receiver<AudioEvent>), AudioError> {
    match echo {
        Some(echo) => Playback::start_feeding(settings, echo),
        None => Playback::start(settings),
    }
}

/// A stand-in's level as a meter reading (they measure peaks only).
pub(crate) fn level(dbfs: f32) -> Level {
    Level {
        rms_dbfs: dbfs,
        peak_dbfs: dbfs,
    }
}
