//! The HTTP side of the backend: one reqwest client, the headers every request carries, a
//! timeout on each, `Retry-After` honoured once, and replies turned into values or typed errors.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::error::{BackendError, from_reply, from_transport};

/// Every request gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The most rows of transcript one read asks for. With the longest lines the contract allows,
/// a page fits in [`MAX_REPLY_BYTES`] with room to spare.
pub const TRANSCRIPT_PAGE_ROWS: usize = 250;
/// The largest reply read: a page of transcript lines at the contract's limits (each character
/// escaped as `\uXXXX`, six bytes, plus a kilobyte of fields per row) with about 10 % margin.
pub const MAX_REPLY_BYTES: usize = 32 * 1024 * 1024;
const _: () = assert!(
    TRANSCRIPT_PAGE_ROWS * (viva_contract::MAX_LINE_CHARS * 6 + 1024) < MAX_REPLY_BYTES * 10 / 11
);
/// A `Retry-After` up to this long is waited out once; a longer one is the caller's to show.
const LONGEST_AUTOMATIC_WAIT: Duration = Duration::from_secs(10);

/// The backend at `base_url`, identified by its anon key.
#[derive(Debug, Clone)]
pub struct Backend {
    base_url: String,
    anon_key: String,
    http: reqwest::Client,
}

/// A successful reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Result<Value, BackendError> {
        if self.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.body).map_err(|_| {
            BackendError::BadResponse(format!("HTTP {} with a body that is not JSON", self.status))
        })
    }
}

/// Checks a backend address: `https`, or `http` on this machine only (the local stack).
///
/// # Errors
/// [`BackendError::InvalidUrl`] saying what is wrong with it.
pub fn check_url(text: &str) -> Result<url::Url, BackendError> {
    let parsed = url::Url::parse(text.trim())
        .map_err(|e| BackendError::InvalidUrl(format!("`{}` is not a URL ({e})", text.trim())))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => {
            return Err(BackendError::InvalidUrl(format!(
                "`{}` names no host",
                text.trim()
            )));
        }
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        "http" => Err(BackendError::InvalidUrl(
            "use https: plain http is only allowed for a backend on this computer".into(),
        )),
        other => Err(BackendError::InvalidUrl(format!(
            "`{other}` is not a web address scheme; use https"
        ))),
    }
}

/// The one HTTP client: redirects are never followed (a 307 would re-send the body, a sign-in
/// password included, and the bearer token to wherever it points).
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|error| {
            // Only a broken TLS backend fails here; the default client has the same one, but
            // follows redirects, so refuse them in `send` too.
            tracing::error!(event = "http_client_fallback", %error);
            reqwest::Client::new()
        })
}

/// Reads a body of at most `limit` bytes, stopping as soon as it is over.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<String, BackendError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BackendError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| from_transport(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(BackendError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body)
        .map_err(|_| BackendError::BadResponse("the reply is not UTF-8 text".into()))
}

impl Backend {
    /// A backend whose address is trusted to be well formed (the embedded stack, tests).
    #[must_use]
    pub fn new(base_url: &str, anon_key: &str) -> Self {
        Self {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            anon_key: anon_key.trim().to_owned(),
            http: http_client(),
        }
    }

    /// A backend from user settings: the address is checked ([`check_url`]) and the anon key
    /// must be present.
    ///
    /// # Errors
    /// [`BackendError::InvalidUrl`] for a bad address or a missing key.
    pub fn from_settings(base_url: &str, anon_key: &str) -> Result<Self, BackendError> {
        check_url(base_url)?;
        if anon_key.trim().is_empty() {
            return Err(BackendError::InvalidUrl(
                "the anon key is missing (it is in the project's API settings)".into(),
            ));
        }
        Ok(Self::new(base_url, anon_key))
    }

    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    #[must_use]
    pub fn anon_key(&self) -> &str {
        &self.anon_key
    }

    /// Sends one request; `bearer` defaults to the anon key. A 429 whose `Retry-After` is
    /// short is waited out and sent once more.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, BackendError> {
        let mut waited = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base_url))
                .header("apikey", &self.anon_key)
                // Ask GoTrue for its current error shape; older servers ignore it.
                .header("X-Supabase-Api-Version", "2024-01-01")
                .bearer_auth(bearer.unwrap_or(&self.anon_key))
                .timeout(REQUEST_TIMEOUT);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| from_transport(&e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            if response.status().is_redirection() {
                let location = headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("another address")
                    .chars()
                    .take(200)
                    .collect();
                return Err(BackendError::Redirected { location });
            }
            let text = read_capped(response, MAX_REPLY_BYTES).await?;
            if (200..300).contains(&status) {
                return Ok(Reply {
                    status,
                    headers,
                    body: text,
                });
            }
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            match retry_after {
                Some(wait) if status == 429 && !waited && wait <= LONGEST_AUTOMATIC_WAIT => {
                    tracing::info!(event = "backend_rate_limited", wait_s = wait.as_secs());
                    tokio::time::sleep(wait).await;
                    waited = true;
                }
                _ => return Err(from_reply(status, retry_after, &text)),
            }
        }
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<Value, BackendError> {
        self.send(Method::POST, path, bearer, Some(body), &[])
            .await?
            .json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_https_unless_they_are_this_computer() {
        for good in [
            "https://abc.supabase.co",
            "http://127.0.0.1:54321",
            "http://localhost:8000/",
            "http://[::1]:9000",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("http://abc.supabase.co", "use https"),
            ("ftp://abc.supabase.co", "scheme"),
            ("abc.supabase.co", "not a URL"),
            ("https://", "not a URL"),
        ] {
            let error = check_url(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        assert!(Backend::from_settings("https://a.example", " ").is_err());
    }
}
