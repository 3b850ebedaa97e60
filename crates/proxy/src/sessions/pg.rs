//! Sessions read from the database directly, as the user: each read is one read-only
//! transaction that becomes the `authenticated` role with the user's verified token claims
//! (as PostgREST does), so the schema's row security decides what the proxy sees, exactly as
//! through the REST API ([`super::rest`]) but without the extra hop.
//!
//! ```sql
//! begin read only; set local role authenticated;
//! select set_config('request.jwt.claims', $claims, true);
//! select ... ;
//! commit;
//! ```
//!
//! Everything is local to the transaction (`set local`, `set_config(..., true)`) and sent with
//! unnamed statements, so it runs unchanged behind a pooler in transaction mode. The proxy's
//! role needs to be able to become `authenticated`: `grant authenticated to viva_proxy` (the
//! role is `noinherit`, so it gains none of those rights outside such a transaction). With
//! that grant the role can act as any user whose claims it sets; the claims are always those of
//! a token the proxy verified. Without it, use [`super::rest::RestSessions`], which needs no
//! database right at all.

use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::time::Instant;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use viva_contract::grant::VoiceApi;

use super::{SessionError, SessionInfo, Sessions, StoredTurn};
use crate::auth::{BoxFuture, VerifiedUser};
use crate::lease::pg::describe;

/// How long one read may take (the pool's wait included).
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most lines read back for a resumed GPT-Live session (the service keeps far fewer).
const MAX_LINES: i64 = 5_000;

const SESSION: &str = "
select s.tenant_id::text as tenant_id,
       s.candidate_id::text as candidate_id,
       s.status,
       s.question_set,
       coalesce(s.voice_api, t.voice_api) as voice_api
  from public.interview_sessions s
  left join public.tenants t on t.id = s.tenant_id
 where s.id = $1::uuid";

const TRANSCRIPT: &str = "
select item_id, speaker, text
  from public.transcript_entries
 where session_id = $1::uuid
 order by seq, item_id
 limit $2";

/// Whether this role may become `authenticated` and read the sessions.
const CHECK: &str = "
select pg_has_role('authenticated', 'member') as may_act_as_users,
       current_user::text as role,
       to_regclass('public.interview_sessions') is not null as has_schema";

/// Reads sessions from PostgreSQL as the user.
pub struct PgSessions {
    pool: Pool,
}

impl std::fmt::Debug for PgSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessions").finish_non_exhaustive()
    }
}

impl PgSessions {
    /// Sessions on `pool` ([`crate::lease::pg::pool`]), once the role is checked; the error
    /// is one line saying what to fix.
    pub async fn new(pool: Pool) -> Result<Self, String> {
        let sessions = Self { pool };
        let client = tokio::time::timeout(READ_TIMEOUT, sessions.pool.get())
            .await
            .map_err(|_| "the database did not answer in time".to_owned())?
            .map_err(|error| format!("cannot connect to the database: {error}"))?;
        let row = tokio::time::timeout(READ_TIMEOUT, client.query_typed_opt(CHECK, &[]))
            .await
            .map_err(|_| "the database did not answer in time".to_owned())?
            .map_err(|error| format!("the database refused the check: {}", describe(&error)))?
            .ok_or("the database answered the check with nothing")?;
        let role: String = row.try_get("role").unwrap_or_default();
        if !row.try_get::<_, bool>("has_schema").unwrap_or(false) {
            return Err(
                "the database has no public.interview_sessions: apply supabase/migrations (`supabase db push`)"
                    .to_owned(),
            );
        }
        if !row.try_get::<_, bool>("may_act_as_users").unwrap_or(false) {
            return Err(format!(
                "the database role `{role}` cannot read sessions as their users: `grant authenticated to \"{role}\"`, or read them through the REST API instead"
            ));
        }
        Ok(sessions)
    }

    /// Runs `sql` in a read-only transaction as the user with `claims`. A connection that
    /// failed or timed out mid-transaction leaves the pool: it may still be in the transaction.
    async fn as_user(
        &self,
        user: &VerifiedUser,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, SessionError> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let client = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                tracing::warn!(event = "proxy_sessions_db_unreachable", %error);
                return Err(SessionError::Unavailable);
            }
            Err(_) => return Err(SessionError::Unavailable),
        };
        let claims = user.claims.to_string();
        let read = async {
            client
                .batch_execute("begin read only; set local role authenticated")
                .await?;
            client
                .query_typed(
                    "select set_config('request.jwt.claims', $1, true)",
                    &[(&claims, Type::TEXT)],
                )
                .await?;
            let rows = client.query_typed(sql, params).await?;
            client.batch_execute("commit").await?;
            Ok::<_, tokio_postgres::Error>(rows)
        };
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(error)) => {
                tracing::warn!(event = "proxy_sessions_db_failed", error = %describe(&error));
                drop(Object::take(client));
                Err(SessionError::Unavailable)
            }
            Err(_) => {
                drop(Object::take(client));
                Err(SessionError::Unavailable)
            }
        }
    }
}

impl Sessions for PgSessions {
    fn session<'a>(
        &'a self,
        user: &'a VerifiedUser,
        _token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<SessionInfo, SessionError>> {
        Box::pin(async move {
            if uuid::Uuid::parse_str(session_id).is_err() {
                return Err(SessionError::NotYours);
            }
            let id = session_id.to_owned();
            let rows = self.as_user(user, SESSION, &[(&id, Type::TEXT)]).await?;
            let row = rows.first().ok_or(SessionError::NotYours)?;
            let text = |column: &str| -> Option<String> { row.try_get(column).ok().flatten() };
            Ok(SessionInfo {
                tenant_id: text("tenant_id").unwrap_or_default(),
                candidate_id: text("candidate_id").unwrap_or_default(),
                active: text("status").as_deref() == Some("active"),
                voice_api: text("voice_api")
                    .and_then(|api| api.parse().ok())
                    .unwrap_or(VoiceApi::Live),
                question_set: text("question_set").unwrap_or_default(),
            })
        })
    }

    fn transcript<'a>(
        &'a self,
        user: &'a VerifiedUser,
        _token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredTurn>, SessionError>> {
        Box::pin(async move {
            if uuid::Uuid::parse_str(session_id).is_err() {
                return Err(SessionError::NotYours);
            }
            let id = session_id.to_owned();
            let rows = self
                .as_user(
                    user,
                    TRANSCRIPT,
                    &[(&id, Type::TEXT), (&MAX_LINES, Type::INT8)],
                )
                .await?;
            Ok(rows
                .iter()
                .filter_map(|row| {
                    Some(StoredTurn {
                        item_id: row.try_get("item_id").ok()?,
                        interviewer: row.try_get::<_, String>("speaker").ok()? == "interviewer",
                        text: row.try_get("text").ok()?,
                    })
                })
                .collect())
        })
    }
}
