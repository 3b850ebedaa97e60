//! The order the interviewer says a question set in: a greeting with the first question, each
//! next question after a candidate turn, then a closing line.

pub use viva_proxy::questions::*;

/// What the interviewer says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// The closing line: nothing follows it.
    pub closing: bool,
}

/// Where the interview is.
#[derive(Debug, Clone)]
pub struct Script {
    set: QuestionSet,
    next: usize,
    closed: bool,
}

impl Script {
    pub fn new(set: QuestionSet) -> Self {
        Self {
            set,
            next: 0,
            closed: false,
        }
    }

    pub fn set(&self) -> &QuestionSet {
        &self.set
    }

    pub fn is_over(&self) -> bool {
        self.closed
    }

    /// The next line, or `None` once the closing line was said.
    pub fn next_line(&mut self) -> Option<Line> {
        if self.closed {
            return None;
        }
        let line = match self.set.questions.get(self.next) {
            Some(question) if self.next == 0 => Line {
                text: format!("{} {}", self.set.greeting, question),
                closing: false,
            },
            Some(question) => Line {
                text: question.clone(),
                closing: false,
            },
            None => {
                self.closed = true;
                Line {
                    text: self.set.closing.clone(),
                    closing: true,
                }
            }
        };
        self.next += 1;
        Some(line)
    }

    /// A line was said on an earlier connection of this session (the client replayed it):
    /// the next line is the one after it.
    pub fn already_said(&mut self) {
        if self.next < self.set.questions.len() {
            self.next += 1;
        } else {
            self.closed = true;
        }
    }

    /// A new session of an interview that already ran, given what the interviewer said so far
    /// (a Live session's `input`, in order): the script goes on after the last of its lines
    /// found in those words, wherever the transcript split or joined them; a line cut off
    /// before its end is not found, so it is asked again. When none is found, each message
    /// counts as one line said (as a Realtime replay counts completed items). Returns whether
    /// what was said ends with a whole line of the script (false: it was cut off, or
    /// nothing was said, and the interviewer owes the next turn).
    pub fn resume<'a>(&mut self, said: impl IntoIterator<Item = &'a str>) -> bool {
        let said: Vec<&str> = said.into_iter().collect();
        let spoken = format!(" {} ", normalise(&said.join(" ")));
        let found = |line: &str| {
            let line = normalise(line);
            !line.is_empty() && spoken.contains(&format!(" {line} "))
        };
        // Joined, since a backchannel may have split the last line across messages.
        let last = spoken.trim_end();
        let whole = self
            .set
            .questions
            .iter()
            .chain([&self.set.closing, &self.set.greeting])
            .map(|line| normalise(line))
            .any(|line| !line.is_empty() && last.ends_with(&format!(" {line}")));
        if found(&self.set.closing) {
            self.next = self.set.questions.len() + 1;
            self.closed = true;
            return whole;
        }
        match self.set.questions.iter().rposition(|q| found(q)) {
            Some(last) => self.next = last + 1,
            None => {
                for _ in &said {
                    self.already_said();
                }
                // Another interviewer's words: taken as whole lines.
                return !said.is_empty();
            }
        }
        whole
    }

    /// A cancelled line is asked again next time (the candidate interrupted it).
    pub fn repeat_last(&mut self) {
        if self.closed {
            return;
        }
        self.next = self.next.saturating_sub(1);
    }
}

/// Lower case, letters and digits only, one space between words.
fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_set_parses_and_has_questions() {
        assert_eq!(question_sets().len(), BUILT_IN.len());
        for id in [
            "general_behavioural",
            "software_engineer",
            "product_manager",
        ] {
            let set = question_set(id).unwrap();
            assert_eq!(set.id, id);
            assert!(set.questions.len() >= 3);
        }
        assert_eq!(question_set("no-such-set").unwrap().id, DEFAULT_SET);
    }

    #[test]
    fn greeting_then_questions_then_a_closing_line_then_nothing() {
        let set = QuestionSet {
            id: "t".into(),
            title: "T".into(),
            greeting: "Hi.".into(),
            closing: "Bye.".into(),
            questions: vec!["One?".into(), "Two?".into()],
        };
        let mut script = Script::new(set);
        assert_eq!(script.next_line().unwrap().text, "Hi. One?");
        assert_eq!(script.next_line().unwrap().text, "Two?");
        script.repeat_last();
        assert_eq!(script.next_line().unwrap().text, "Two?");
        let closing = script.next_line().unwrap();
        assert!(closing.closing && closing.text == "Bye.");
        assert!(script.is_over());
        assert_eq!(script.next_line(), None);
    }

    fn two_questions() -> QuestionSet {
        QuestionSet {
            id: "t".into(),
            title: "T".into(),
            greeting: "Hi.".into(),
            closing: "Bye now.".into(),
            questions: vec!["Tell me about yourself?".into(), "What went wrong?".into()],
        }
    }

    #[test]
    fn a_resumed_script_goes_on_after_the_last_line_found_in_what_was_said() {
        let mut script = Script::new(two_questions());
        // Split by a backchannel, with different punctuation and case.
        assert!(script.resume(["Hi. Tell me about", "yourself."]));
        assert_eq!(script.next_line().unwrap().text, "What went wrong?");
        // A question cut off is asked again, and the interviewer owes it.
        let mut cut = Script::new(two_questions());
        assert!(!cut.resume(["Hi. Tell me about yourself?", "What went"]));
        assert_eq!(cut.next_line().unwrap().text, "What went wrong?");
        // Everything asked: the closing line is next; the closing said: nothing is.
        let mut asked = Script::new(two_questions());
        assert!(asked.resume(["Hi. Tell me about yourself?", "What went wrong?"]));
        assert!(asked.next_line().unwrap().closing);
        let mut over = Script::new(two_questions());
        over.resume(["What went wrong?", "Thanks. Bye now."]);
        assert!(over.is_over() && over.next_line().is_none());
        // Words of another interviewer: each message counts as a line said.
        let mut other = Script::new(two_questions());
        other.resume(["Welcome! Shall we begin?"]);
        assert_eq!(other.next_line().unwrap().text, "What went wrong?");
        // Nothing said: the greeting comes first.
        let mut fresh = Script::new(two_questions());
        assert!(!fresh.resume([]));
        assert_eq!(
            fresh.next_line().unwrap().text,
            "Hi. Tell me about yourself?"
        );
    }

    #[test]
    fn the_set_named_in_instructions_is_found_between_backticks() {
        assert_eq!(
            question_set_named_in("Ask the `software_engineer` set's questions"),
            "software_engineer"
        );
        assert_eq!(
            question_set_named_in("`nope` and `product_manager`"),
            "product_manager"
        );
        assert_eq!(question_set_named_in("no set here"), DEFAULT_SET);
    }

    #[test]
    fn lines_said_on_an_earlier_connection_are_not_said_again() {
        let set = QuestionSet {
            id: "t".into(),
            title: "T".into(),
            greeting: "Hi.".into(),
            closing: "Bye.".into(),
            questions: vec!["One?".into(), "Two?".into()],
        };
        let mut script = Script::new(set.clone());
        script.already_said();
        assert_eq!(script.next_line().unwrap().text, "Two?");
        let mut finished = Script::new(set);
        for _ in 0..3 {
            finished.already_said();
        }
        assert!(finished.is_over());
        assert_eq!(finished.next_line(), None);
    }
}
