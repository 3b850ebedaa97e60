//! The edge functions: `interview-start` (a session and how to reach the voice AI) and
//! `transcript-processor` (idempotent upload of final transcript lines).

use serde_json::{Value, json};
pub use viva_contract::grant::VoiceApi;
pub use viva_contract::{Entry, ProcessorReply};

use crate::client::Backend;
use crate::error::BackendError;

/// Which interview to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRequest {
    /// A new practice session, on the voice API asked for (the backend's default if none).
    Practice { api: Option<VoiceApi> },
    /// A scheduled interview, or an existing session being resumed (a new client secret for
    /// the same session).
    Session { session_id: String, practice: bool },
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
        let body = match request {
            StartRequest::Practice { api: None } => json!({"mode": "practice", "client": client}),
            StartRequest::Practice { api: Some(api) } => {
                json!({"mode": "practice", "client": client, "api": api.as_str()})
            }
            StartRequest::Session {
                session_id,
                practice,
            } => json!({
                "mode": if *practice { "practice" } else { "interview" },
                "interview_id": session_id,
                "client": client,
            }),
        };
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
}
