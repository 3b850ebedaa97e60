//! The GPT-Live session the proxy builds for an offer: the interview's instructions, the
//! candidate's permitted commands, and the conversation so far as `input`.

use std::collections::HashSet;

use viva_contract::grant::VoiceApi;
use viva_contract::proxy::{HistoryLine, HistorySpeaker};

use crate::db::{Db, DbError};
use crate::interviewer::CallApi;
use crate::interviewer::script::question_set;
use crate::live_sessions::{DEFAULT_LIVE_MODEL, SessionConfig, StoredLine, interview_session};

/// The call an offer for `session_id` asks the upstream for: the session's voice API, and for
/// GPT-Live the session the proxy builds ([`live_session_config`]) with the history the offer
/// carried (`offered`; a Realtime client tells its session itself).
pub async fn call_api(
    db: &Db,
    session_id: &str,
    offered: &[HistoryLine],
) -> Result<CallApi, String> {
    match crate::functions::voice_api_of(db, session_id).await? {
        VoiceApi::Realtime => Ok(CallApi::Realtime),
        VoiceApi::Live => Ok(CallApi::Live(Box::new(
            live_session_config(db, session_id, offered).await?,
        ))),
    }
}

/// The GPT-Live session an interview's call asks for
/// ([`crate::live_sessions::interview_session`]): its question set's instructions, the three
/// commands a candidate may send, nothing stored, and as `input` the conversation so far
/// within the service's limits: the final lines stored for the session, in order, then the
/// lines of the offer's history that are not stored yet (said since the client's last upload,
/// or in a practice session kept on the candidate's computer). A history line never replaces
/// a stored one: they are the candidate's own client's words either way, as uploads are.
pub async fn live_session_config(
    db: &Db,
    session_id: &str,
    offered: &[HistoryLine],
) -> Result<SessionConfig, String> {
    let id = session_id.to_owned();
    let (set, lines) = db
        .call(move |conn| {
            let set: String = conn.query_row(
                "SELECT question_set FROM interview_sessions WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )?;
            let mut lines = conn.prepare(
                "SELECT item_id, speaker, text FROM transcript_entries WHERE session_id = ?1 ORDER BY seq, item_id",
            )?;
            let lines = lines
                .query_map([&id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)? == "interviewer",
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, DbError>((set, lines))
        })
        .await
        .map_err(|error| format!("cannot read the session to resume: {error}"))?;
    let set = question_set(&set).ok_or("no question sets are built in")?;
    let stored: HashSet<&str> = lines.iter().map(|(id, _, _)| id.as_str()).collect();
    let unstored = offered
        .iter()
        .filter(|l| !stored.contains(l.item_id.as_str()))
        .map(|l| (l.speaker == HistorySpeaker::Interviewer, l.text.clone()));
    let lines: Vec<StoredLine> = lines
        .iter()
        .map(|(_, interviewer, text)| (*interviewer, text.clone()))
        .chain(unstored)
        .map(|(interviewer, text)| StoredLine {
            role: if interviewer {
                crate::live_sessions::Role::Assistant
            } else {
                crate::live_sessions::Role::User
            },
            text,
        })
        .collect();
    Ok(interview_session(&set, &lines, DEFAULT_LIVE_MODEL))
}
