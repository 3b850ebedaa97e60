//! Full-text search over the transcripts kept on this computer.

use serde::{Deserialize, Serialize};
use viva_realtime::Speaker;
use viva_store::{SearchQuery, Store};

use crate::{ReviewError, clamp, readable};

/// What to search for across the transcripts on this computer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// Words (all must appear), `"phrases"` and `prefix*`.
    pub text: String,
    /// Only this speaker's lines.
    pub speaker: Option<Speaker>,
    pub title_contains: Option<String>,
    pub from_ms: Option<f64>,
    pub before_ms: Option<f64>,
}

/// A piece of a snippet; `hit` pieces are the words that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FragmentView {
    pub text: String,
    pub hit: bool,
}

/// One matching line, to open the transcript at.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SearchHitView {
    pub session_id: String,
    pub session_title: String,
    pub session_started_at_ms: f64,
    pub item_id: String,
    pub speaker: Speaker,
    pub at_ms: u32,
    pub snippet: Vec<FragmentView>,
}

/// Searches every transcript in `store` (full-text, ranked, newest matches first among
/// equals), at most 100 hits, on a blocking thread.
pub async fn search(
    store: Option<&Store>,
    request: SearchRequest,
) -> Result<Vec<SearchHitView>, ReviewError> {
    let store = readable(store)?.clone();
    let query = SearchQuery {
        text: request.text,
        speaker: request.speaker,
        title_contains: request.title_contains.filter(|t| !t.trim().is_empty()),
        from_ms: request.from_ms.map(|ms| ms as i64),
        until_ms: request.before_ms.map(|ms| ms as i64),
        limit: 100,
    };
    let hits = tokio::task::spawn_blocking(move || store.search(&query))
        .await
        .map_err(|e| ReviewError::Interrupted(e.to_string()))??;
    Ok(hits
        .into_iter()
        .map(|hit| SearchHitView {
            session_id: hit.session_id,
            session_title: hit.session_title,
            session_started_at_ms: hit.session_started_at_ms as f64,
            item_id: hit.item_id,
            speaker: hit.speaker,
            at_ms: clamp(hit.started_ms),
            snippet: hit
                .snippet
                .into_iter()
                .map(|f| FragmentView {
                    text: f.text,
                    hit: f.hit,
                })
                .collect(),
        })
        .collect())
}
