//! The recording notice a candidate reads and agrees to before an interview whose transcript
//! leaves this computer: what is recorded, who can read it and where it is kept. One text for
//! the app and the `viva` command; its version goes to the backend with the agreement.

pub use viva_contract::consent::NOTICE_VERSION;

/// The notice, in words, for one backend and organisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RecordingNotice {
    /// The version the candidate agrees to (sent to the backend with the agreement).
    pub version: String,
    /// What is recorded.
    pub recorded: String,
    /// Who can read it.
    pub readers: String,
    /// Where it is kept.
    pub kept: String,
}

/// The notice for a session kept on `backend_host` for `organisation` (its name, when known).
/// Viva never records audio: only the transcript and its timings.
#[must_use]
pub fn recording_notice(backend_host: &str, organisation: Option<&str>) -> RecordingNotice {
    let organisation = organisation
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(
            || "your organisation".to_owned(),
            |name| format!("“{name}”"),
        );
    RecordingNotice {
        version: NOTICE_VERSION.to_owned(),
        recorded: "A written transcript of what you and the interviewer say, with the time of \
                   each line. No audio is recorded."
            .to_owned(),
        readers: format!(
            "You, and the interviewers of {organisation}. The interviewer's voice AI hears the \
             interview as it happens to take part in it."
        ),
        kept: format!(
            "On this computer, and on {backend_host}, the server {organisation} runs Viva on."
        ),
    }
}

/// The host part of a backend's base URL, as the notice names it (`https://x.example:8443/p`
/// → `x.example`); the URL itself when it has none.
#[must_use]
pub fn backend_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(inner, _)| &inner[1..])
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if host.is_empty() { url } else { host }
}

/// The notice as plain text, for the `viva` command.
#[must_use]
pub fn notice_text(notice: &RecordingNotice) -> String {
    format!(
        "Before you start (recording notice {}):\n  What is recorded: {}\n  Who can read it: {}\n  Where it is kept: {}\n",
        notice.version, notice.recorded, notice.readers, notice.kept
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_server_and_the_organisation_and_says_no_audio() {
        let notice = recording_notice("viva.example.org", Some("Acme"));
        assert_eq!(notice.version, NOTICE_VERSION);
        assert!(notice.recorded.contains("No audio"));
        assert!(notice.readers.contains("“Acme”"));
        assert!(notice.kept.contains("viva.example.org"));
        let unnamed = recording_notice("viva.example.org", Some("  "));
        assert!(unnamed.readers.contains("your organisation"));
        assert!(notice_text(&notice).contains(NOTICE_VERSION));
    }

    #[test]
    fn the_backend_host_is_read_from_its_url() {
        assert_eq!(backend_host("https://abc.supabase.co"), "abc.supabase.co");
        assert_eq!(backend_host("http://127.0.0.1:54321/"), "127.0.0.1");
        assert_eq!(
            backend_host("https://u:p@x.example:8443/p?q#f"),
            "x.example"
        );
        assert_eq!(backend_host("http://[::1]:80"), "::1");
        assert_eq!(backend_host("not a url"), "not a url");
        assert_eq!(backend_host(""), "");
    }
}
