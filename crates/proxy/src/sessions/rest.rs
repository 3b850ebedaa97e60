//! Sessions read through the backend's REST API (PostgREST) as the user themselves: the anon
//! key and the user's own token, so the backend's row security decides what the proxy sees
//! and the proxy holds no database credential at all.

use std::time::Duration;

use serde::Deserialize;
use viva_contract::grant::VoiceApi;

use super::{SessionError, SessionInfo, Sessions, StoredTurn};
use crate::auth::{BoxFuture, VerifiedUser};

/// How long one read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most lines read back for a resumed GPT-Live session (the service keeps far fewer).
const MAX_LINES: usize = 5_000;
/// Lines per page (PostgREST's default `max-rows` on Supabase is 1,000).
const PAGE: usize = 1_000;

/// Reads sessions from `{backend}/rest/v1`.
#[derive(Debug, Clone)]
pub struct RestSessions {
    rest_url: String,
    anon_key: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct SessionRow {
    tenant_id: String,
    candidate_id: Option<String>,
    status: String,
    question_set: Option<String>,
    voice_api: Option<String>,
}

#[derive(Deserialize)]
struct TenantRow {
    voice_api: Option<String>,
}

#[derive(Deserialize)]
struct LineRow {
    item_id: String,
    speaker: String,
    text: String,
}

impl RestSessions {
    /// `backend_url` is the project's URL (`https://<ref>.supabase.co`); `anon_key` its public
    /// key.
    pub fn new(backend_url: &str, anon_key: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| format!("cannot build the backend client: {error}"))?;
        Ok(Self {
            rest_url: format!("{}/rest/v1", backend_url.trim_end_matches('/')),
            anon_key: anon_key.to_owned(),
            http,
        })
    }

    async fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        token: &str,
        path_and_query: &str,
    ) -> Result<Vec<T>, SessionError> {
        let response = self
            .http
            .get(format!("{}/{path_and_query}", self.rest_url))
            .header("apikey", &self.anon_key)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|error| {
                tracing::warn!(event = "proxy_rest_unreachable", error = %error.without_url());
                SessionError::Unavailable
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(SessionError::NotYours);
        }
        if !status.is_success() {
            tracing::warn!(event = "proxy_rest_refused", status = status.as_u16());
            return Err(SessionError::Unavailable);
        }
        response.json().await.map_err(|_| {
            tracing::warn!(event = "proxy_rest_unreadable");
            SessionError::Unavailable
        })
    }
}

/// An id that can go into a PostgREST filter as it is.
fn is_uuid(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

impl Sessions for RestSessions {
    fn session<'a>(
        &'a self,
        _user: &'a VerifiedUser,
        token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<SessionInfo, SessionError>> {
        Box::pin(async move {
            if !is_uuid(session_id) {
                return Err(SessionError::NotYours);
            }
            let rows: Vec<SessionRow> = self
                .rows(
                    token,
                    &format!(
                        "interview_sessions?id=eq.{session_id}&select=tenant_id,candidate_id,status,question_set,voice_api"
                    ),
                )
                .await?;
            let row = rows.into_iter().next().ok_or(SessionError::NotYours)?;
            let voice_api = match row.voice_api {
                Some(api) => api,
                None if is_uuid(&row.tenant_id) => {
                    let tenants: Vec<TenantRow> = self
                        .rows(
                            token,
                            &format!("tenants?id=eq.{}&select=voice_api", row.tenant_id),
                        )
                        .await?;
                    tenants
                        .into_iter()
                        .next()
                        .and_then(|t| t.voice_api)
                        .unwrap_or_default()
                }
                None => String::new(),
            };
            Ok(SessionInfo {
                tenant_id: row.tenant_id,
                candidate_id: row.candidate_id.unwrap_or_default(),
                active: row.status == "active",
                voice_api: voice_api.parse().unwrap_or(VoiceApi::Live),
                question_set: row.question_set.unwrap_or_default(),
            })
        })
    }

    fn transcript<'a>(
        &'a self,
        _user: &'a VerifiedUser,
        token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredTurn>, SessionError>> {
        Box::pin(async move {
            if !is_uuid(session_id) {
                return Err(SessionError::NotYours);
            }
            let mut lines = Vec::new();
            while lines.len() < MAX_LINES {
                let from = lines.len();
                let page: Vec<LineRow> = self
                    .rows(
                        token,
                        &format!(
                            "transcript_entries?session_id=eq.{session_id}&select=item_id,speaker,text&order=seq.asc,item_id.asc&limit={PAGE}&offset={from}"
                        ),
                    )
                    .await?;
                let full = page.len() == PAGE;
                lines.extend(page.into_iter().map(|l| StoredTurn {
                    item_id: l.item_id,
                    interviewer: l.speaker == "interviewer",
                    text: l.text,
                }));
                if !full {
                    break;
                }
            }
            Ok(lines)
        })
    }
}
