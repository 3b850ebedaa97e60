//! PostgREST tables: interview sessions (filtered, paged, with a total), their transcript
//! entries, the SDP proxy's record of them, and closing a session.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use viva_contract::observed::{
    ObservedFragment, ObservedWindow, Speaker as ObservedSpeaker, without_repeats,
};

use crate::client::Backend;
use crate::error::BackendError;

/// One row of `interview_sessions`, as far as the app needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub id: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub candidate_id: Option<String>,
    #[serde(default)]
    pub candidate_email: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub question_set: Option<String>,
    pub mode: String,
    pub status: String,
    #[serde(default)]
    pub scheduled_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub realtime_cost_usd: Option<f64>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// One row of `transcript_entries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRow {
    pub item_id: String,
    pub seq: i64,
    pub speaker: String,
    pub text: String,
    #[serde(default)]
    pub started_ms: Option<i64>,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    /// The server received it well after it recorded the session's close (an offline copy
    /// synced later); `false` from servers that do not say.
    #[serde(default)]
    pub late: bool,
}

/// One row of `observed_windows`: a stretch of a provider session's timeline the SDP proxy
/// listened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedWindowRow {
    pub id: String,
    pub provider_session: String,
    /// `live` or `realtime`.
    pub api: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// `closed`, `drain` or `lost`; none while open or left open by a crash.
    #[serde(default)]
    pub end_reason: Option<String>,
}

/// One row of `observed_fragments`: words the provider sent on a session's sideband.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedFragmentRow {
    /// Arrival order.
    pub id: i64,
    pub window_id: String,
    pub provider_session: String,
    /// `candidate` or `interviewer`.
    pub speaker: String,
    pub text: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The provider's item the words belong to (a Realtime call's); none on GPT-Live, and from
    /// a database older than 20261210000000_observed_item_ids.sql.
    #[serde(default)]
    pub item_id: Option<String>,
}

/// A session's record as the comparison takes it (`viva_contract::observed::compare`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedRecord {
    pub fragments: Vec<ObservedFragment>,
    pub windows: Vec<ObservedWindow>,
}

impl ObservedRecord {
    /// The record from its rows; a row that breaks the contract (an unknown speaker, a
    /// negative time) makes the whole record unreadable, since a record with holes would
    /// flag honest lines.
    pub fn from_rows(
        windows: Vec<ObservedWindowRow>,
        fragments: Vec<ObservedFragmentRow>,
    ) -> Result<Self, BackendError> {
        let ms = |value: i64, what: &str| {
            u64::try_from(value).map_err(|_| {
                BackendError::BadResponse(format!("the observed record: {what} {value}"))
            })
        };
        let windows = windows
            .into_iter()
            .map(|w| {
                Ok(ObservedWindow {
                    provider_session: w.provider_session,
                    from_ms: ms(w.from_ms, "a window from")?,
                    to_ms: ms(w.to_ms, "a window to")?,
                })
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        let rows = fragments
            .into_iter()
            .map(|f| {
                let speaker = ObservedSpeaker::parse(&f.speaker).ok_or_else(|| {
                    BackendError::BadResponse(format!(
                        "the observed record: speaker {:?}",
                        f.speaker
                    ))
                })?;
                Ok((
                    f.window_id,
                    ObservedFragment {
                        provider_session: f.provider_session,
                        speaker,
                        text: f.text,
                        start_ms: ms(f.start_ms, "a fragment start")?,
                        end_ms: ms(f.end_ms, "a fragment end")?,
                        item_id: f.item_id,
                    },
                ))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        Ok(Self {
            fragments: without_repeats(rows),
            windows,
        })
    }
}

/// Which sessions to list; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only this session.
    pub id: Option<String>,
    /// Any of these statuses.
    pub statuses: Vec<String>,
    /// `practice` or `interview`.
    pub mode: Option<String>,
    /// Part of the candidate's email (case-insensitive).
    pub candidate_email_contains: Option<String>,
    /// Part of the title (the role), case-insensitive.
    pub title_contains: Option<String>,
    /// Created at or after this moment (RFC 3339).
    pub created_from: Option<String>,
    /// Created before this moment (RFC 3339).
    pub created_before: Option<String>,
    /// Newest first unless set.
    pub oldest_first: bool,
    /// Ordered by when they are scheduled, not when they were created.
    pub by_schedule: bool,
    pub limit: u32,
    pub offset: u32,
}

/// A page of rows and how many there are in all.
/// An interview an interviewer schedules for a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInterview {
    pub title: String,
    pub question_set: String,
    /// RFC 3339.
    pub scheduled_at: String,
    pub candidate_email: String,
}

/// An organisation, as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    /// From `Content-Range`; `None` when the server did not say.
    pub total: Option<u64>,
}

/// How a session ended, for closing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Closing {
    /// `completed`, `interrupted` or `failed`.
    pub status: String,
    /// RFC 3339.
    pub ended_at: String,
    pub duration_ms: i64,
    pub realtime_cost_usd: Option<f64>,
}

