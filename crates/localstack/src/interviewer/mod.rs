//! The local interviewer: a real WebRTC peer that answers a candidate's offer, listens (voice
//! activity detection, offline Whisper), asks questions from a built-in set in a synthesised
//! voice, and speaks either voice API on `oai-events`, chosen per call: the hosted Realtime
//! API's GA events or GPT-Live's (`dialect/`). Each call is isolated: its own peer connection,
//! detector, transcriber state and tasks.

pub mod call;
pub mod client_event;
mod dialect;
mod events;
mod input;
pub mod live_command;
mod media;
mod peer;
pub mod script;
mod transcriber;
pub mod voice;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use events::wire;
pub use peer::CallError;
use viva_speech::stt::{Model, SttError};
use voice::{Speech, Voice};

/// How the interviewer runs.
#[derive(Debug, Clone)]
pub struct InterviewerConfig {
    /// The ggml Whisper model; `None` uses the prepared default in the user cache dir.
    pub model_path: Option<PathBuf>,
    /// whisper.cpp threads per transcription (1: more spin-wait on busy machines).
    pub threads: usize,
    /// How questions are voiced; `None` detects espeak-ng.
    pub voice: Option<Voice>,
    /// The address the peer's UDP sockets bind to.
    pub bind_ip: IpAddr,
    /// How often a GPT-Live call reports its running usage (`session.usage.updated`).
    pub live_usage_every: Duration,
    /// How long a GPT-Live session lasts before it closes as `expired`.
    pub live_max_duration: Duration,
}

impl Default for InterviewerConfig {
    fn default() -> Self {
        Self {
            model_path: None,
            threads: 1,
            voice: None,
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            live_usage_every: Duration::from_secs(15),
            live_max_duration: Duration::from_secs(60 * 60),
        }
    }
}

/// What a new call needs to know about its session.
#[derive(Debug, Clone)]
pub struct CallSetup {
    /// The interview session, when the call is one of an interview's (a new call for it ends
    /// the one before); `None` for a Live session created on its own.
    pub session_id: Option<String>,
    pub question_set: String,
    pub api: CallApi,
}

pub use viva_proxy::upstream::CallApi;

/// A call's answer to the candidate's offer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `rtc_...` for a Realtime call, the session id `live_...` for a Live one.
    pub call_id: String,
    pub sdp: String,
}

/// The interviewer: shared model and voice, and the live calls.
#[derive(Debug)]
pub struct Interviewer {
    config: InterviewerConfig,
    voice: Voice,
    speech: Mutex<HashMap<String, Arc<Speech>>>,
    calls: Mutex<HashMap<String, call::CallHandle>>,
}

impl Interviewer {
    pub fn new(config: InterviewerConfig) -> Arc<Self> {
        let voice = config.voice.clone().unwrap_or_else(Voice::detect);
        Arc::new(Self {
            config,
            voice,
            speech: Mutex::default(),
            calls: Mutex::default(),
        })
    }

    pub fn model_path(&self) -> PathBuf {
        self.config
            .model_path
            .clone()
            .unwrap_or_else(viva_speech::model::default_model_path)
    }

    /// The shared model, loaded on first use (off the async threads). A model that is missing
    /// now may be set up while the stack runs (pre-flight offers it): the next call finds it.
    async fn model(&self) -> Result<Model, SttError> {
        let path = self.model_path();
        let threads = self.config.threads;
        tokio::task::spawn_blocking(move || Model::shared(&path, threads))
            .await
            .unwrap_or_else(|e| Err(SttError::Failed(e.to_string())))
    }

    /// A line in the interviewer's voice, synthesised once per process.
    async fn speak(&self, text: &str) -> Result<Arc<Speech>, voice::VoiceError> {
        if let Some(done) = self.speech.lock().ok().and_then(|c| c.get(text).cloned()) {
            return Ok(done);
        }
        let (voice, line) = (self.voice.clone(), text.to_owned());
        let speech = tokio::task::spawn_blocking(move || voice::speak(&voice, &line))
            .await
            .map_err(|e| voice::VoiceError::Synth(e.to_string()))??;
        let speech = Arc::new(speech);
        if let Ok(mut cache) = self.speech.lock() {
            cache.insert(text.to_owned(), speech.clone());
        }
        Ok(speech)
    }

