//! `viva admin`: an operator puts a user into their organisation with a Viva role, through the
//! backend's Auth admin API (hosted Supabase's GoTrue, or the local stack's), with the
//! project's service-role key from `VIVA_SERVICE_ROLE_KEY`. Never an argument: arguments are
//! visible to every user of the computer in the process list.

use std::process::ExitCode;

use viva_backend::{Backend, Membership};

/// The environment variable holding the service-role key.
pub const SERVICE_ROLE_KEY_VAR: &str = "VIVA_SERVICE_ROLE_KEY";

/// What `viva admin` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTask {
    /// Prints the user's id, e-mail and `app_metadata`.
    Show { email: String },
    /// Sets the user's organisation and/or role, then prints them as [`AdminTask::Show`].
    SetMember {
        email: String,
        membership: Membership,
    },
}

/// Runs one task; prints the user as one JSON line. Exit 0 on success, 1 when the backend
/// refused or the user does not exist, 2 for bad arguments.
pub async fn run(backend_url: &str, task: AdminTask) -> ExitCode {
    let Some(key) = std::env::var(SERVICE_ROLE_KEY_VAR)
        .ok()
        .filter(|k| !k.trim().is_empty())
    else {
        eprintln!(
            "viva admin: set {SERVICE_ROLE_KEY_VAR} to the project's service-role key (Project Settings → API keys); it is never taken as an argument"
        );
        return ExitCode::from(2);
    };
    let key = key.trim().to_owned();
    // The admin API is reached with the service-role key as the API key too, as Supabase's
    // server libraries do.
    let backend = match Backend::from_settings(backend_url, &key) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("viva admin: {error}");
            return ExitCode::from(2);
        }
    };
    let (email, membership) = match &task {
        AdminTask::Show { email } => (email, None),
        AdminTask::SetMember { email, membership } => {
            if membership.tenant_id.is_none() && membership.viva_role.is_none() {
                eprintln!("viva admin: say what to set: --tenant, --role or both");
                return ExitCode::from(2);
            }
            (email, Some(membership))
        }
    };
    let user = match backend.admin_find_user(&key, email).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            eprintln!(
                "viva admin: no user has the e-mail {email}; they sign up (or are invited) first"
            );
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("viva admin: {error}");
            return ExitCode::FAILURE;
        }
    };
    let user = match membership {
        None => user,
        Some(membership) => match backend
            .admin_set_membership(&key, &user.id, membership)
            .await
        {
            Ok(user) => user,
            Err(error) => {
                eprintln!("viva admin: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    println!(
        "{}",
        serde_json::json!({"id": user.id, "email": user.email, "app_metadata": user.app_metadata})
    );
    ExitCode::SUCCESS
}
