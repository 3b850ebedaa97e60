//! Typed answers on a GPT-Live call (docs/protocols.md §3): each goes to the SDP proxy with an
//! id and stays here until the proxy acknowledges it (`text_ok`). A socket takes a frame even
//! when the far end is gone (a crashed proxy whose close is not read yet, a half-open link), so
//! "written" proves nothing: every link the call opens is given, in order and with their own
//! ids, the answers no link has acknowledged yet; the proxy passes a resent id on only once.
//! An answer that fails for good (refused, or still unacknowledged when the call ends) is told
//! to the candidate, never dropped in silence.

use std::collections::VecDeque;

use viva_contract::proxy::MAX_TYPED_ANSWER_CHARS;

/// Typed answers kept at once: an interview has a few dozen turns, and an answer leaves as
/// soon as the proxy acknowledges it; beyond this the oldest is given up (and told).
pub(crate) const MAX_UNACKNOWLEDGED: usize = viva_realtime::conversation::MAX_PENDING;

/// How much of a typed answer a notice about it quotes: enough to recognise it.
const EXCERPT_CHARS: usize = 40;

/// One typed answer awaiting the proxy's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Typed {
    pub id: String,
    pub text: String,
    /// The link (see [`Outbox::sendable`]) it was last written on.
    sent_on: Option<u64>,
}

impl Typed {
    /// The start of the answer, quoted, for a notice the candidate reads.
    pub fn excerpt(&self) -> String {
        let text = self.text.trim();
        let start: String = text.chars().take(EXCERPT_CHARS).collect();
        if start.len() < text.len() {
            format!("“{}…”", start.trim_end())
        } else {
            format!("“{start}”")
        }
    }
}

/// Why a typed answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// Blank, or longer than the proxy passes on: it would be refused there (without its id).
    #[error("a typed answer has 1 to {MAX_TYPED_ANSWER_CHARS} characters (this one: {0})")]
    Length(usize),
}

/// The call's typed answers not yet acknowledged, oldest first.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Random per call: ids stay unique if the app starts another call of the same interview.
    tag: String,
    next: u64,
    waiting: VecDeque<Typed>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::with_tag(format!("{:016x}", fastrand::u64(..)))
    }
}

impl Outbox {
    fn with_tag(tag: String) -> Self {
        Self {
            tag,
            next: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Takes a typed answer, after those already waiting, and gives it its id. Returns the
    /// oldest one when more than [`MAX_UNACKNOWLEDGED`] would wait (given up: tell it).
    pub fn push(&mut self, text: String) -> Result<Option<Typed>, Refused> {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_TYPED_ANSWER_CHARS {
            return Err(Refused::Length(chars));
        }
        self.next += 1;
        let id = format!("{}-{}", self.tag, self.next);
        let dropped = (self.waiting.len() >= MAX_UNACKNOWLEDGED)
            .then(|| self.waiting.pop_front())
            .flatten();
        self.waiting.push_back(Typed {
            id,
            text,
            sent_on: None,
        });
        Ok(dropped)
    }

    /// The answers not yet written on `link` (each link of the call has its own number), in
    /// order: on a new link, every unacknowledged one, the oldest first.
    pub fn sendable(&self, link: u64) -> impl Iterator<Item = &Typed> {
        self.waiting.iter().filter(move |t| t.sent_on != Some(link))
    }

    /// `id` was written on `link`.
    pub fn sent(&mut self, id: &str, link: u64) {
        if let Some(typed) = self.waiting.iter_mut().find(|t| t.id == id) {
            typed.sent_on = Some(link);
        }
    }

    /// The proxy acknowledged `id`: it is done (an unknown id, such as a second ack of a
    /// resend, changes nothing).
    pub fn acknowledged(&mut self, id: &str) {
        self.waiting.retain(|t| t.id != id);
    }

    /// The proxy refused `id` or could not pass it on: it leaves, to be told.
    pub fn failed(&mut self, id: &str) -> Option<Typed> {
        let index = self.waiting.iter().position(|t| t.id == id)?;
        self.waiting.remove(index)
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Every answer still unacknowledged, oldest first (the call ends: to be told).
    pub fn take_all(&mut self) -> Vec<Typed> {
        self.waiting.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ids(outbox: &Outbox, link: u64) -> Vec<String> {
        outbox.sendable(link).map(|t| t.id.clone()).collect()
    }

    #[test]
    fn an_answer_is_sent_on_each_new_link_until_it_is_acknowledged_with_the_same_id() {
        let mut outbox = Outbox::with_tag("c".into());
        outbox.push("First.".into()).unwrap();
        outbox.push("Second.".into()).unwrap();
        assert_eq!(ids(&outbox, 1), ["c-1", "c-2"]);
        outbox.sent("c-1", 1);
        outbox.sent("c-2", 1);
        assert!(ids(&outbox, 1).is_empty(), "written on this link already");
        outbox.push("Third.".into()).unwrap();
        assert_eq!(ids(&outbox, 1), ["c-3"]);
        // The link went; the next one is given every unacknowledged answer, oldest first,
        // the newer one after them.
        outbox.acknowledged("c-1");
        assert_eq!(ids(&outbox, 2), ["c-2", "c-3"]);
        outbox.acknowledged("c-2");
        outbox.acknowledged("c-2");
        outbox.acknowledged("unknown");
        assert_eq!(ids(&outbox, 2), ["c-3"]);
        assert_eq!(outbox.failed("c-3").unwrap().text, "Third.");
        assert!(outbox.is_empty());
    }

    #[test]
    fn an_answer_the_proxy_would_refuse_is_refused_here_and_too_many_give_up_the_oldest() {
        let mut outbox = Outbox::with_tag("c".into());
        assert_eq!(outbox.push("  ".into()), Err(Refused::Length(2)));
        let long = "é".repeat(MAX_TYPED_ANSWER_CHARS + 1);
        assert_eq!(
            outbox.push(long),
            Err(Refused::Length(MAX_TYPED_ANSWER_CHARS + 1))
        );
        for n in 0..MAX_UNACKNOWLEDGED {
            assert_eq!(outbox.push(format!("Answer {n}.")), Ok(None));
        }
        let dropped = outbox.push("One more.".into()).unwrap().unwrap();
        assert_eq!(dropped.text, "Answer 0.");
        let left = outbox.take_all();
        assert_eq!(left.len(), MAX_UNACKNOWLEDGED);
        assert_eq!(left.last().unwrap().text, "One more.");
    }

    #[test]
    fn ids_are_unique_per_call_and_within_the_proxys_limit() {
        let (mut a, mut b) = (Outbox::default(), Outbox::default());
        a.push("Yes.".into()).unwrap();
        b.push("Yes.".into()).unwrap();
        let (a, b) = (a.take_all(), b.take_all());
        assert_ne!(a[0].id, b[0].id);
        assert!(a[0].id.chars().count() <= viva_contract::proxy::MAX_TYPED_ANSWER_ID_CHARS);
    }

    #[test]
    fn a_notice_quotes_the_start_of_the_answer() {
        let mut outbox = Outbox::default();
        outbox.push("  I chose Rust.  ".into()).unwrap();
        outbox.push("x".repeat(100)).unwrap();
        let all = outbox.take_all();
        assert_eq!(all[0].excerpt(), "“I chose Rust.”");
        assert_eq!(
            all[1].excerpt(),
            format!("“{}…”", "x".repeat(EXCERPT_CHARS))
        );
    }
}
