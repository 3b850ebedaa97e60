//! `GET/POST/PATCH/DELETE /rest/v1/<table>`: reads with PostgREST filters, and the narrow writes
//! Viva allows, with tenant and role isolation taken from the caller's JWT on every statement
//! (the local stand-in for the hosted row-level-security policies in `supabase/migrations`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::types::Value as Sql;
use serde_json::{Map, Value, json};

use super::lifecycle;
use super::query::{self, Query, QueryError, SqlValue};
use super::schema::{self, Column, ColumnType, Table};
use crate::caller::{Caller, CallerError, Role};
use crate::error::RestError;
use crate::server::AppState;

type RestResult<T> = Result<T, RestError>;

impl From<QueryError> for RestError {
    fn from(error: QueryError) -> Self {
        RestError {
            status: StatusCode::BAD_REQUEST,
            code: error.code.into(),
            message: error.message,
            details: error.details,
            hint: error.hint,
        }
    }
}

impl From<crate::db::DbError> for RestError {
    fn from(error: crate::db::DbError) -> Self {
        let (status, message) = crate::error::internal(error);
        RestError::new(status, "XX000", message)
    }
}

fn db(error: rusqlite::Error) -> RestError {
    if let rusqlite::Error::SqliteFailure(e, _) = &error
        && e.code == rusqlite::ErrorCode::ConstraintViolation
    {
        return RestError::new(
            StatusCode::CONFLICT,
            "23505",
            "duplicate key value violates unique constraint",
        );
    }
    RestError::from(crate::db::DbError::from(error))
}

fn denied(table: &Table) -> RestError {
    RestError::new(
        StatusCode::FORBIDDEN,
        "42501",
        format!(
            "new row violates row-level security policy for table \"{}\"",
            table.name
        ),
    )
}

fn find_table(name: &str) -> RestResult<&'static Table> {
    schema::table(name).ok_or_else(|| {
        RestError::new(
            StatusCode::NOT_FOUND,
            "PGRST205",
            format!("Could not find the table 'public.{name}' in the schema cache"),
        )
    })
}

/// The caller, or `None` for an anonymous request (which sees no rows, as under RLS).
async fn caller(state: &AppState, headers: &HeaderMap) -> RestResult<Option<Caller>> {
    match crate::caller::from_headers(state, headers).await {
        Ok((caller, _)) => Ok(Some(caller)),
        Err(CallerError::Missing) => Ok(None),
        Err(CallerError::Expired) => Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "PGRST303",
            "JWT expired",
        )),
        Err(CallerError::Invalid | CallerError::Revoked) => Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "PGRST301",
            "JWT could not be decoded or its session has ended",
        )),
    }
}

fn pairs(raw: Option<&str>) -> RestResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|_| {
        RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            "\"failed to parse query string\"",
        )
    })
}

fn bind(value: &SqlValue) -> Sql {
    match value {
        SqlValue::Null => Sql::Null,
        SqlValue::Integer(n) => Sql::Integer(*n),
        SqlValue::Real(x) => Sql::Real(*x),
        SqlValue::Text(t) => Sql::Text(t.clone()),
    }
}

/// Rows the caller may see, as SQL with its parameters appended.
fn visible(table: &Table, caller: &Caller, params: &mut Vec<SqlValue>) -> String {
    params.push(SqlValue::Text(caller.tenant_id.clone()));
    if table.name == "tenants" {
        return format!("\"id\" = ?{}", params.len());
    }
    let tenant = format!("\"tenant_id\" = ?{}", params.len());
    if caller.role == Role::Interviewer {
        return tenant;
    }
    // The proxy's record is the check on the candidate's own upload: they never read it.
    if matches!(table.name, "observed_windows" | "observed_fragments") {
        return "0".to_owned();
    }
    params.push(SqlValue::Text(caller.user_id.clone()));
    let me = params.len();
    match table.name {
        "interview_sessions" => {
            params.push(SqlValue::Text(caller.email.clone()));
            format!(
                "{tenant} AND (\"candidate_id\" = ?{me} OR (\"candidate_id\" IS NULL AND lower(\"candidate_email\") = lower(?{})))",
                params.len()
            )
        }
        _ => format!(
            "{tenant} AND \"session_id\" IN (SELECT id FROM interview_sessions WHERE candidate_id = ?{me})"
        ),
    }
}

