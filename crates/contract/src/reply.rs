//! Reading `transcript-processor`'s answer: what was stored, what was there already, and which
//! lines were refused and why.

use serde::Deserialize;

use crate::Rejection;

/// `{"accepted": n, "duplicates": m, "rejected": [...]}`; servers from before `rejected` existed
/// omit it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProcessorReply {
    pub accepted: u64,
    pub duplicates: u64,
    #[serde(default)]
    pub rejected: Vec<Rejection>,
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the transcript-processor reply is not usable: {0}")]
pub struct ReplyError(pub String);

/// Parses a reply body. The counts must add up to no more than `sent` entries, so a reply that
/// claims more than was sent is an error rather than a reason to drop lines from the outbox.
pub fn parse_processor_reply(body: &[u8], sent: usize) -> Result<ProcessorReply, ReplyError> {
    let reply: ProcessorReply =
        serde_json::from_slice(body).map_err(|e| ReplyError(e.to_string()))?;
    let counted = reply
        .accepted
        .saturating_add(reply.duplicates)
        .saturating_add(reply.rejected.len() as u64);
    if counted > sent as u64 {
        return Err(ReplyError(format!(
            "it accounts for {counted} entries but {sent} were sent"
        )));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replies_old_and_new_read_and_impossible_counts_do_not() {
        let old = parse_processor_reply(br#"{"accepted":2,"duplicates":1}"#, 3).unwrap();
        assert!(old.rejected.is_empty());
        let new = parse_processor_reply(
            br#"{"accepted":1,"duplicates":0,"rejected":[{"item_id":"x","code":"line_too_long","message":"long"}]}"#,
            2,
        )
        .unwrap();
        assert_eq!(new.rejected[0].item_id, "x");
        assert!(parse_processor_reply(br#"{"accepted":5,"duplicates":0}"#, 2).is_err());
        assert!(parse_processor_reply(br#"{"accepted":-1,"duplicates":0}"#, 2).is_err());
        assert!(parse_processor_reply(b"<html>", 2).is_err());
        let huge = format!(r#"{{"accepted":{},"duplicates":{}}}"#, u64::MAX, u64::MAX);
        assert!(parse_processor_reply(huge.as_bytes(), 2).is_err());
    }
}
