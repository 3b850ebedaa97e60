//! The transcript of record in PostgreSQL, written as the proxy's own role.

use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::time::Instant;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use viva_contract::MAX_LINE_CHARS;
use viva_contract::observed::{ObservedFragment, ObservedWindow, Speaker};

use super::{
    Observations, ObserveError, StoredWindow, WindowEnd, WindowId, WindowStart, without_repeats,
};
use crate::auth::BoxFuture;
use crate::lease::pg::describe;

/// The longest one statement may take (the pool's wait included). The observer keeps what it
/// could not write and tries again, so a slow database costs a delay, not fragments.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the start-up check waits for the first connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest item id the table keeps (20261210000000_observed_item_ids.sql).
pub const MAX_ITEM_ID_CHARS: usize = 200;

const OPEN: &str = "
insert into public.observed_windows
       (tenant_id, session_id, provider_session, api, instance, from_ms, to_ms)
values ($1::uuid, $2::uuid, $3, $4, $5, $6, $6)
returning id::text as id";

/// Moves an open window's end and stores a batch of fragments in it, in one statement: both or
/// neither. The window is updated first (which locks it, so a concurrent close is waited for
/// and then seen), and the fragments are taken in the order given (`ordinality`), so their ids
/// are their arrival order. A closed or unknown window changes nothing: `windows` is then 0.
const RECORD: &str = "
with moved as (
    update public.observed_windows
       set to_ms = greatest(to_ms, $2)
     where id = $1::uuid and ended_at is null
    returning id, tenant_id, session_id
), stored as (
    insert into public.observed_fragments
           (window_id, tenant_id, session_id, provider_session, speaker, text, start_ms, end_ms,
            item_id)
    select m.id, m.tenant_id, m.session_id, f.provider_session, f.speaker, f.text, f.start_ms,
           f.end_ms, f.item_id
      from moved m,
           unnest($3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::text[])
               with ordinality as f(provider_session, speaker, text, start_ms, end_ms, item_id, n)
     order by f.n
    returning 1
)
select (select count(*) from moved) as windows, (select count(*) from stored) as fragments";

const CLOSE: &str = "
update public.observed_windows
   set to_ms = greatest(to_ms, $2), end_reason = $3, ended_at = now()
 where id = $1::uuid and ended_at is null
returning id";

const WINDOWS: &str = "
select id::text as id, tenant_id::text as tenant_id, session_id::text as session_id,
       provider_session, api, instance, from_ms, to_ms, end_reason
  from public.observed_windows
 where session_id = $1::uuid
 order by started_at, from_ms, id";

const FRAGMENTS: &str = "
select window_id::text as window_id, provider_session, speaker, text, start_ms, end_ms, item_id
  from public.observed_fragments
 where session_id = $1::uuid
 order by id";

/// Whether the role may write the record. Its rights are granted column by column, which
/// `has_table_privilege` does not count: each column the statements write is asked about (a
/// column a migration has not added yet fails the check: 42703).
const CHECK: &str = "
select bool_and(has_column_privilege(format('public.%I', t), c, p)) as usable,
       current_user::text as role
  from (values
        ('observed_windows', 'tenant_id', 'insert'), ('observed_windows', 'session_id', 'insert'),
        ('observed_windows', 'provider_session', 'insert'), ('observed_windows', 'api', 'insert'),
        ('observed_windows', 'instance', 'insert'), ('observed_windows', 'from_ms', 'insert'),
        ('observed_windows', 'to_ms', 'insert'), ('observed_windows', 'to_ms', 'update'),
        ('observed_windows', 'ended_at', 'update'), ('observed_windows', 'end_reason', 'update'),
        ('observed_windows', 'id', 'select'), ('observed_fragments', 'window_id', 'insert'),
        ('observed_fragments', 'tenant_id', 'insert'), ('observed_fragments', 'session_id', 'insert'),
        ('observed_fragments', 'provider_session', 'insert'), ('observed_fragments', 'speaker', 'insert'),
        ('observed_fragments', 'text', 'insert'), ('observed_fragments', 'start_ms', 'insert'),
        ('observed_fragments', 'end_ms', 'insert'), ('observed_fragments', 'item_id', 'insert'))
        as needed(t, c, p)";

