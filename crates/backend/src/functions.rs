//! The edge functions: `interview-start` (a session and how to reach the voice AI),
//! `transcript-processor` (idempotent upload of final transcript lines) and `interview-end`
//! (closing the candidate's live session).

use serde_json::{Value, json};
pub use viva_contract::grant::VoiceApi;
pub use viva_contract::{Entry, ProcessorReply};

use crate::client::Backend;
use crate::error::BackendError;
use crate::tables::Closing;

/// Which interview to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRequest {
    /// A new practice session, on the voice API asked for (the backend's default if none).
    Practice {
        api: Option<VoiceApi>,
        /// The recording notice the candidate agreed to, recorded with the session.
        consent: Option<String>,
    },
    /// A scheduled interview, or an existing session being resumed (a new client secret for
    /// the same session).
    Session {
        session_id: String,
        practice: bool,
        /// The recording notice the candidate agreed to: an interview starts only once one
        /// is recorded (the first one sent is kept).
        consent: Option<String>,
    },
}

impl StartRequest {
    /// A new practice session on the backend's default voice API, without a recorded consent
    /// (a practice needs none).
    #[must_use]
    pub fn practice() -> Self {
        Self::Practice {
            api: None,
            consent: None,
        }
    }
}

impl Backend {
    /// `interview-start`: the session and how to connect to the voice AI (raw JSON; the call
    /// crate reads it).
    pub async fn interview_start(
        &self,
        access_token: &str,
        request: &StartRequest,
        app_version: &str,
    ) -> Result<Value, BackendError> {
        let client = json!({"app_version": app_version, "platform": std::env::consts::OS});
        let (mut body, consent) = match request {
            StartRequest::Practice { api, consent } => {
                let mut body = json!({"mode": "practice", "client": client});
                if let Some(api) = api {
                    body["api"] = json!(api.as_str());
                }
                (body, consent)
            }
            StartRequest::Session {
                session_id,
                practice,
                consent,
            } => (
                json!({
                    "mode": if *practice { "practice" } else { "interview" },
                    "interview_id": session_id,
                    "client": client,
                }),
                consent,
            ),
        };
        if let Some(notice) = consent {
            body["consent"] = json!({"notice": notice});
        }
        self.post("/functions/v1/interview-start", Some(access_token), &body)
            .await
    }

    /// `transcript-processor`: stores final lines of a session; sending a line again is
    /// harmless. The reply lists lines the backend refused, with why; the rest are stored.
    pub async fn upload_transcript(
        &self,
        access_token: &str,
        session_id: &str,
        entries: &[Entry],
    ) -> Result<ProcessorReply, BackendError> {
        let reply = self
            .send(
                reqwest::Method::POST,
                "/functions/v1/transcript-processor",
                Some(access_token),
                Some(&json!({"session_id": session_id, "entries": entries})),
                &[],
            )
            .await?;
        viva_contract::parse_processor_reply(reply.body.as_bytes(), entries.len())
            .map_err(|e| BackendError::BadResponse(e.to_string()))
    }

    /// `interview-end`: closes the signed-in candidate's live session. Returns `false` when it
    /// was not live (already closed: closing twice is harmless). Through a function rather
    /// than the table API so the close lands in the same database as the transcript wherever
    /// the functions run.
    pub async fn close_session(
        &self,
        access_token: &str,
        session_id: &str,
        closing: &Closing,
    ) -> Result<bool, BackendError> {
        let reply = self
            .post(
                "/functions/v1/interview-end",
                Some(access_token),
                &json!({
                    "session_id": session_id,
                    "status": closing.status,
                    "ended_at": closing.ended_at,
                    "duration_ms": closing.duration_ms,
                    "realtime_cost_usd": closing.realtime_cost_usd,
                }),
            )
            .await?;
        reply.get("closed").and_then(Value::as_bool).ok_or_else(|| {
            BackendError::BadResponse("interview-end did not say whether it closed".into())
        })
    }
}
