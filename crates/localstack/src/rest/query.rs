//! PostgREST's query-string language, the subset Viva uses: `select=`, filters
//! (`col=[not.]op.value` with eq, neq, gt, gte, lt, lte, like, ilike, is, in), `order=`, `limit=`,
//! `offset=` and `on_conflict=`. Pure: it turns a request's pairs into a checked query and SQL
//! with bound parameters, so no value from a request is ever spliced into SQL text.

use super::schema::{Column, ColumnType, Table};

/// A value bound to an SQL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

/// A query-string problem, as PostgREST reports it (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub code: &'static str,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

impl QueryError {
    fn parse(message: impl Into<String>, details: impl Into<String>) -> Self {
        Self {
            code: "PGRST100",
            message: message.into(),
            details: Some(details.into()),
            hint: None,
        }
    }

    fn unknown_column(table: &Table, column: &str) -> Self {
        Self {
            code: "42703",
            message: format!("column {}.{column} does not exist", table.name),
            details: None,
            hint: None,
        }
    }

    fn bad_value(kind: &str, value: &str) -> Self {
        Self {
            code: "22P02",
            message: format!("invalid input syntax for type {kind}: \"{value}\""),
            details: None,
            hint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Is,
    In,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    One(SqlValue),
    Many(Vec<SqlValue>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: &'static Column,
    pub op: Op,
    pub negated: bool,
    pub operand: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub column: &'static Column,
    pub descending: bool,
    /// `Some(true)`: nulls first; `None`: the database default (last for asc, first for desc).
    pub nulls_first: Option<bool>,
}

/// A parsed request against one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub table: &'static Table,
    pub select: Vec<&'static Column>,
    pub filters: Vec<Filter>,
    pub order: Vec<Order>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub on_conflict: Vec<&'static Column>,
}

/// The most rows one read returns, asked for or not: a hosted project's `max_rows`.
pub const MAX_LIMIT: u64 = viva_contract::MAX_ROWS as u64;

/// Parses the decoded query-string pairs of a request on `table`.
pub fn parse(table: &'static Table, pairs: &[(String, String)]) -> Result<Query, QueryError> {
    let mut query = Query {
        table,
        select: table.columns.iter().collect(),
        filters: Vec::new(),
        order: Vec::new(),
        limit: None,
        offset: 0,
        on_conflict: Vec::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "select" => query.select = parse_select(table, value)?,
            "order" => query.order = parse_order(table, value)?,
            "limit" => query.limit = Some(parse_count("limit", value)?.min(MAX_LIMIT)),
            "offset" => query.offset = parse_count("offset", value)?,
            "on_conflict" => query.on_conflict = parse_columns(table, value)?,
            // Accepted and ignored, as PostgREST does for these.
            "columns" => {}
            column => query.filters.push(parse_filter(table, column, value)?),
        }
    }
    Ok(query)
}

fn parse_count(what: &str, value: &str) -> Result<u64, QueryError> {
    value.parse::<u64>().map_err(|_| {
        QueryError::parse(
            format!("\"failed to parse {what} parameter ({value})\""),
            value,
        )
    })
}

fn parse_columns(table: &'static Table, value: &str) -> Result<Vec<&'static Column>, QueryError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            table
                .column(name)
                .ok_or_else(|| QueryError::unknown_column(table, name))
        })
        .collect()
}