fn row_json(columns: &[&'static Column], row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let mut object = Map::new();
    for (index, column) in columns.iter().enumerate() {
        let value = match (column.kind, row.get::<_, Sql>(index)?) {
            (_, Sql::Null) => Value::Null,
            (ColumnType::Integer, Sql::Integer(n)) => json!(n),
            (ColumnType::Numeric, Sql::Real(x)) => json!(x),
            (ColumnType::Numeric, Sql::Integer(n)) => json!(n as f64),
            (ColumnType::Boolean, Sql::Integer(n)) => json!(n != 0),
            (_, Sql::Text(text)) => Value::String(text),
            (_, Sql::Integer(n)) => json!(n),
            (_, Sql::Real(x)) => json!(x),
            (_, Sql::Blob(_)) => Value::Null,
        };
        object.insert(column.name.to_owned(), value);
    }
    Ok(Value::Object(object))
}

/// Runs a checked select for the caller: the rows, and the total when asked for.
fn run_select(
    conn: &rusqlite::Connection,
    query: &Query,
    caller: &Caller,
    want_total: bool,
) -> RestResult<(Vec<Value>, Option<u64>)> {
    let mut params = Vec::new();
    let mut conditions = vec![visible(query.table, caller, &mut params)];
    conditions.extend(query.conditions(&mut params));
    let filter = conditions.join(" AND ");
    let bound: Vec<Sql> = params.iter().map(bind).collect();
    let total = if want_total {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {filter}", query.table.name);
        Some(
            conn.query_row(&sql, rusqlite::params_from_iter(bound.iter()), |r| {
                r.get::<_, i64>(0)
            })
            .map_err(db)?
            .max(0) as u64,
        )
    } else {
        None
    };
    // Like a hosted project's `max_rows`: a read without a limit still stops at the cap, and
    // says so only through Content-Range. Clients page.
    let limit = query
        .limit
        .unwrap_or(query::MAX_LIMIT)
        .min(query::MAX_LIMIT) as i64;
    let sql = format!(
        "SELECT {} FROM {} WHERE {filter}{} LIMIT {limit} OFFSET {}",
        query.select_sql(),
        query.table.name,
        query.order_sql(),
        query.offset
    );
    let mut statement = conn.prepare(&sql).map_err(db)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(bound.iter()), |row| {
            row_json(&query.select, row)
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    Ok((rows, total))
}

fn prefers(headers: &HeaderMap, what: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == what)
}

fn content_range(offset: u64, shown: usize, total: Option<u64>) -> HeaderValue {
    let total = total.map_or("*".to_owned(), |t| t.to_string());
    let range = if shown == 0 {
        format!("*/{total}")
    } else {
        format!("{offset}-{}/{total}", offset + shown as u64 - 1)
    };
    HeaderValue::from_str(&range).unwrap_or(HeaderValue::from_static("*/*"))
}

/// `GET /rest/v1/<table>`
pub async fn select(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let table = find_table(&name)?;
        let query = query::parse(table, &pairs(raw.as_deref())?)?;
        let Some(caller) = caller(&state, &headers).await? else {
            return Ok((Vec::new(), Some(0), 0));
        };
        let want_total = prefers(&headers, "count=exact");
        let offset = query.offset;
        let (rows, total) = state
            .db
            .call(move |conn| run_select(conn, &query, &caller, want_total))
            .await?;
        Ok::<_, RestError>((rows, total, offset))
    }
    .await;
    match result {
        Ok((rows, total, offset)) => {
            let mut response = Json(Value::Array(rows.clone())).into_response();
            response
                .headers_mut()
                .insert("content-range", content_range(offset, rows.len(), total));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Columns a client may set on insert, per table and role; the server fills in the rest.
/// Interviewers schedule (nothing that only happens once an interview has started, and no
/// candidate: one is bound when they start it). Transcript lines are written only by
/// `transcript-processor`, never through the table.
fn writable_on_insert(table: &Table, role: Role) -> Option<&'static [&'static str]> {
    match (table.name, role) {
        ("interview_sessions", Role::Interviewer) => Some(&[
            "title",
            "question_set",
            "scheduled_at",
            "candidate_email",
            "voice_api",
        ]),
        _ => None,
    }
}

/// A JSON body value checked against its column.
fn json_value(column: &Column, value: &Value) -> RestResult<SqlValue> {
    match value {
        Value::Null if column.nullable => Ok(SqlValue::Null),
        Value::Null => Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "23502",
            format!(
                "null value in column \"{}\" violates not-null constraint",
                column.name
            ),
        )),
        Value::String(text) => Ok(query::typed_value(column, text)?),
        Value::Number(n) => Ok(query::typed_value(column, &n.to_string())?),
        Value::Bool(b) => Ok(query::typed_value(
            column,
            if *b { "true" } else { "false" },
        )?),
        _ => Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "22P02",
            format!("invalid input for column \"{}\"", column.name),
        )),
    }
}

fn checked_fields(
    table: &'static Table,
    object: &Map<String, Value>,
    allowed: &[&str],
) -> RestResult<Vec<(&'static Column, SqlValue)>> {
    object
        .iter()
        .map(|(key, value)| {
            let column = table.column(key).ok_or_else(|| {
                RestError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST204",
                    format!(
                        "Could not find the '{key}' column of '{}' in the schema cache",
                        table.name
                    ),
                )
            })?;
            if !allowed.contains(&column.name) {
                return Err(denied(table));
            }
            Ok((column, json_value(column, value)?))
        })
        .collect()
}

