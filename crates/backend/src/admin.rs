//! Operator tasks through GoTrue's admin API, authorised by the project's service-role key:
//! finding a user by e-mail and setting the `app_metadata` Viva isolates tenants by (`tenant_id`,
//! `viva_role`). Users cannot edit `app_metadata` themselves, so this is how a team puts people
//! into their organisation. The key is used for this one request and never stored.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::Backend;
use crate::error::BackendError;

/// A user as the admin API shows them (what `viva admin` prints).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct AdminUser {
    pub id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub app_metadata: Value,
}

/// What to set in a user's `app_metadata`; `None` leaves a key as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub tenant_id: Option<String>,
    /// `candidate` or `interviewer`.
    pub viva_role: Option<String>,
}

/// Users per page when searching; GoTrue's most.
const PAGE: usize = 1000;

impl Backend {
    /// The user with this e-mail (compared case-insensitively), if any. Pages through the
    /// admin list with GoTrue's e-mail `filter`, which older servers ignore (then the pages are
    /// read until the end).
    ///
    /// # Errors
    /// [`BackendError::Forbidden`] / [`BackendError::Unauthorized`] when the key is not the
    /// service-role key; network and reply errors as for every request.
    pub async fn admin_find_user(
        &self,
        service_role_key: &str,
        email: &str,
    ) -> Result<Option<AdminUser>, BackendError> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            users: Vec<AdminUser>,
        }
        for page in 1.. {
            let path = format!(
                "/auth/v1/admin/users?page={page}&per_page={PAGE}&filter={}",
                url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()
            );
            let reply = self
                .send(Method::GET, &path, Some(service_role_key), None, &[])
                .await?;
            let list: List = serde_json::from_value(reply.json()?).map_err(|e| {
                BackendError::BadResponse(format!("the user list is not readable: {e}"))
            })?;
            if let Some(user) = list
                .users
                .iter()
                .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
            {
                return Ok(Some(user.clone()));
            }
            if list.users.len() < PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// Sets `tenant_id` and/or `viva_role` in the user's `app_metadata` (the other keys stay).
    /// The user's current access token keeps its old claims until it is refreshed.
    ///
    /// # Errors
    /// As [`Backend::admin_find_user`]; [`BackendError::BadResponse`] for a value the server
    /// refuses (an unknown organisation, a role that is not Viva's).
    pub async fn admin_set_membership(
        &self,
        service_role_key: &str,
        user_id: &str,
        membership: &Membership,
    ) -> Result<AdminUser, BackendError> {
        let mut metadata = serde_json::Map::new();
        if let Some(tenant) = &membership.tenant_id {
            metadata.insert("tenant_id".into(), json!(tenant));
        }
        if let Some(role) = &membership.viva_role {
            metadata.insert("viva_role".into(), json!(role));
        }
        let path = format!(
            "/auth/v1/admin/users/{}",
            url::form_urlencoded::byte_serialize(user_id.as_bytes()).collect::<String>()
        );
        let reply = self
            .send(
                Method::PUT,
                &path,
                Some(service_role_key),
                Some(&json!({ "app_metadata": metadata })),
                &[],
            )
            .await?;
        serde_json::from_value(reply.json()?)
            .map_err(|e| BackendError::BadResponse(format!("the user is not readable: {e}")))
    }
}