fn parse_select(table: &'static Table, value: &str) -> Result<Vec<&'static Column>, QueryError> {
    if value.trim() == "*" || value.trim().is_empty() {
        return Ok(table.columns.iter().collect());
    }
    if value.contains('(') || value.contains(':') {
        return Err(QueryError::parse(
            "\"failed to parse select parameter\"",
            format!("embedding, renaming and casts are not supported: {value}"),
        ));
    }
    parse_columns(table, value)
}

fn parse_order(table: &'static Table, value: &str) -> Result<Vec<Order>, QueryError> {
    value
        .split(',')
        .map(|term| {
            let mut parts = term.trim().split('.');
            let name = parts.next().unwrap_or_default();
            let column = table
                .column(name)
                .ok_or_else(|| QueryError::unknown_column(table, name))?;
            let mut order = Order {
                column,
                descending: false,
                nulls_first: None,
            };
            for modifier in parts {
                match modifier {
                    "asc" => order.descending = false,
                    "desc" => order.descending = true,
                    "nullsfirst" => order.nulls_first = Some(true),
                    "nullslast" => order.nulls_first = Some(false),
                    other => {
                        return Err(QueryError::parse(
                            "\"failed to parse order\"",
                            format!("unexpected \"{other}\" in {term}"),
                        ));
                    }
                }
            }
            Ok(order)
        })
        .collect()
}

fn parse_filter(table: &'static Table, name: &str, value: &str) -> Result<Filter, QueryError> {
    let column = table
        .column(name)
        .ok_or_else(|| QueryError::unknown_column(table, name))?;
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (op_name, operand) = rest.split_once('.').ok_or_else(|| {
        QueryError::parse(
            "\"failed to parse filter\"",
            format!("expected operator.value in {name}={value}"),
        )
    })?;
    let op = match op_name {
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "like" => Op::Like,
        "ilike" => Op::Ilike,
        "is" => Op::Is,
        "in" => Op::In,
        other => {
            return Err(QueryError::parse(
                "\"failed to parse filter\"",
                format!("unknown operator \"{other}\" in {name}={value}"),
            ));
        }
    };
    let operand = match op {
        Op::Is => Operand::One(match operand {
            "null" => SqlValue::Null,
            "true" => SqlValue::Integer(1),
            "false" => SqlValue::Integer(0),
            other => {
                return Err(QueryError::parse(
                    "\"failed to parse filter\"",
                    format!("is. takes null, true or false, not \"{other}\""),
                ));
            }
        }),
        Op::In => Operand::Many(
            split_list(operand)
                .ok_or_else(|| {
                    QueryError::parse(
                        "\"failed to parse filter\"",
                        format!("in. needs (a,b,...): {value}"),
                    )
                })?
                .iter()
                .map(|item| typed_value(column, item))
                .collect::<Result<_, _>>()?,
        ),
        Op::Like | Op::Ilike => Operand::One(SqlValue::Text(operand.replace('*', "%"))),
        _ => Operand::One(typed_value(column, operand)?),
    };
    Ok(Filter {
        column,
        op,
        negated,
        operand,
    })
}

/// `(a,"b,c",d)` → `[a, b,c, d]`; double quotes protect commas and are removed.
fn split_list(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => current.push(chars.next()?),
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return None;
    }
    if !inner.is_empty() {
        items.push(current);
    }
    Some(items)
}

/// Checks and converts a request value for `column`, as Postgres would refuse a bad literal.
pub fn typed_value(column: &Column, text: &str) -> Result<SqlValue, QueryError> {
    match column.kind {
        ColumnType::Text => Ok(SqlValue::Text(text.to_owned())),
        ColumnType::Uuid => uuid::Uuid::parse_str(text)
            .map(|id| SqlValue::Text(id.hyphenated().to_string()))
            .map_err(|_| QueryError::bad_value("uuid", text)),
        ColumnType::Integer => text
            .parse::<i64>()
            .map(SqlValue::Integer)
            .map_err(|_| QueryError::bad_value("integer", text)),
        ColumnType::Numeric => text
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(SqlValue::Real)
            .ok_or_else(|| QueryError::bad_value("numeric", text)),
        ColumnType::Timestamp => normalise_timestamp(text)
            .map(SqlValue::Text)
            .ok_or_else(|| QueryError::bad_value("timestamp with time zone", text)),
        ColumnType::Boolean => match text {
            "true" => Ok(SqlValue::Integer(1)),
            "false" => Ok(SqlValue::Integer(0)),
            _ => Err(QueryError::bad_value("boolean", text)),
        },
        ColumnType::Enum(values) => values
            .iter()
            .find(|v| **v == text)
            .map(|v| SqlValue::Text((*v).to_owned()))
            .ok_or_else(|| QueryError::bad_value(column.name, text)),
    }
}

