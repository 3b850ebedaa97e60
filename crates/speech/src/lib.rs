//! Viva's offline speech: the speech model (where it lives; fetching, verifying and converting
//! it — [`model`] and the `viva-model` binary), voice activity detection with the Realtime API's
//! `server_vad` settings ([`vad`]), turn-taking — when the candidate has finished speaking
//! ([`turn`]) — and the whisper.cpp transcriber ([`stt`]).
//!
//! It is shared by the local interviewer (viva-localstack) and pre-flight's microphone test
//! (viva-session's hearing). It does not own audio devices, codecs, networking or any protocol:
//! it takes 16 kHz mono samples and gives back turns and text. Everything but [`stt`] and the
//! model's download is pure and runs without a model.

pub mod model;
pub mod stt;
pub mod turn;
pub mod vad;