    /// Answers an offer with a new call. A call already live for the same session is ended
    /// first: the candidate reconnected, and the old peer would only hold the session hostage.
    pub async fn answer(
        self: &Arc<Self>,
        setup: CallSetup,
        offer: &str,
    ) -> Result<Answer, CallError> {
        if let Some(session_id) = &setup.session_id {
            self.hang_up_session(session_id);
        }
        call::start(self.clone(), setup, offer).await
    }

    fn register(&self, handle: call::CallHandle) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(handle.call_id.clone(), handle);
        }
    }

    fn unregister(&self, call_id: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(call_id);
        }
    }

    /// Ends the session's live call, if any (the proxy's `bye`).
    pub fn hang_up_session(&self, session_id: &str) {
        if let Ok(calls) = self.calls.lock() {
            for handle in calls
                .values()
                .filter(|h| h.session_id.as_deref() == Some(session_id))
            {
                handle.hang_up();
            }
        }
    }

    /// Ends the session's Live call now as its maximum duration would (`session.closed` with
    /// `expired`), wherever the conversation is: what a hosted session's cap does, on demand,
    /// for tests and demonstrations. False when the session has no Live call.
    pub fn expire_session(&self, session_id: &str) -> bool {
        self.calls.lock().is_ok_and(|calls| {
            let expired = calls
                .values()
                .filter(|h| h.session_id.as_deref() == Some(session_id))
                .map(call::CallHandle::expire)
                .filter(|expired| *expired)
                .count();
            expired > 0
        })
    }

    /// Hands the candidate's typed answer to the session's live call, which must be a Live
    /// one (a Realtime client sends its own on the data channel).
    pub async fn typed_answer(&self, session_id: &str, text: &str) -> Result<(), String> {
        let inputs = self
            .calls
            .lock()
            .map_err(|_| "the interviewer's call registry is unusable".to_owned())?
            .values()
            .find(|h| h.session_id.as_deref() == Some(session_id))
            .map(|h| {
                h.typed_answers()
                    .ok_or("this session's call is not a GPT-Live one")
            })
            .ok_or("this session has no live call")??;
        call::typed_answer(inputs, text).await
    }

    /// Ends a call by id (a Live one with `session.closed`, `close_requested`); false when
    /// there is no such call.
    pub fn hang_up(&self, call_id: &str) -> bool {
        self.calls
            .lock()
            .ok()
            .and_then(|calls| calls.get(call_id).map(call::CallHandle::hang_up))
            .is_some()
    }

    /// A live call's server events from now on (a server's sideband); `None` when there is no
    /// such call.
    pub fn observe(&self, call_id: &str) -> Option<tokio::sync::broadcast::Receiver<String>> {
        self.calls
            .lock()
            .ok()?
            .get(call_id)
            .map(call::CallHandle::observe)
    }

    /// Hands the candidate's typed answer to a Live call by its id.
    pub async fn typed_answer_to_call(&self, call_id: &str, text: &str) -> Result<(), String> {
        let inputs = self
            .calls
            .lock()
            .map_err(|_| "the interviewer's call registry is unusable".to_owned())?
            .get(call_id)
            .map(|h| h.typed_answers().ok_or("this call is not a GPT-Live one"))
            .ok_or("there is no such live call")??;
        call::typed_answer(inputs, text).await
    }

    /// The session a live call belongs to.
    pub fn session_of(&self, call_id: &str) -> Option<String> {
        self.calls
            .lock()
            .ok()?
            .get(call_id)
            .and_then(|h| h.session_id.clone())
    }

    /// How many calls are live (each holds a peer connection and a transcriber).
    pub fn live_calls(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }
}
