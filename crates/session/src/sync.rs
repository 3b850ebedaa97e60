//! The store's outbox speaking to the backend: final lines to `transcript-processor`, the
//! session's closing to `interview_sessions`, with the signed-in account's token (refreshed,
//! and retried once on a 401).

use std::sync::Arc;

use viva_backend::{Account, Closing, Entry};
use viva_store::{Ending, Refused, Remote, StoredLine};

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

/// A line as the contract's entries: one, or (longer than the contract allows) consecutive
/// parts with their own stable ids, so nothing is refused for its length and nothing is cut.
/// The local copy keeps the line whole.
pub fn entries_of(line: &StoredLine) -> Vec<Entry> {
    viva_contract::split_line(&line.text)
        .into_iter()
        .enumerate()
        .map(|(index, text)| Entry {
            item_id: viva_contract::part_item_id(&line.item_id, index),
            seq: i32::try_from(line.seq).unwrap_or(i32::MAX),
            speaker: match line.speaker {
                viva_realtime::Speaker::Candidate => "candidate".into(),
                viva_realtime::Speaker::Interviewer => "interviewer".into(),
            },
            text: text.to_owned(),
            started_ms: as_i64(line.started_ms),
            ended_ms: line.ended_ms.map(as_i64),
        })
        .collect()
}

impl Remote for AccountRemote {
    async fn upload(&self, session_id: &str, lines: &[StoredLine]) -> Result<Vec<Refused>, String> {
        // Which line each entry came from, so a refused part parks its whole line.
        let mut line_of = std::collections::HashMap::new();
        let mut entries = Vec::new();
        for line in lines {
            for entry in entries_of(line) {
                line_of.insert(entry.item_id.clone(), line.item_id.clone());
                entries.push(entry);
            }
        }
        let mut refused: Vec<Refused> = Vec::new();
        for batch in entries.chunks(viva_contract::MAX_ENTRIES_PER_CALL) {
            let reply = self
                .account
                .with_backend(|backend, token| async move {
                    backend.upload_transcript(&token, session_id, batch).await
                })
                .await
                .map_err(|e| e.to_string())?;
            for rejection in reply.rejected {
                let item_id = line_of
                    .get(&rejection.item_id)
                    .cloned()
                    .unwrap_or(rejection.item_id);
                if !refused.iter().any(|r| r.item_id == item_id) {
                    refused.push(Refused {
                        item_id,
                        reason: format!("{} ({})", rejection.message, rejection.code),
                    });
                }
            }
        }
        Ok(refused)
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
