//! The slot between capture and encoding where echo cancellation and noise suppression go.

/// Processes each 20 ms mono 48 kHz frame in place before it is encoded. Runs on the audio
/// worker thread, not the device callback, so it may take a little time — but not more than a
/// few milliseconds per frame. [`crate::EchoCanceller`] is the real one.
pub trait VoiceProcessor: Send {
    fn process(&mut self, frame: &mut [f32]);
}

/// Leaves the voice as it is: the default until echo cancellation lands.
#[derive(Debug, Default, Clone, Copy)]
pub struct Passthrough;

impl VoiceProcessor for Passthrough {
    fn process(&mut self, _frame: &mut [f32]) {}
}
