//! `--seed demo`: a demo organisation with one interviewer, one candidate and one scheduled
//! interview, so a fresh local stack can be tried at once. Credentials are printed once.

use crate::server::LocalStack;

/// What the demo seed created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccounts {
    pub tenant_id: String,
    pub interviewer: (String, String),
    pub candidate: (String, String),
}

fn password() -> String {
    format!("viva-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Seeds the demo data unless it is already there; `None` when it was seeded before.
pub async fn seed_demo(stack: &LocalStack) -> Result<Option<DemoAccounts>, String> {
    let fresh = stack
        .state
        .db
        .setting_or_init("demo_seeded", || "yes".to_owned())
        .map_err(|e| e.to_string())
        .map(|_| ());
    fresh?;
    let already: bool = stack
        .state
        .db
        .call(|conn| {
            conn.query_row(
                "SELECT COUNT(*) > 0 FROM users WHERE email = 'interviewer@demo.viva.local'",
                [],
                |r| r.get(0),
            )
            .map_err(crate::db::DbError::from)
        })
        .await
        .map_err(|e| e.to_string())?;
    if already {
        return Ok(None);
    }
    let tenant_id = stack
        .add_tenant("Demo Organisation")
        .await
        .map_err(|e| e.to_string())?;
    let interviewer = ("interviewer@demo.viva.local".to_owned(), password());
    let candidate = ("candidate@demo.viva.local".to_owned(), password());
    let interviewer_id = stack
        .add_user(&interviewer.0, &interviewer.1, &tenant_id, "interviewer")
        .await
        .map_err(|e| e.message)?;
    let candidate_id = stack
        .add_user(&candidate.0, &candidate.1, &tenant_id, "candidate")
        .await
        .map_err(|e| e.message)?;
    let (tenant, scheduled_at) = (
        tenant_id.clone(),
        crate::rest::query::format_timestamp(chrono::Utc::now() + chrono::Duration::hours(1)),
    );
    stack
        .state
        .db
        .call(move |conn| {
            conn.execute(
                "INSERT INTO interview_sessions (id, tenant_id, candidate_id, candidate_email, interviewer_id, title, question_set, mode, status, scheduled_at, created_at)
                 VALUES (?1, ?2, ?3, 'candidate@demo.viva.local', ?4, 'Software engineer — first round', 'software_engineer', 'interview', 'scheduled', ?5, ?5)",
                [uuid::Uuid::new_v4().to_string(), tenant, candidate_id, interviewer_id, scheduled_at],
            )
            .map_err(crate::db::DbError::from)
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(DemoAccounts {
        tenant_id,
        interviewer,
        candidate,
    }))
}
