//! PostgREST query strings → checked queries and parameterised SQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail loudly by design.

use viva_localstack::rest::query::{Op, Operand, SqlValue, parse};
use viva_localstack::rest::schema::{INTERVIEW_SESSIONS, TRANSCRIPT_ENTRIES};

fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn filters_order_and_paging_become_bound_sql() {
    let q = parse(
        &INTERVIEW_SESSIONS,
        &pairs("select=id,title,status&status=in.(scheduled,active)&title=ilike.*eng*&scheduled_at=gte.2026-11-22T10:00:00Z&order=scheduled_at.desc.nullslast,title&limit=25&offset=50"),
    )
    .unwrap();
    assert_eq!(q.select_sql(), r#""id", "title", "status""#);
    assert_eq!((q.limit, q.offset), (Some(25), 50));
    let mut params = Vec::new();
    let conditions = q.conditions(&mut params);
    assert_eq!(
        conditions,
        [
            r#""status" IN (?1, ?2)"#,
            r#"lower("title") LIKE lower(?3)"#,
            r#""scheduled_at" >= ?4"#
        ]
    );
    assert_eq!(
        params,
        [
            SqlValue::Text("scheduled".into()),
            SqlValue::Text("active".into()),
            SqlValue::Text("%eng%".into()),
            SqlValue::Text("2026-11-22T10:00:00.000000+00:00".into()),
        ]
    );
    assert_eq!(
        q.order_sql(),
        r#" ORDER BY "scheduled_at" DESC NULLS LAST, "title" ASC NULLS LAST"#
    );
}

#[test]
fn values_are_checked_against_the_column_type() {
    let bad = [
        ("seq=eq.seven", "22P02"),
        ("session_id=eq.not-a-uuid", "22P02"),
        ("speaker=eq.narrator", "22P02"),
        ("created_at=lt.yesterday", "22P02"),
        ("nope=eq.1", "42703"),
        ("seq=between.1", "PGRST100"),
        ("seq=7", "PGRST100"),
        ("select=id,secret", "42703"),
        ("select=id,entries(count)", "PGRST100"),
        ("order=seq.sideways", "PGRST100"),
        ("limit=-1", "PGRST100"),
        ("seq=in.(1,2", "PGRST100"),
        ("seq=is.maybe", "PGRST100"),
    ];
    for (query, code) in bad {
        let error = parse(&TRANSCRIPT_ENTRIES, &pairs(query)).unwrap_err();
        assert_eq!(error.code, code, "{query}: {error:?}");
    }
}

#[test]
fn injection_attempts_stay_values() {
    let q = parse(
        &TRANSCRIPT_ENTRIES,
        &pairs("text=eq.x'); DROP TABLE transcript_entries;--&item_id=in.(\"a,b\",c)"),
    )
    .unwrap();
    let mut params = Vec::new();
    let sql = q.conditions(&mut params).join(" AND ");
    assert!(!sql.contains("DROP"), "{sql}");
    assert_eq!(
        params[0],
        SqlValue::Text("x'); DROP TABLE transcript_entries;--".into())
    );
    assert_eq!(
        q.filters[1].operand,
        Operand::Many(vec![
            SqlValue::Text("a,b".into()),
            SqlValue::Text("c".into())
        ])
    );
}

#[test]
fn negation_is_and_limits() {
    let q = parse(
        &INTERVIEW_SESSIONS,
        &pairs("ended_at=not.is.null&limit=1000000"),
    )
    .unwrap();
    assert_eq!((q.filters[0].op, q.filters[0].negated), (Op::Is, true));
    let mut params = Vec::new();
    assert_eq!(q.conditions(&mut params), [r#"NOT ("ended_at" IS NULL)"#]);
    assert_eq!(q.limit, Some(1000), "limit is capped");
    let up = parse(
        &TRANSCRIPT_ENTRIES,
        &pairs("on_conflict=session_id,item_id"),
    )
    .unwrap();
    assert_eq!(
        up.on_conflict.iter().map(|c| c.name).collect::<Vec<_>>(),
        ["session_id", "item_id"]
    );
}

proptest::proptest! {
    /// Whatever a client sends, parsing answers with a query or a PostgREST error, never a panic,
    /// and the SQL it builds carries every value as a parameter.
    #[test]
    fn arbitrary_query_strings_never_panic(
        pairs in proptest::collection::vec(("[a-z_]{0,12}", "(not\\.)?(eq|neq|gt|in|is|like|ilike|x)?\\.?[ -~]{0,24}"), 0..8)
    ) {
        for table in [&INTERVIEW_SESSIONS, &TRANSCRIPT_ENTRIES] {
            if let Ok(query) = parse(table, &pairs) {
                let mut params = Vec::new();
                let sql = query.conditions(&mut params).join(" AND ");
                for (_, value) in &pairs {
                    if value.len() > 12 && value.contains('\'') {
                        proptest::prop_assert!(!sql.contains(value.as_str()));
                    }
                }
            }
        }
    }
}

/// The fuzz corpus (seeds and kept findings) replayed with the fuzz target's checks.
#[test]
fn the_filter_fuzz_corpus_replays_cleanly() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/postgrest_filters");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        viva_localstack::rest::query::check_query_string(&String::from_utf8_lossy(&bytes));
        inputs += 1;
    }
    assert!(inputs >= 3, "the corpus at {} is missing", corpus.display());
}