fn body_objects(body: &Bytes) -> RestResult<Vec<Map<String, Value>>> {
    let bad = || RestError::new(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json");
    match serde_json::from_slice::<Value>(body).map_err(|_| bad())? {
        Value::Object(object) => Ok(vec![object]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(object) => Ok(object),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// `POST /rest/v1/<table>` — insert, or upsert with `on_conflict` and `Prefer: resolution=`.
pub async fn insert(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let table = find_table(&name)?;
        let query = query::parse(table, &pairs(raw.as_deref())?)?;
        let caller = caller(&state, &headers).await?.ok_or_else(|| {
            RestError::new(
                StatusCode::UNAUTHORIZED,
                "42501",
                format!("permission denied for table {}", table.name),
            )
        })?;
        let allowed = writable_on_insert(table, caller.role).ok_or_else(|| denied(table))?;
        let objects = body_objects(&body)?;
        let rows = objects
            .iter()
            .map(|o| checked_fields(table, o, allowed))
            .collect::<RestResult<Vec<_>>>()?;
        let merge = prefers(&headers, "resolution=merge-duplicates");
        let ignore = prefers(&headers, "resolution=ignore-duplicates");
        let on_conflict: Vec<&'static str> = query.on_conflict.iter().map(|c| c.name).collect();
        if !on_conflict.is_empty() && !table.unique_keys.contains(&on_conflict.as_slice()) {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "42P10",
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            ));
        }
        let representation = prefers(&headers, "return=representation");
        let inserted = state
            .db
            .call(move |conn| {
                let tx = conn.transaction().map_err(db)?;
                let mut ids = Vec::new();
                for fields in rows {
                    ids.push(insert_row(
                        &tx,
                        table,
                        &caller,
                        fields,
                        &on_conflict,
                        merge,
                        ignore,
                    )?);
                }
                let mut out = Vec::new();
                if representation {
                    for id in ids.into_iter().flatten() {
                        let select = table
                            .columns
                            .iter()
                            .map(|c| format!("\"{}\"", c.name))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let columns: Vec<&'static Column> = table.columns.iter().collect();
                        out.push(
                            tx.query_row(
                                &format!("SELECT {select} FROM {} WHERE id = ?1", table.name),
                                [id],
                                |r| row_json(&columns, r),
                            )
                            .map_err(db)?,
                        );
                    }
                }
                tx.commit().map_err(db)?;
                Ok::<_, RestError>(out)
            })
            .await?;
        Ok((representation, inserted))
    }
    .await;
    match result {
        Ok((true, rows)) => (StatusCode::CREATED, Json(Value::Array(rows))).into_response(),
        Ok((false, _)) => StatusCode::CREATED.into_response(),
        Err(error) => error.into_response(),
    }
}

/// Inserts one checked row with the server-owned columns; returns its id (None if ignored).
fn insert_row(
    tx: &rusqlite::Transaction<'_>,
    table: &'static Table,
    caller: &Caller,
    fields: Vec<(&'static Column, SqlValue)>,
    on_conflict: &[&str],
    merge: bool,
    ignore: bool,
) -> RestResult<Option<String>> {
    let now = query::format_timestamp(chrono::Utc::now());
    let id = uuid::Uuid::new_v4().to_string();
    let mut columns: Vec<&str> = vec!["id", "tenant_id", "created_at"];
    let mut values = vec![
        SqlValue::Text(id.clone()),
        SqlValue::Text(caller.tenant_id.clone()),
        SqlValue::Text(now),
    ];
    match table.name {
        "interview_sessions" => {
            columns.extend(["interviewer_id", "mode", "status"]);
            values.extend([
                SqlValue::Text(caller.user_id.clone()),
                SqlValue::Text("interview".into()),
                SqlValue::Text("scheduled".into()),
            ]);
        }
        _ => return Err(denied(table)),
    }
    for (column, value) in &fields {
        columns.push(column.name);
        values.push(value.clone());
    }
    let slots: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        quoted.join(", "),
        slots.join(", ")
    );
    if !on_conflict.is_empty() && (merge || ignore) {
        let target: Vec<String> = on_conflict.iter().map(|c| format!("\"{c}\"")).collect();
        if merge {
            let updates: Vec<String> = fields
                .iter()
                .filter(|(c, _)| !on_conflict.contains(&c.name))
                .map(|(c, _)| format!("\"{0}\" = excluded.\"{0}\"", c.name))
                .collect();
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                target.join(", "),
                if updates.is_empty() {
                    "\"id\" = \"id\"".to_owned()
                } else {
                    updates.join(", ")
                }
            ));
        } else {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", target.join(", ")));
        }
    }
    sql.push_str(" RETURNING id");
    let bound: Vec<Sql> = values.iter().map(bind).collect();
    rusqlite::OptionalExtension::optional(tx.query_row(
        &sql,
        rusqlite::params_from_iter(bound.iter()),
        |r| r.get::<_, String>(0),
    ))
    .map_err(db)
}

