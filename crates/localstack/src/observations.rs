//! The transcript of record in the local stack's database (`observed_windows`,
//! `observed_fragments`; migrations 6 and 7): what the SDP proxy observed on each call,
//! written by the proxy in-process (the stack's service side). The REST API serves them read-only
//! to the tenant's interviewers, as the hosted schema does; a candidate's client can neither
//! write nor read them. Read back here as the comparison takes it
//! (`viva_contract::observed::compare`).

use rusqlite::{OptionalExtension, params};
use viva_contract::observed::{ObservedFragment, ObservedWindow, Speaker, without_repeats};
use viva_proxy::auth::BoxFuture;
use viva_proxy::observe::{
    Observations, ObserveError, StoredWindow, WindowEnd, WindowId, WindowStart,
};

use crate::db::{Db, DbError};
use crate::rest::query::format_timestamp;

/// The proxy's observations in the stack's SQLite database.
#[derive(Debug, Clone)]
pub struct LocalObservations {
    pub db: Db,
}

fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn store_failed(error: DbError) -> ObserveError {
    ObserveError::Store(error.to_string())
}

fn speaker_name(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Candidate => "candidate",
        Speaker::Interviewer => "interviewer",
    }
}

impl Observations for LocalObservations {
    fn open_window<'a>(
        &'a self,
        start: &'a WindowStart,
    ) -> BoxFuture<'a, Result<WindowId, ObserveError>> {
        Box::pin(async move {
            let id = uuid::Uuid::new_v4().to_string();
            let (row, start) = (id.clone(), start.clone());
            self.db
                .call(move |conn| {
                    conn.execute(
                        "INSERT INTO observed_windows (id, tenant_id, session_id, provider_session, api, instance, from_ms, to_ms, started_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                        params![
                            row,
                            start.tenant_id,
                            start.session_id,
                            start.provider_session,
                            start.api,
                            start.instance,
                            sql_ms(start.from_ms),
                            format_timestamp(chrono::Utc::now()),
                        ],
                    )
                    .map_err(DbError::from)
                })
                .await
                .map_err(store_failed)?;
            Ok(WindowId(id))
        })
    }

    fn record<'a>(
        &'a self,
        window: &'a WindowId,
        fragments: &'a [ObservedFragment],
        to_ms: u64,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(async move {
            let (window, fragments) = (window.0.clone(), fragments.to_vec());
            let found = self
                .db
                .call(move |conn| {
                    let tx = conn.transaction()?;
                    let owner: Option<(String, String)> = tx
                        .query_row(
                            "SELECT tenant_id, session_id FROM observed_windows WHERE id = ?1",
                            [&window],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    let Some((tenant_id, session_id)) = owner else {
                        return Ok(false);
                    };
                    {
                        let mut insert = tx.prepare_cached(
                            "INSERT INTO observed_fragments (window_id, tenant_id, session_id, provider_session, speaker, text, start_ms, end_ms, item_id)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )?;
                        for fragment in &fragments {
                            insert.execute(params![
                                window,
                                tenant_id,
                                session_id,
                                fragment.provider_session,
                                speaker_name(fragment.speaker),
                                fragment.text,
                                sql_ms(fragment.start_ms),
                                sql_ms(fragment.end_ms),
                                fragment.item_id,
                            ])?;
                        }
                    }
                    tx.execute(
                        "UPDATE observed_windows SET to_ms = MAX(to_ms, ?2) WHERE id = ?1",
                        params![window, sql_ms(to_ms)],
                    )?;
                    tx.commit()?;
                    Ok::<_, DbError>(true)
                })
                .await
                .map_err(store_failed)?;
            if found {
                Ok(())
            } else {
                Err(ObserveError::NoSuchWindow)
            }
        })
    }

    fn close<'a>(
        &'a self,
        window: &'a WindowId,
        to_ms: u64,
        reason: WindowEnd,
    ) -> BoxFuture<'a, Result<(), ObserveError>> {
        Box::pin(async move {
            let window = window.0.clone();
            let changed = self
                .db
                .call(move |conn| {
                    conn.execute(
                        "UPDATE observed_windows SET to_ms = MAX(to_ms, ?2), ended_at = ?3, end_reason = ?4
                         WHERE id = ?1",
                        params![
                            window,
                            sql_ms(to_ms),
                            format_timestamp(chrono::Utc::now()),
                            reason.as_str(),
                        ],
                    )
                    .map_err(DbError::from)
                })
                .await
                .map_err(store_failed)?;
            if changed == 0 {
                return Err(ObserveError::NoSuchWindow);
            }
            Ok(())
        })
    }
}

/// An interview session's observation windows, in the order opened.
pub async fn observed_windows(db: &Db, session_id: &str) -> Result<Vec<StoredWindow>, DbError> {
    let session_id = session_id.to_owned();
    db.call(move |conn| {
        let mut select = conn.prepare(
            "SELECT id, tenant_id, session_id, provider_session, api, instance, from_ms, to_ms, end_reason
             FROM observed_windows WHERE session_id = ?1 ORDER BY started_at, rowid",
        )?;
        let rows = select.query_map([&session_id], |r| {
            Ok(StoredWindow {
                id: WindowId(r.get(0)?),
                start: WindowStart {
                    tenant_id: r.get(1)?,
                    session_id: r.get(2)?,
                    provider_session: r.get(3)?,
                    api: r.get(4)?,
                    instance: r.get(5)?,
                    from_ms: ms(r.get(6)?),
                },
                to_ms: ms(r.get(7)?),
                end: r
                    .get::<_, Option<String>>(8)?
                    .as_deref()
                    .and_then(WindowEnd::parse),
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
    .await
}

/// An interview session's transcript of record as the comparison takes it: the fragments in
/// the order the proxy received them (each once, however many windows stored it), and the
/// windows it listened in.
pub async fn observed_record(
    db: &Db,
    session_id: &str,
) -> Result<(Vec<ObservedFragment>, Vec<ObservedWindow>), DbError> {
    let windows = observed_windows(db, session_id).await?;
    let session = session_id.to_owned();
    let rows = db
        .call(move |conn| {
            let mut select = conn.prepare(
                "SELECT window_id, provider_session, speaker, text, start_ms, end_ms, item_id
                 FROM observed_fragments WHERE session_id = ?1 ORDER BY id",
            )?;
            let rows = select.query_map([&session], |r| {
                let speaker: String = r.get(2)?;
                Ok((
                    r.get::<_, String>(0)?,
                    ObservedFragment {
                        provider_session: r.get(1)?,
                        speaker: Speaker::parse(&speaker).unwrap_or(Speaker::Candidate),
                        text: r.get(3)?,
                        start_ms: ms(r.get(4)?),
                        end_ms: ms(r.get(5)?),
                        item_id: r.get(6)?,
                    },
                ))
            })?;
            rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
        })
        .await?;
    let fragments = without_repeats(rows);
    Ok((
        fragments,
        windows.iter().map(StoredWindow::observed).collect(),
    ))
}
