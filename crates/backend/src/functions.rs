//! The edge functions: `interview-start` (a session and how to reach the voice AI) and
//! `transcript-processor` (idempotent upload of final transcript lines).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::Backend;
use crate::error::BackendError;

/// Which interview to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRequest {
    /// A new practice session.
    Practice,
    /// A scheduled interview, or an existing session being resumed (a new client secret for
    /// the same session).
    Session { session_id: String, practice: bool },
}

/// One final line for `transcript-processor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryUpload {
    pub item_id: String,
    pub seq: i64,
    /// `candidate` or `interviewer`.
    pub speaker: String,
    pub text: String,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
}

/// What `transcript-processor` did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    /// Lines stored now.
    pub accepted: u64,
    /// Lines it already had (a batch sent again stores nothing twice).
    pub duplicates: u64,
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
            StartRequest::Practice => json!({"mode": "practice", "client": client}),
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
    /// harmless.
    pub async fn upload_transcript(
        &self,
        access_token: &str,
        session_id: &str,
        entries: &[EntryUpload],
    ) -> Result<Accepted, BackendError> {
        let reply = self
            .post(
                "/functions/v1/transcript-processor",
                Some(access_token),
                &json!({"session_id": session_id, "entries": entries}),
            )
            .await?;
        serde_json::from_value(reply)
            .map_err(|e| BackendError::BadResponse(format!("the transcript-processor reply: {e}")))
    }
}