/// `PATCH /rest/v1/<table>?filters` — session changes as [`lifecycle::check`] allows them,
/// judged row by row from each row's current state; one refused row refuses the whole update,
/// as the hosted trigger does.
pub async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let table = find_table(&name)?;
        let query = query::parse(table, &pairs(raw.as_deref())?)?;
        let caller = caller(&state, &headers)
            .await?
            .ok_or_else(|| denied(table))?;
        if table.name != "interview_sessions" {
            return Err(denied(table));
        }
        let objects = body_objects(&body)?;
        let [object] = objects.as_slice() else {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                "PGRST102",
                "An update takes one JSON object",
            ));
        };
        let fields = checked_fields(table, object, lifecycle::UPDATABLE)?;
        if fields.is_empty() {
            return Err(denied(table));
        }
        let representation = prefers(&headers, "return=representation");
        let rows = state
            .db
            .call(move |conn| update_sessions(conn, table, &caller, &query, &fields))
            .await?;
        Ok((representation, rows))
    }
    .await;
    match result {
        Ok((true, rows)) => Json(Value::Array(rows)).into_response(),
        Ok((false, _)) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

/// The rows the caller may update (those the hosted policies' USING clauses let through),
/// each checked and changed in one transaction.
fn update_sessions(
    conn: &mut rusqlite::Connection,
    table: &'static Table,
    caller: &Caller,
    query: &Query,
    fields: &[(&'static Column, SqlValue)],
) -> RestResult<Vec<Value>> {
    let tx = conn.transaction().map_err(db)?;
    let mut params = Vec::new();
    let mut conditions = vec![visible(table, caller, &mut params)];
    params.push(SqlValue::Text(caller.user_id.clone()));
    let me = params.len();
    conditions.push(format!(
        "((\"status\" = 'active' AND \"candidate_id\" = ?{me}){})",
        if caller.role == Role::Interviewer {
            " OR \"status\" = 'scheduled'"
        } else {
            ""
        }
    ));
    conditions.extend(query.conditions(&mut params));
    let bound: Vec<Sql> = params.iter().map(bind).collect();
    let current: Vec<(String, lifecycle::Current)> = {
        let mut select = tx
            .prepare(&format!(
                "SELECT id, status, candidate_id, candidate_email, ended_at FROM {} WHERE {}",
                table.name,
                conditions.join(" AND ")
            ))
            .map_err(db)?;
        select
            .query_map(rusqlite::params_from_iter(bound.iter()), |r| {
                Ok((
                    r.get(0)?,
                    lifecycle::Current {
                        status: r.get(1)?,
                        candidate_id: r.get(2)?,
                        candidate_email: r.get(3)?,
                        ended_at: r.get(4)?,
                    },
                ))
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?
    };
    let named: Vec<(&str, SqlValue)> = fields.iter().map(|(c, v)| (c.name, v.clone())).collect();
    let now = query::format_timestamp(chrono::Utc::now());
    let mut out = Vec::new();
    for (id, row) in current {
        let derived = lifecycle::check(caller, &row, &named)
            .map_err(|reason| RestError::new(StatusCode::FORBIDDEN, "42501", reason))?;
        let mut sets: Vec<String> = Vec::new();
        let mut values: Vec<Sql> = Vec::new();
        for (column, value) in fields {
            values.push(bind(value));
            sets.push(format!("\"{}\" = ?{}", column.name, values.len()));
        }
        if derived.closes {
            values.push(Sql::Text(now.clone()));
            sets.push(format!("\"closed_at\" = ?{}", values.len()));
        }
        if derived.unbinds_candidate {
            sets.push("\"candidate_id\" = NULL".to_owned());
        }
        values.push(Sql::Text(id));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ?{} RETURNING {}",
            table.name,
            sets.join(", "),
            values.len(),
            query.select_sql()
        );
        out.push(
            tx.query_row(&sql, rusqlite::params_from_iter(values.iter()), |r| {
                row_json(&query.select, r)
            })
            .map_err(db)?,
        );
    }
    tx.commit().map_err(db)?;
    Ok(out)
}

/// `DELETE /rest/v1/<table>` — nothing in Viva is deleted through the API.
pub async fn delete(Path(name): Path<String>) -> Response {
    match find_table(&name) {
        Ok(table) => denied(table).into_response(),
        Err(error) => error.into_response(),
    }
}