/// Any RFC 3339 time → the one fixed-width UTC form we store, so text order is time order.
pub fn normalise_timestamp(text: &str) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(format_timestamp(parsed.with_timezone(&chrono::Utc)))
}

pub fn format_timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

fn quoted(column: &Column) -> String {
    format!("\"{}\"", column.name)
}

impl Query {
    /// `WHERE` conditions for the filters (joined with AND), appending their parameters.
    pub fn conditions(&self, params: &mut Vec<SqlValue>) -> Vec<String> {
        self.filters
            .iter()
            .map(|filter| filter.sql(params))
            .collect()
    }

    /// The column list for `SELECT`.
    pub fn select_sql(&self) -> String {
        self.select
            .iter()
            .map(|c| quoted(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `ORDER BY ...` (empty when the request set none).
    pub fn order_sql(&self) -> String {
        if self.order.is_empty() {
            return String::new();
        }
        let terms: Vec<String> = self
            .order
            .iter()
            .map(|o| {
                let nulls = match (o.nulls_first, o.descending) {
                    (Some(true), _) | (None, true) => "NULLS FIRST",
                    (Some(false), _) | (None, false) => "NULLS LAST",
                };
                format!(
                    "{} {} {nulls}",
                    quoted(o.column),
                    if o.descending { "DESC" } else { "ASC" }
                )
            })
            .collect();
        format!(" ORDER BY {}", terms.join(", "))
    }
}

impl Filter {
    fn sql(&self, params: &mut Vec<SqlValue>) -> String {
        let column = quoted(self.column);
        let mut bind = |value: &SqlValue| {
            params.push(value.clone());
            format!("?{}", params.len())
        };
        let condition = match (&self.op, &self.operand) {
            (Op::Is, Operand::One(SqlValue::Null)) => format!("{column} IS NULL"),
            (Op::Is, Operand::One(value)) => format!("{column} IS {}", bind(value)),
            (Op::In, Operand::Many(values)) if values.is_empty() => "0".to_owned(),
            (Op::In, Operand::Many(values)) => {
                let slots: Vec<String> = values.iter().map(&mut bind).collect();
                format!("{column} IN ({})", slots.join(", "))
            }
            (Op::Ilike, Operand::One(value)) => {
                format!("lower({column}) LIKE lower({})", bind(value))
            }
            (op, Operand::One(value)) => {
                let symbol = match op {
                    Op::Eq => "=",
                    Op::Neq => "<>",
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    Op::Lte => "<=",
                    _ => "LIKE",
                };
                format!("{column} {symbol} {}", bind(value))
            }
            // An operator with the wrong operand shape cannot be built by `parse`.
            (_, Operand::Many(_)) => "0".to_owned(),
        };
        if self.negated {
            format!("NOT ({condition})")
        } else {
            condition
        }
    }
}

/// Parses `text` (one `key=value` pair a line) for every table and checks that the SQL built
/// binds exactly the values it references. Shared by the fuzz target and the corpus test, so both
/// check the same thing. Panics on a broken invariant, which is what a fuzzer looks for.
#[doc(hidden)]
#[allow(clippy::panic)]
pub fn check_query_string(text: &str) {
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for table in super::schema::TABLES {
        let Ok(query) = parse(table, &pairs) else {
            continue;
        };
        let mut params = Vec::new();
        let sql = query.conditions(&mut params).join(" AND ");
        let placeholders = sql.matches('?').count();
        if placeholders != params.len() {
            panic!(
                "{placeholders} placeholders for {} values in {sql}",
                params.len()
            );
        }
        let _ = (query.select_sql(), query.order_sql());
    }
}
