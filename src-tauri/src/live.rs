//! The live interview slot: the one session under way and the microphone test before it. What
//! they stream crosses to the UI as viva-session's own types.

use std::sync::Arc;

use tokio::sync::Mutex;
use viva_audio::Capture;
use viva_session::LiveSession;
use viva_session::timeline::CallTimeline;

/// Managed Tauri state: at most one interview and one microphone test at a time.
#[derive(Debug, Default)]
pub struct LiveState {
    pub session: Mutex<Option<LiveSession>>,
    pub mic_test: Mutex<Option<MicTest>>,
    /// Held while the offline model is being set up: one set-up at a time.
    pub model_setup: Mutex<()>,
    /// The last call of this run, for diagnostics (what happened, never what was said).
    pub last_call: Arc<std::sync::Mutex<Option<CallTimeline>>>,
}

/// The pre-flight microphone test: a capture whose levels the UI shows and whose voice is
/// written out by the offline model ("say something").
#[derive(Debug)]
pub struct MicTest {
    pub capture: Capture,
    pub forward: tokio::task::JoinHandle<()>,
}

impl Drop for MicTest {
    fn drop(&mut self) {
        self.forward.abort();
    }
}