/// The transcript of record in PostgreSQL (`public.observed_windows`,
/// `public.observed_fragments`; supabase/migrations/20261209000000_observed_record.sql),
/// written as the role `viva_proxy`.
///
/// Each write is one statement sent with the unnamed prepared statement (`query_typed`), like
/// the leases' ([`crate::lease::pg`]): a batch of fragments and the window's new end go
/// together in one statement, so a checkpoint never claims fragments that are not stored, and
/// nothing is kept in the server session, so it runs unchanged behind a pooler in transaction
/// mode. The pool is the leases' ([`crate::lease::pg::pool`]), so one
/// `VIVA_PROXY_DATABASE_URL` serves both. The database enforces the record's rules itself
/// (only open windows take fragments, a window only grows and ends once, tenant and session
/// agree with the window's); this store keeps within them.
pub struct PgObservations {
    pool: Pool,
}

impl std::fmt::Debug for PgObservations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's configuration holds the password.
        f.debug_struct("PgObservations").finish_non_exhaustive()
    }
}

fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn speaker_name(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Candidate => "candidate",
        Speaker::Interviewer => "interviewer",
    }
}

/// `text` as PostgreSQL can keep it, in parts of at most [`MAX_LINE_CHARS`] characters. Text
/// cannot hold NUL, which becomes U+FFFD: both separate words alike for the comparison, so the
/// words are kept. A longer fragment than the table takes is stored as consecutive parts with
/// the same times (joined in order they are the fragment again) rather than refused: one
/// refused fragment would hold up its whole window.
fn storable_parts(text: &str) -> Vec<String> {
    let text = text.replace('\0', "\u{FFFD}");
    if text.chars().count() <= MAX_LINE_CHARS {
        return vec![text];
    }
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(MAX_LINE_CHARS)
        .map(|part| part.iter().collect())
        .collect()
}

/// An item id as the table keeps it (at most [`MAX_ITEM_ID_CHARS`] characters, no NUL). A
/// provider's ids are far shorter; a longer one is cut rather than refused (one refused
/// fragment would hold up its whole window), and a cut id matches no line: that line is then
/// judged as one the record lacks.
fn storable_item(item: &str) -> String {
    item.replace('\0', "\u{FFFD}")
        .chars()
        .take(MAX_ITEM_ID_CHARS)
        .collect()
}

impl PgObservations {
    /// The record on `pool` ([`crate::lease::pg::pool`]), once the role is checked; the
    /// error says in one line what to fix.
    pub async fn new(pool: Pool) -> Result<Self, CheckError> {
        let observations = Self { pool };
        let rows = observations
            .query(CHECK, &[], CHECK_TIMEOUT)
            .await
            .map_err(|problem| match &problem {
                Failure::Db(error)
                    if matches!(
                        error.code().map(|c| c.code()),
                        Some("42P01" | "3F000" | "42703")
                    ) =>
                {
                    CheckError::NoTables(problem.to_string())
                }
                Failure::Db(_) => CheckError::Refused(problem.to_string()),
                Failure::Pool(_) | Failure::Timeout => CheckError::Unreachable(problem.to_string()),
            })?;
        let row = rows
            .first()
            .ok_or_else(|| CheckError::Refused("the check returned no row".to_owned()))?;
        if row.try_get::<_, bool>("usable").unwrap_or(false) {
            return Ok(observations);
        }
        Err(CheckError::NotPermitted(
            row.try_get("role").unwrap_or_default(),
        ))
    }

