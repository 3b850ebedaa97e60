//! The SDP proxy inside the local stack (docs/protocols.md §3): the `viva-proxy` library with
//! the stack's own seams — tokens checked against the stack's keys and its sign-in records,
//! sessions read from its SQLite database, the lease in memory (one process), and the local
//! interviewer (or a configured hosted service) as the upstream.

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use serde_json::{Value, json};
use viva_contract::grant::VoiceApi;
use viva_contract::proxy::HistoryLine;
use viva_proxy::auth::{BoxFuture, Role, TokenRefusal, TokenVerifier, VerifiedUser};
use viva_proxy::sessions::{SessionError, SessionInfo, Sessions, StoredTurn};

use crate::db::{Db, DbError};
use crate::jwt::Keys;
use crate::server::AppState;

pub use viva_contract::proxy::{
    CLOSE_ALREADY_LIVE, CLOSE_POLICY, CLOSE_RATE_LIMITED, CLOSE_UPSTREAM_FAILED,
};
pub use viva_contract::sdp::{MAX_SDP_BYTES, SdpError, validate_offer};
pub use viva_proxy::MAX_CLIENT_MESSAGE_BYTES;
pub use viva_proxy::socket::{
    AUTH_TIMEOUT, MAX_OFFERS_PER_CONNECTION, MAX_TYPED_ANSWERS_PER_CONNECTION,
};
pub use viva_proxy::upstream::openai::{HostedUpstream, wrap_typed_answer};
pub use viva_proxy::upstream::{
    Answered, CallApi, NoUpstream, Upstream, UpstreamCall, UpstreamError,
};

/// `GET /health`
pub async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "timestamp": chrono::Utc::now().to_rfc3339()}))
}

/// `GET /ws`
pub async fn ws(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    // Only this computer connects to the local stack's proxy: no connection limits.
    state.proxy.upgrade(upgrade, None)
}

/// Tokens as the stack issues them, and only while their sign-in is alive.
#[derive(Debug, Clone)]
pub struct LocalTokens {
    pub keys: Keys,
    pub db: Db,
}

impl TokenVerifier for LocalTokens {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedUser, TokenRefusal>> {
        Box::pin(async move {
            let (caller, claims) = crate::caller::verify(&self.keys, &self.db, token)
                .await
                .map_err(|error| match error {
                    crate::caller::CallerError::Expired => TokenRefusal::Expired,
                    crate::caller::CallerError::Revoked => TokenRefusal::Revoked,
                    _ => TokenRefusal::Invalid,
                })?;
            Ok(VerifiedUser {
                user_id: caller.user_id,
                email: caller.email,
                tenant_id: caller.tenant_id,
                role: Some(match caller.role {
                    crate::caller::Role::Candidate => Role::Candidate,
                    crate::caller::Role::Interviewer => Role::Interviewer,
                }),
                auth_session: claims.session_id.clone(),
                claims: serde_json::to_value(&claims).unwrap_or_default(),
            })
        })
    }
}

/// Sessions and their transcripts from the stack's database.
#[derive(Debug, Clone)]
pub struct LocalSessions {
    pub db: Db,
}

fn unavailable(error: DbError) -> SessionError {
    tracing::warn!(event = "proxy_session_read_failed", %error);
    SessionError::Unavailable
}

impl Sessions for LocalSessions {
    fn session<'a>(
        &'a self,
        _user: &'a VerifiedUser,
        _token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<SessionInfo, SessionError>> {
        let id = session_id.to_owned();
        Box::pin(async move {
            self.db
                .call(move |conn| {
                    use rusqlite::OptionalExtension;
                    conn.query_row(
                        "SELECT s.tenant_id, s.candidate_id, s.status = 'active', coalesce(s.voice_api, t.voice_api), s.question_set \
                         FROM interview_sessions s JOIN tenants t ON t.id = s.tenant_id WHERE s.id = ?1",
                        [&id],
                        |r| {
                            Ok(SessionInfo {
                                tenant_id: r.get(0)?,
                                candidate_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                                active: r.get(2)?,
                                // The column's CHECK allows only the two names.
                                voice_api: r.get::<_, String>(3)?.parse().unwrap_or(VoiceApi::Realtime),
                                question_set: r.get(4)?,
                            })
                        },
                    )
                    .optional()
                    .map_err(DbError::from)
                })
                .await
                .map_err(unavailable)?
                .ok_or(SessionError::NotYours)
        })
    }

    fn transcript<'a>(
        &'a self,
        _user: &'a VerifiedUser,
        _token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredTurn>, SessionError>> {
        let id = session_id.to_owned();
        Box::pin(async move {
            self.db
                .call(move |conn| {
                    let mut lines = conn.prepare(
                        "SELECT item_id, speaker, text FROM transcript_entries WHERE session_id = ?1 ORDER BY seq, item_id",
                    )?;
                    let lines = lines
                        .query_map([&id], |r| {
                            Ok(StoredTurn {
                                item_id: r.get(0)?,
                                interviewer: r.get::<_, String>(1)? == "interviewer",
                                text: r.get(2)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok::<_, DbError>(lines)
                })
                .await
                .map_err(unavailable)
        })
    }
}

/// The call an offer for `session_id` asks the upstream for, as the proxy builds it from the
/// stack's database ([`viva_proxy::sessions::call_api`]).
pub async fn call_api(
    db: &Db,
    session_id: &str,
    offered: &[HistoryLine],
) -> Result<CallApi, String> {
    let sessions = LocalSessions { db: db.clone() };
    let nobody = nobody();
    let session = sessions
        .session(&nobody, "", session_id)
        .await
        .map_err(|e| e.to_string())?;
    viva_proxy::sessions::call_api(&sessions, &nobody, "", session_id, &session, offered)
        .await
        .map_err(|e| e.to_string())
}

/// The GPT-Live session an offer for `session_id` asks for, built from the stack's database
/// ([`viva_proxy::sessions::live_session_config`]).
pub async fn live_session_config(
    db: &Db,
    session_id: &str,
    offered: &[HistoryLine],
) -> Result<viva_proxy::live::SessionConfig, String> {
    match call_api(db, session_id, offered).await? {
        CallApi::Live(config) => Ok(*config),
        CallApi::Realtime => {
            // Built the same way whatever the session's voice API, as the proxy would for Live.
            let sessions = LocalSessions { db: db.clone() };
            let nobody = nobody();
            let session = sessions
                .session(&nobody, "", session_id)
                .await
                .map_err(|e| e.to_string())?;
            let stored = sessions
                .transcript(&nobody, "", session_id)
                .await
                .map_err(|e| e.to_string())?;
            Ok(viva_proxy::sessions::live_session_config(
                &session.question_set,
                &stored,
                offered,
            ))
        }
    }
}

/// No user: the stack's own reads ignore who asks.
fn nobody() -> VerifiedUser {
    VerifiedUser {
        user_id: String::new(),
        email: String::new(),
        tenant_id: String::new(),
        role: None,
        auth_session: String::new(),
        claims: Value::Null,
    }
}