/// Quotes a value for a PostgREST filter so commas, dots and parentheses stay literal.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl SessionQuery {
    fn to_query_string(&self) -> String {
        let mut parts = vec![format!(
            "order={}.{}",
            if self.by_schedule {
                "scheduled_at"
            } else {
                "created_at"
            },
            if self.oldest_first { "asc" } else { "desc" }
        )];
        if let Some(id) = &self.id {
            parts.push(format!("id=eq.{}", encode(id)));
        }
        if !self.statuses.is_empty() {
            let list: Vec<String> = self.statuses.iter().map(|s| quoted(s)).collect();
            parts.push(format!("status=in.({})", encode(&list.join(","))));
        }
        if let Some(mode) = &self.mode {
            parts.push(format!("mode=eq.{}", encode(mode)));
        }
        let contains = |column: &str, part: &str| {
            // `*` is PostgREST's wildcard in like/ilike; the user's own `*` and `%` are dropped.
            let escaped = part.replace('\\', "\\\\").replace(['*', '%'], "");
            format!("{column}=ilike.{}", encode(&format!("*{escaped}*")))
        };
        if let Some(part) = &self.candidate_email_contains {
            parts.push(contains("candidate_email", part));
        }
        if let Some(part) = &self.title_contains {
            parts.push(contains("title", part));
        }
        if let Some(from) = &self.created_from {
            parts.push(format!("created_at=gte.{}", encode(from)));
        }
        if let Some(before) = &self.created_before {
            // A second filter on the same column: PostgREST ANDs them.
            parts.push(format!("created_at=lt.{}", encode(before)));
        }
        parts.push(format!("limit={}", self.limit.clamp(1, 1000)));
        parts.push(format!("offset={}", self.offset));
        parts.join("&")
    }
}

/// Reads the total from `Content-Range: 0-24/317` (or `*/0`).
fn total_of(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("content-range")?
        .to_str()
        .ok()?
        .rsplit_once('/')?
        .1
        .parse()
        .ok()
}

fn rows<T: for<'de> Deserialize<'de>>(value: Value, what: &str) -> Result<Vec<T>, BackendError> {
    serde_json::from_value(value)
        .map_err(|e| BackendError::BadResponse(format!("the {what} rows: {e}")))
}

impl Backend {
    /// The sessions the signed-in user may see (their own as a candidate, the tenant's as an
    /// interviewer), newest first, one page at a time.
    pub async fn sessions(
        &self,
        access_token: &str,
        query: &SessionQuery,
    ) -> Result<Page<SessionRow>, BackendError> {
        let reply = self
            .send(
                Method::GET,
                &format!("/rest/v1/interview_sessions?{}", query.to_query_string()),
                Some(access_token),
                None,
                &[("Prefer", "count=exact")],
            )
            .await?;
        let total = total_of(&reply.headers);
        Ok(Page {
            rows: rows(reply.json()?, "session")?,
            total,
        })
    }

    /// Every transcript entry of one session, in conversation order. Pages are ordered by
    /// `seq` and then `item_id` (seq values can tie), so no line is skipped or repeated between
    /// pages.
    pub async fn transcript(
        &self,
        access_token: &str,
        session_id: &str,
    ) -> Result<Vec<EntryRow>, BackendError> {
        self.every_row(
            access_token,
            &format!(
                "/rest/v1/transcript_entries?session_id=eq.{}&order=seq.asc,item_id.asc&select=item_id,seq,speaker,text,started_ms,ended_ms,late",
                encode(session_id)
            ),
            "transcript",
        )
        .await
    }

    /// The SDP proxy's record of one session (what it heard on the provider's side of each
    /// GPT-Live call, and when it was listening), as far as the signed-in user may read it: a
    /// tenant's interviewers read it, candidates see none of it. Fragments come in the order
    /// the proxy received them, each once however many windows stored it.
    pub async fn observed_record(
        &self,
        access_token: &str,
        session_id: &str,
    ) -> Result<ObservedRecord, BackendError> {
        let session = encode(session_id);
        let windows: Vec<ObservedWindowRow> = self
            .every_row(
                access_token,
                &format!(
                    "/rest/v1/observed_windows?session_id=eq.{session}&order=started_at.asc,id.asc&select=id,provider_session,api,from_ms,to_ms,end_reason"
                ),
                "observed window",
            )
            .await?;
        let fragments: Vec<ObservedFragmentRow> = self
            .every_row(
                access_token,
                &format!(
                    "/rest/v1/observed_fragments?session_id=eq.{session}&order=id.asc&select=id,window_id,provider_session,speaker,text,start_ms,end_ms,item_id"
                ),
                "observed fragment",
            )
            .await?;
        ObservedRecord::from_rows(windows, fragments)
    }