    /// Runs one statement within `limit` (the pool's wait included). A connection that did not
    /// answer in time, or broke, leaves the pool: it may still be busy with the statement.
    async fn query(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        limit: Duration,
    ) -> Result<Vec<Row>, Failure> {
        let deadline = Instant::now() + limit;
        let client = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(problem)) => return Err(Failure::Pool(problem.to_string())),
            Err(_) => return Err(Failure::Timeout),
        };
        match tokio::time::timeout_at(deadline, client.query_typed(sql, params)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(error)) => {
                if error.is_closed() {
                    drop(Object::take(client));
                }
                Err(Failure::Db(error))
            }
            Err(_) => {
                drop(Object::take(client));
                Err(Failure::Timeout)
            }
        }
    }

    /// An interview session's windows, in the order opened.
    pub async fn windows_of(&self, session_id: &str) -> Result<Vec<StoredWindow>, ObserveError> {
        let session = uuid_text(session_id)?;
        let rows = self
            .query(WINDOWS, &[(&session, Type::TEXT)], STATEMENT_TIMEOUT)
            .await
            .map_err(Failure::into_observe)?;
        rows.iter().map(read_window).collect()
    }

    /// An interview session's transcript of record as the comparison takes it: the fragments in
    /// the order the proxy received them (each once, however many windows stored it), and the
    /// windows it listened in.
    pub async fn record_of(
        &self,
        session_id: &str,
    ) -> Result<(Vec<ObservedFragment>, Vec<ObservedWindow>), ObserveError> {
        let windows = self.windows_of(session_id).await?;
        let session = uuid_text(session_id)?;
        let rows = self
            .query(FRAGMENTS, &[(&session, Type::TEXT)], STATEMENT_TIMEOUT)
            .await
            .map_err(Failure::into_observe)?;
        let rows = rows
            .iter()
            .map(read_fragment)
            .collect::<Result<Vec<_>, _>>()?;
        let fragments = without_repeats(rows.iter().map(|(w, f)| (w.as_str(), f.clone())));
        Ok((
            fragments,
            windows.iter().map(StoredWindow::observed).collect(),
        ))
    }

    async fn open_now(&self, start: &WindowStart) -> Result<WindowId, ObserveError> {
        let tenant = uuid_text(&start.tenant_id)?;
        let session = uuid_text(&start.session_id)?;
        let from_ms = sql_ms(start.from_ms);
        let rows = self
            .query(
                OPEN,
                &[
                    (&tenant, Type::TEXT),
                    (&session, Type::TEXT),
                    (&start.provider_session, Type::TEXT),
                    (&start.api, Type::TEXT),
                    (&start.instance, Type::TEXT),
                    (&from_ms, Type::INT8),
                ],
                STATEMENT_TIMEOUT,
            )
            .await
            .map_err(Failure::into_observe)?;
        let id: String = rows
            .first()
            .and_then(|row| row.try_get("id").ok())
            .ok_or_else(|| ObserveError::Store("the new window's id did not come back".into()))?;
        Ok(WindowId(id))
    }

    async fn record_now(
        &self,
        window: &WindowId,
        fragments: &[ObservedFragment],
        to_ms: u64,
    ) -> Result<(), ObserveError> {
        let id = window_uuid(window)?;
        let mut providers = Vec::with_capacity(fragments.len());
        let mut speakers = Vec::with_capacity(fragments.len());
        let mut texts = Vec::with_capacity(fragments.len());
        let mut starts = Vec::with_capacity(fragments.len());
        let mut ends = Vec::with_capacity(fragments.len());
        let mut items: Vec<Option<String>> = Vec::with_capacity(fragments.len());
        for fragment in fragments {
            // Parts of a long fragment keep its item: joined in order they are its words again.
            for part in storable_parts(&fragment.text) {
                providers.push(fragment.provider_session.clone());
                speakers.push(speaker_name(fragment.speaker).to_owned());
                texts.push(part);
                starts.push(sql_ms(fragment.start_ms));
                ends.push(sql_ms(fragment.end_ms));
                items.push(fragment.item_id.as_deref().map(storable_item));
            }
        }
        let to_ms = sql_ms(to_ms);
        let rows = self
            .query(
                RECORD,
                &[
                    (&id, Type::TEXT),
                    (&to_ms, Type::INT8),
                    (&providers, Type::TEXT_ARRAY),
                    (&speakers, Type::TEXT_ARRAY),
                    (&texts, Type::TEXT_ARRAY),
                    (&starts, Type::INT8_ARRAY),
                    (&ends, Type::INT8_ARRAY),
                    (&items, Type::TEXT_ARRAY),
                ],
                STATEMENT_TIMEOUT,
            )
            .await
            .map_err(Failure::into_observe)?;
        let moved: i64 = rows
            .first()
            .and_then(|row| row.try_get("windows").ok())
            .unwrap_or(0);
        if moved == 0 {
            return Err(ObserveError::NoSuchWindow);
        }
        Ok(())
    }

    async fn close_now(
        &self,
        window: &WindowId,
        to_ms: u64,
        reason: WindowEnd,
    ) -> Result<(), ObserveError> {
        let id = window_uuid(window)?;
        let to_ms = sql_ms(to_ms);
        let reason = reason.as_str();
        let rows = self
            .query(
                CLOSE,
                &[
                    (&id, Type::TEXT),
                    (&to_ms, Type::INT8),
                    (&reason, Type::TEXT),
                ],
                STATEMENT_TIMEOUT,
            )
            .await
            .map_err(Failure::into_observe)?;
        if rows.is_empty() {
            return Err(ObserveError::NoSuchWindow);
        }
        Ok(())
    }
}

impl Observations for PgObservations {
    fn open_window<'a>(
        &'a self,
        start: &'a WindowStart,
    ) -> BoxFuture<'a, Result<WindowId, ObserveError>> {
        Box::pin(self.open_now(start))
    }

    fn record<'a>(
        &'a self,
        window: &'a WindowId,
        fragments: &'a [ObservedFragment],
        to_ms: u64,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(self.record_now(window, fragments, to_ms))
    }

    fn close<'a>(
        &'a self,
        window: &'a WindowId,
        to_ms: u64,
        reason: WindowEnd,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(self.close_now(window, to_ms, reason))
    }
}

