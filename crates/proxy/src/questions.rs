//! The built-in question sets (TOML, in `crates/proxy/questions/`): what an interview asks.

use serde::Deserialize;

/// One question set, as written in `questions/*.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct QuestionSet {
    pub id: String,
    pub title: String,
    pub greeting: String,
    pub closing: String,
    pub questions: Vec<String>,
}

pub const BUILT_IN: &[&str] = &[
    include_str!("../questions/general_behavioural.toml"),
    include_str!("../questions/software_engineer.toml"),
    include_str!("../questions/product_manager.toml"),
];

/// The default set, used when a session names one that does not exist.
pub const DEFAULT_SET: &str = "general_behavioural";

/// Every built-in set. The files are part of the binary and checked by a test, so parsing
/// cannot fail at run time; a broken one is skipped rather than taking the interviewer down.
pub fn question_sets() -> Vec<QuestionSet> {
    BUILT_IN
        .iter()
        .filter_map(|text| toml::from_str(text).ok())
        .collect()
}

/// The set with this id, or the default set.
pub fn question_set(id: &str) -> Option<QuestionSet> {
    let sets = question_sets();
    let position = sets
        .iter()
        .position(|s| s.id == id)
        .or_else(|| sets.iter().position(|s| s.id == DEFAULT_SET))?;
    sets.into_iter().nth(position)
}

/// The id of the built-in set named between backticks in `text` (a Live session's
/// instructions), else the default set's.
pub fn question_set_named_in(text: &str) -> String {
    let sets = question_sets();
    text.split('`')
        .skip(1)
        .step_by(2)
        .find_map(|named| sets.iter().find(|s| s.id == named))
        .map_or_else(|| DEFAULT_SET.to_owned(), |s| s.id.clone())
}