    /// Every row `path` (a select without paging) names. Read in pages: a hosted project
    /// returns at most `max_rows` rows per request without saying it cut the rest, so one
    /// request would silently truncate a long interview; `path` must order the rows totally.
    async fn every_row<T: for<'de> Deserialize<'de>>(
        &self,
        access_token: &str,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, BackendError> {
        let mut all: Vec<T> = Vec::new();
        loop {
            let reply = self
                .send(
                    Method::GET,
                    &format!(
                        "{path}&limit={}&offset={}",
                        crate::client::TRANSCRIPT_PAGE_ROWS,
                        all.len()
                    ),
                    Some(access_token),
                    None,
                    // The total tells when the last page is in, whatever page size the server
                    // actually allows.
                    &[("Prefer", "count=exact")],
                )
                .await?;
            let total = total_of(&reply.headers);
            let page: Vec<T> = rows(reply.json()?, what)?;
            let empty = page.is_empty();
            all.extend(page);
            let done = match total {
                Some(total) => all.len() as u64 >= total,
                None => !all
                    .len()
                    .is_multiple_of(crate::client::TRANSCRIPT_PAGE_ROWS),
            };
            if empty || done {
                return Ok(all);
            }
        }
    }

    /// The organisations the signed-in user may see (their own).
    pub async fn tenants(&self, access_token: &str) -> Result<Vec<TenantRow>, BackendError> {
        let reply = self
            .send(
                Method::GET,
                "/rest/v1/tenants?select=id,name",
                Some(access_token),
                None,
                &[],
            )
            .await?;
        rows(reply.json()?, "organisation")
    }

    /// Schedules an interview (interviewers only); the row as stored.
    pub async fn schedule(
        &self,
        access_token: &str,
        interview: &NewInterview,
    ) -> Result<SessionRow, BackendError> {
        let reply = self
            .send(
                Method::POST,
                "/rest/v1/interview_sessions",
                Some(access_token),
                Some(&json!({
                    "title": interview.title,
                    "question_set": interview.question_set,
                    "scheduled_at": interview.scheduled_at,
                    "candidate_email": interview.candidate_email,
                })),
                &[("Prefer", "return=representation")],
            )
            .await?;
        rows::<SessionRow>(reply.json()?, "scheduled session")?
            .into_iter()
            .next()
            .ok_or_else(|| {
                BackendError::BadResponse("the scheduled session was not returned".into())
            })
    }

    /// Cancels an interview that has not started (an interviewer of its organisation). `false`
    /// when there was none such to cancel: it started meanwhile, or was never visible.
    pub async fn cancel_interview(
        &self,
        access_token: &str,
        session_id: &str,
    ) -> Result<bool, BackendError> {
        let reply = self
            .send(
                Method::PATCH,
                &format!(
                    "/rest/v1/interview_sessions?id=eq.{}&status=eq.scheduled",
                    encode(session_id)
                ),
                Some(access_token),
                Some(&json!({"status": "cancelled"})),
                &[("Prefer", "return=representation")],
            )
            .await?;
        let changed: Vec<Value> = rows(reply.json()?, "cancelled interview")?;
        Ok(!changed.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_becomes_postgrest_filters_with_user_text_kept_literal() {
        let query = SessionQuery {
            statuses: vec!["completed".into(), "interrupted".into()],
            mode: Some("interview".into()),
            candidate_email_contains: Some("a*b%c@x".into()),
            limit: 25,
            offset: 50,
            ..SessionQuery::default()
        };
        assert_eq!(
            query.to_query_string(),
            "order=created_at.desc&status=in.(%22completed%22%2C%22interrupted%22)&mode=eq.interview&candidate_email=ilike.*abc%40x*&limit=25&offset=50"
        );
        let upcoming = SessionQuery {
            statuses: vec!["scheduled".into()],
            by_schedule: true,
            oldest_first: true,
            limit: 20,
            ..SessionQuery::default()
        };
        assert_eq!(
            upcoming.to_query_string(),
            "order=scheduled_at.asc&status=in.(%22scheduled%22)&limit=20&offset=0"
        );
        let a_week_of_engineers = SessionQuery {
            title_contains: Some("Engineer".into()),
            created_from: Some("2026-11-16T00:00:00+00:00".into()),
            created_before: Some("2026-11-23T00:00:00+00:00".into()),
            limit: 50,
            ..SessionQuery::default()
        };
        assert_eq!(
            a_week_of_engineers.to_query_string(),
            "order=created_at.desc&title=ilike.*Engineer*&created_at=gte.2026-11-16T00%3A00%3A00%2B00%3A00&created_at=lt.2026-11-23T00%3A00%3A00%2B00%3A00&limit=50&offset=0"
        );
    }

    #[test]
    fn the_total_comes_from_content_range() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("content-range", "0-24/317".parse().unwrap());
        assert_eq!(total_of(&headers), Some(317));
        headers.insert("content-range", "*/0".parse().unwrap());
        assert_eq!(total_of(&headers), Some(0));
    }
}
