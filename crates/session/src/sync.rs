//! The store's outbox speaking to the backend: final lines to `transcript-processor`, the
//! session's closing to `interview_sessions`, with the signed-in account's token (refreshed,
//! and retried once on a 401).

use std::sync::Arc;

use viva_backend::{Account, Closing, EntryUpload};
use viva_store::{Ending, Remote, StoredLine};

/// Sends one account's outbox to its backend.
#[derive(Debug, Clone)]
pub struct AccountRemote {
    pub account: Arc<Account>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn as_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Remote for AccountRemote {
    async fn upload(&self, session_id: &str, lines: &[StoredLine]) -> Result<(), String> {
        let entries: Vec<EntryUpload> = lines
            .iter()
            .map(|line| EntryUpload {
                item_id: line.item_id.clone(),
                seq: i64::from(line.seq),
                speaker: match line.speaker {
                    viva_realtime::Speaker::Candidate => "candidate".into(),
                    viva_realtime::Speaker::Interviewer => "interviewer".into(),
                },
                text: line.text.clone(),
                started_ms: Some(as_i64(line.started_ms)),
                ended_ms: line.ended_ms.map(as_i64),
            })
            .collect();
        let entries = &entries;
        self.account
            .with_backend(|backend, token| async move {
                backend.upload_transcript(&token, session_id, entries).await
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn close(&self, session_id: &str, ending: &Ending) -> Result<(), String> {
        let closing = Closing {
            status: ending.status.as_str().into(),
            ended_at: rfc3339(ending.ended_at_ms),
            duration_ms: ending.duration_ms,
            realtime_cost_usd: ending.cost_usd,
        };
        let closing = &closing;
        // `false` means it was closed already (by another device, or a retry after a lost
        // answer): done either way.
        self.account
            .with_backend(|backend, token| async move {
                backend.close_session(&token, session_id, closing).await
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
