//! What the proxy needs to know about an interview session, read as the connecting user sees
//! it, and the GPT-Live session an offer for it asks for.

pub mod pg;
pub mod rest;

use std::collections::HashSet;

use viva_contract::grant::VoiceApi;
use viva_contract::proxy::{HistoryLine, HistorySpeaker};

use crate::auth::{BoxFuture, Role, VerifiedUser};
use crate::live::{DEFAULT_LIVE_MODEL, StoredLine, interview_session};
use crate::questions::question_set;
use crate::upstream::CallApi;

/// An interview session, as far as joining it and calling in it go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub tenant_id: String,
    pub candidate_id: String,
    /// `status = 'active'`.
    pub active: bool,
    /// The session's own voice API, else its organisation's.
    pub voice_api: VoiceApi,
    pub question_set: String,
}

/// A final line of the stored transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTurn {
    pub item_id: String,
    pub interviewer: bool,
    pub text: String,
}

/// Why a session could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such session, or not one this user may see.
    #[error("this session is not yours or is not active")]
    NotYours,
    /// The store cannot answer now (the server's fault, not the user's).
    #[error("the session cannot be read now")]
    Unavailable,
}

/// Reads sessions as the verified user (`token` is their access token, for stores that check
/// it themselves).
pub trait Sessions: Send + Sync + std::fmt::Debug {
    fn session<'a>(
        &'a self,
        user: &'a VerifiedUser,
        token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<SessionInfo, SessionError>>;

    /// The session's final lines in order (`seq`, then `item_id`).
    fn transcript<'a>(
        &'a self,
        user: &'a VerifiedUser,
        token: &'a str,
        session_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StoredTurn>, SessionError>>;
}

/// Whether `user` may hold `session`'s call: its candidate, in its organisation, while it is
/// active. Checked here whatever the store already filtered.
pub fn may_join(user: &VerifiedUser, session: &SessionInfo) -> bool {
    user.role == Some(Role::Candidate)
        && session.active
        && !user.user_id.is_empty()
        && session.candidate_id == user.user_id
        && session.tenant_id == user.tenant_id
}

/// The call an offer asks the upstream for: the session's voice API, and for GPT-Live the
/// session the proxy builds ([`live_session_config`]).
pub async fn call_api(
    sessions: &dyn Sessions,
    user: &VerifiedUser,
    token: &str,
    session_id: &str,
    session: &SessionInfo,
    offered: &[HistoryLine],
) -> Result<CallApi, SessionError> {
    match session.voice_api {
        VoiceApi::Realtime => Ok(CallApi::Realtime),
        VoiceApi::Live => {
            let stored = sessions.transcript(user, token, session_id).await?;
            Ok(CallApi::Live(Box::new(live_session_config(
                &session.question_set,
                &stored,
                offered,
            ))))
        }
    }
}

/// The GPT-Live session an interview's call asks for ([`interview_session`]): its question
/// set's instructions, the three commands a candidate may send, nothing stored, and as `input`
/// the conversation so far within the service's limits: the final lines stored for the
/// session, in order, then the lines of the offer's history that are not stored yet (said
/// since the client's last upload, or in a practice session kept on the candidate's
/// computer). A history line never replaces a stored one: they are the candidate's own
/// client's words either way, as uploads are.
pub fn live_session_config(
    question_set_id: &str,
    stored: &[StoredTurn],
    offered: &[HistoryLine],
) -> crate::live::SessionConfig {
    // The sets are built in and tested, so the fallback only keeps the history if none were.
    let set = question_set(question_set_id).unwrap_or_else(|| crate::questions::QuestionSet {
        id: question_set_id.to_owned(),
        title: String::new(),
        greeting: String::new(),
        closing: String::new(),
        questions: Vec::new(),
    });
    let known: HashSet<&str> = stored.iter().map(|l| l.item_id.as_str()).collect();
    let unstored = offered
        .iter()
        .filter(|l| !known.contains(l.item_id.as_str()))
        .map(|l| (l.speaker == HistorySpeaker::Interviewer, l.text.clone()));
    let lines: Vec<StoredLine> = stored
        .iter()
        .map(|l| (l.interviewer, l.text.clone()))
        .chain(unstored)
        .map(|(interviewer, text)| StoredLine {
            role: if interviewer {
                crate::live::Role::Assistant
            } else {
                crate::live::Role::User
            },
            text,
        })
        .collect();
    interview_session(&set, &lines, DEFAULT_LIVE_MODEL)
}
