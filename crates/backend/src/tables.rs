//! PostgREST tables: interview sessions (filtered, paged, with a total), their transcript
//! entries, and closing a session.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

    /// Every transcript entry of one session, in conversation order. Read in pages: a hosted
    /// project returns at most `max_rows` rows per request without saying it cut the rest, so
    /// one request would silently truncate a long interview. Pages are ordered by `seq` and
    /// then `item_id` (seq values can tie), so no line is skipped or repeated between pages.
    pub async fn transcript(
        &self,
        access_token: &str,
        session_id: &str,
    ) -> Result<Vec<EntryRow>, BackendError> {
        let mut entries: Vec<EntryRow> = Vec::new();
        loop {
            let reply = self
                .send(
                    Method::GET,
                    &format!(
                        "/rest/v1/transcript_entries?session_id=eq.{}&order=seq.asc,item_id.asc&select=item_id,seq,speaker,text,started_ms,ended_ms,late&limit={}&offset={}",
                        encode(session_id),
                        crate::client::TRANSCRIPT_PAGE_ROWS,
                        entries.len()
                    ),
                    Some(access_token),
                    None,
                    // The total tells when the last page is in, whatever page size the server
                    // actually allows.
                    &[("Prefer", "count=exact")],
                )
                .await?;
            let total = total_of(&reply.headers);
            let page: Vec<EntryRow> = rows(reply.json()?, "transcript")?;
            let empty = page.is_empty();
            entries.extend(page);
            let done = match total {
                Some(total) => entries.len() as u64 >= total,
                None => !entries
                    .len()
                    .is_multiple_of(crate::client::TRANSCRIPT_PAGE_ROWS),
            };
            if empty || done {
                return Ok(entries);
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
