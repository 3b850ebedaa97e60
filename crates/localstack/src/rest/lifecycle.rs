//! Which changes to an interview session a user may make, judged from the row as it is now: the
//! local twin of the hosted schema's `check_session_update` trigger. A candidate may only end
//! their own live session; an interviewer may only edit or cancel one that has not started.
//! Pure, so every rule is tested without a database.

use super::query::SqlValue;
use crate::caller::{Caller, Role};

/// What a candidate may set when ending their live session.
const CANDIDATE_COLUMNS: &[&str] = &["status", "ended_at", "duration_ms", "realtime_cost_usd"];
/// What an interviewer may set on a scheduled interview.
const INTERVIEWER_COLUMNS: &[&str] = &[
    "title",
    "question_set",
    "scheduled_at",
    "candidate_email",
    "status",
    "voice_api",
];

/// The columns an update may name at all (the hosted schema's column grants).
pub const UPDATABLE: &[&str] = &[
    "title",
    "question_set",
    "scheduled_at",
    "candidate_email",
    "voice_api",
    "status",
    "ended_at",
    "duration_ms",
    "realtime_cost_usd",
];

/// The parts of a session row the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub status: String,
    pub candidate_id: Option<String>,
    pub candidate_email: Option<String>,
    pub ended_at: Option<String>,
}

/// What the server adds to an allowed change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// The session ends now: record the server's time.
    pub closes: bool,
    /// The candidate's address changed: whoever the old one named is no longer bound.
    pub unbinds_candidate: bool,
}

fn text<'a>(fields: &'a [(&str, SqlValue)], name: &str) -> Option<&'a SqlValue> {
    fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Judges one update of one row; `Err` says why it is refused (42501).
pub fn check(
    caller: &Caller,
    now: &Current,
    fields: &[(&str, SqlValue)],
) -> Result<Derived, String> {
    let names = || fields.iter().map(|(name, _)| *name);
    let new_status = match text(fields, "status") {
        Some(SqlValue::Text(status)) => status.as_str(),
        Some(_) => return Err("status cannot be empty".into()),
        None => now.status.as_str(),
    };
    if now.status == "active" && now.candidate_id.as_deref() == Some(caller.user_id.as_str()) {
        if let Some(other) = names().find(|n| !CANDIDATE_COLUMNS.contains(n)) {
            return Err(format!("a candidate may not change {other}"));
        }
        if !["completed", "interrupted", "failed"].contains(&new_status) {
            return Err("a candidate may only end their own live session".into());
        }
        let ended_at = match text(fields, "ended_at") {
            Some(SqlValue::Null) => None,
            Some(_) => Some(()),
            None => now.ended_at.as_ref().map(|_| ()),
        };
        if ended_at.is_none() {
            return Err("ending a session needs ended_at".into());
        }
        for number in ["duration_ms", "realtime_cost_usd"] {
            let negative = match text(fields, number) {
                Some(SqlValue::Integer(n)) => *n < 0,
                Some(SqlValue::Real(x)) => *x < 0.0,
                _ => false,
            };
            if negative {
                return Err(format!("{number} cannot be negative"));
            }
        }
        return Ok(Derived {
            closes: true,
            unbinds_candidate: false,
        });
    }
    if now.status == "scheduled" && caller.role == Role::Interviewer {
        if let Some(other) = names().find(|n| !INTERVIEWER_COLUMNS.contains(n)) {
            return Err(format!("an interviewer may not change {other}"));
        }
        if !["scheduled", "cancelled"].contains(&new_status) {
            return Err("an interviewer may only edit or cancel a scheduled interview".into());
        }
        let unbinds_candidate = match text(fields, "candidate_email") {
            Some(SqlValue::Text(email)) => now.candidate_email.as_deref() != Some(email.as_str()),
            Some(_) => now.candidate_email.is_some(),
            None => false,
        };
        return Ok(Derived {
            closes: new_status == "cancelled",
            unbinds_candidate,
        });
    }
    Err(format!(
        "this session cannot be changed by you now (it is {})",
        now.status
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            user_id: "me".into(),
            email: "me@example.test".into(),
            tenant_id: "t".into(),
            role,
        }
    }

    fn row(status: &str, candidate: Option<&str>) -> Current {
        Current {
            status: status.into(),
            candidate_id: candidate.map(str::to_owned),
            candidate_email: Some("old@example.test".into()),
            ended_at: None,
        }
    }

    fn t(value: &str) -> SqlValue {
        SqlValue::Text(value.into())
    }

    #[test]
    fn candidates_only_end_their_own_live_session() {
        let me = caller(Role::Candidate);
        let live = row("active", Some("me"));
        let end = [
            ("status", t("completed")),
            ("ended_at", t("2026-12-05T10:00:00Z")),
        ];
        assert_eq!(
            check(&me, &live, &end).unwrap(),
            Derived {
                closes: true,
                unbinds_candidate: false
            }
        );
        assert!(check(&me, &live, &[("status", t("scheduled"))]).is_err());
        assert!(
            check(
                &me,
                &live,
                &[("status", t("cancelled")), ("ended_at", t("x"))]
            )
            .is_err()
        );
        assert!(
            check(&me, &live, &[("status", t("completed"))]).is_err(),
            "no ended_at"
        );
        assert!(
            check(
                &me,
                &live,
                &[
                    ("status", t("completed")),
                    ("ended_at", t("x")),
                    ("title", t("new"))
                ]
            )
            .is_err()
        );
        assert!(
            check(
                &me,
                &live,
                &[
                    ("status", t("completed")),
                    ("ended_at", t("x")),
                    ("realtime_cost_usd", SqlValue::Real(-1.0))
                ]
            )
            .is_err()
        );
        assert!(check(&me, &row("completed", Some("me")), &end).is_err());
        assert!(check(&me, &row("active", Some("someone else")), &end).is_err());
    }

    #[test]
    fn interviewers_only_edit_or_cancel_what_has_not_started() {
        let me = caller(Role::Interviewer);
        let scheduled = row("scheduled", None);
        assert_eq!(
            check(&me, &scheduled, &[("title", t("Staff"))]).unwrap(),
            Derived::default()
        );
        assert!(
            check(&me, &scheduled, &[("status", t("cancelled"))])
                .unwrap()
                .closes
        );
        assert!(
            check(
                &me,
                &scheduled,
                &[("candidate_email", t("new@example.test"))]
            )
            .unwrap()
            .unbinds_candidate
        );
        assert!(
            !check(
                &me,
                &scheduled,
                &[("candidate_email", t("old@example.test"))]
            )
            .unwrap()
            .unbinds_candidate
        );
        assert!(check(&me, &scheduled, &[("status", t("active"))]).is_err());
        assert!(check(&me, &scheduled, &[("ended_at", t("x"))]).is_err());
        assert!(check(&me, &row("active", Some("c")), &[("title", t("x"))]).is_err());
        assert!(check(&me, &row("cancelled", None), &[("status", t("scheduled"))]).is_err());
        // A candidate cannot use the interviewer's rule on a scheduled interview.
        assert!(check(&caller(Role::Candidate), &scheduled, &[("title", t("x"))]).is_err());
    }
}