/// Why the record cannot be written to this database, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The migration is not applied yet.
    #[error(
        "the database has no transcript of record, or an older one ({0}): apply supabase/migrations/20261209000000_observed_record.sql and 20261210000000_observed_item_ids.sql (`supabase db push`), or run with --observe off"
    )]
    NoTables(String),
    /// The role is not the proxy's (`viva_proxy`).
    #[error(
        "the database role `{0}` may not write the transcript of record (public.observed_windows, public.observed_fragments): `grant viva_proxy to \"{0}\"`, or run with --observe off"
    )]
    NotPermitted(String),
    #[error(
        "{0}: check VIVA_PROXY_DATABASE_URL (host, port, user, password, sslmode, sslrootcert)"
    )]
    Unreachable(String),
    #[error("the database refused the transcript of record's check: {0}")]
    Refused(String),
}

/// Why a statement failed.
#[derive(Debug)]
enum Failure {
    Timeout,
    Pool(String),
    Db(tokio_postgres::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("the database did not answer in time"),
            Self::Pool(problem) => write!(f, "cannot connect to the database: {problem}"),
            Self::Db(error) => f.write_str(&describe(error)),
        }
    }
}

impl Failure {
    fn into_observe(self) -> ObserveError {
        ObserveError::Store(self.to_string())
    }
}

/// A UUID as text for a `$n::uuid` parameter; anything else never reaches SQL.
fn uuid_text(id: &str) -> Result<String, ObserveError> {
    uuid::Uuid::parse_str(id)
        .map(|id| id.to_string())
        .map_err(|_| ObserveError::Store(format!("`{id}` is not a UUID")))
}

/// A window id this store handed out; any other names no window here.
fn window_uuid(window: &WindowId) -> Result<String, ObserveError> {
    uuid::Uuid::parse_str(&window.0)
        .map(|id| id.to_string())
        .map_err(|_| ObserveError::NoSuchWindow)
}

fn column<T>(row: &Row, name: &str) -> Result<T, ObserveError>
where
    T: for<'r> tokio_postgres::types::FromSql<'r>,
{
    row.try_get(name)
        .map_err(|error| ObserveError::Store(format!("cannot read `{name}`: {error}")))
}

fn read_window(row: &Row) -> Result<StoredWindow, ObserveError> {
    let end: Option<String> = column(row, "end_reason")?;
    Ok(StoredWindow {
        id: WindowId(column(row, "id")?),
        start: WindowStart {
            tenant_id: column(row, "tenant_id")?,
            session_id: column(row, "session_id")?,
            provider_session: column(row, "provider_session")?,
            api: column(row, "api")?,
            instance: column(row, "instance")?,
            from_ms: ms(column(row, "from_ms")?),
        },
        to_ms: ms(column(row, "to_ms")?),
        end: end.as_deref().and_then(WindowEnd::parse),
    })
}

fn read_fragment(row: &Row) -> Result<(String, ObservedFragment), ObserveError> {
    let speaker: String = column(row, "speaker")?;
    let speaker = Speaker::parse(&speaker)
        .ok_or_else(|| ObserveError::Store(format!("unknown speaker `{speaker}`")))?;
    Ok((
        column(row, "window_id")?,
        ObservedFragment {
            provider_session: column(row, "provider_session")?,
            speaker,
            text: column(row, "text")?,
            start_ms: ms(column(row, "start_ms")?),
            end_ms: ms(column(row, "end_ms")?),
            item_id: column(row, "item_id")?,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_postgres_cannot_hold_is_kept_word_for_word() {
        assert_eq!(storable_parts(" I did"), vec![" I did".to_owned()]);
        // NUL separates words as U+FFFD does: the words stay the same.
        assert_eq!(storable_parts("a\0b"), vec!["a\u{FFFD}b".to_owned()]);
        let long: String = "é".repeat(MAX_LINE_CHARS * 2 + 3);
        let parts = storable_parts(&long);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [MAX_LINE_CHARS, MAX_LINE_CHARS, 3]
        );
        assert_eq!(parts.concat(), long);
    }

    #[test]
    fn ids_that_are_not_uuids_never_reach_sql() {
        assert!(uuid_text("t1").is_err());
        assert_eq!(
            window_uuid(&WindowId("w1".into())),
            Err(ObserveError::NoSuchWindow)
        );
        assert!(uuid_text("5a150000-0000-4000-8000-000000000001").is_ok());
    }
}
