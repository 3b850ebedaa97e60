//! Checking a transcript read from the backend against the SDP proxy's record of the
//! interview: the words the provider's side actually carried, which the candidate's computer
//! cannot alter. Lines the record contradicts are flagged for the reviewer; lines outside the
//! time the proxy listened are never judged (`viva_contract::observed::compare`).

use std::collections::HashMap;

use serde::Serialize;
use viva_backend::ObservedRecord;
use viva_contract::Entry;
use viva_contract::observed::{Comparison, Verdict, compare};
use viva_realtime::Speaker;
use viva_store::StoredLine;

use crate::clamp;

/// Why review doubts a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum LineFlag {
    /// The service was listening then and heard nothing from this speaker.
    NotHeard,
    /// The service was listening then and heard this speaker say `heard` instead.
    HeardDifferently { heard: String },
}

/// Whether the transcript on screen was checked against the service's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RecordCheck {
    /// The original recorded on this computer: it is what this computer heard, and the
    /// service's record is for the organisation's reviewers.
    Original,
    /// Compared: lines the service could judge, lines it flagged, lines it could not judge
    /// (said while it was not listening, or not placeable on its timeline).
    Checked {
        judged: u32,
        flagged: u32,
        unjudged: u32,
    },
    /// The service kept no record of this interview that this account may read (a Realtime
    /// call, observation turned off, or a candidate's own account).
    NoRecord,
    /// The record could not be read now.
    NotChecked { reason: String },
}

/// A comparison's outcome: the check, and the flag of each flagged entry by item id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub check: RecordCheck,
    pub flags: HashMap<String, LineFlag>,
}

impl Checked {
    /// Nothing compared, for `check`'s reason.
    pub fn without(check: RecordCheck) -> Self {
        Self {
            check,
            flags: HashMap::new(),
        }
    }
}

/// `lines` (as the backend has them) held against `record`.
pub fn check(lines: &[StoredLine], record: &ObservedRecord) -> Checked {
    if record.windows.is_empty() {
        return Checked::without(RecordCheck::NoRecord);
    }
    let entries: Vec<Entry> = lines.iter().map(entry).collect();
    let comparison = compare(&entries, &record.fragments, &record.windows);
    Checked {
        check: summary(&comparison),
        flags: comparison
            .lines
            .into_iter()
            .filter_map(|line| {
                let flag = match line.verdict {
                    Verdict::NotHeard => LineFlag::NotHeard,
                    Verdict::HeardDifferently { observed } => {
                        LineFlag::HeardDifferently { heard: observed }
                    }
                    _ => return None,
                };
                Some((line.item_id, flag))
            })
            .collect(),
    }
}

fn summary(comparison: &Comparison) -> RecordCheck {
    let s = &comparison.summary;
    RecordCheck::Checked {
        judged: clamp((s.heard + s.flagged) as u64),
        flagged: clamp(s.flagged as u64),
        unjudged: clamp((s.unobserved + s.could_not_align) as u64),
    }
}

fn entry(line: &StoredLine) -> Entry {
    let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Entry {
        item_id: line.item_id.clone(),
        seq: i32::try_from(line.seq).unwrap_or(i32::MAX),
        speaker: match line.speaker {
            Speaker::Candidate => "candidate",
            Speaker::Interviewer => "interviewer",
        }
        .to_owned(),
        text: line.text.clone(),
        started_ms: ms(line.started_ms),
        ended_ms: line.ended_ms.map(ms),
    }
}
