//! Cutting a line longer than the contract allows into consecutive parts. The local transcript
//! keeps the line whole; only what goes to the backend is cut, at whitespace where there is
//! some, and the parts joined give back the exact text.

use crate::MAX_LINE_CHARS;

/// How far back from the limit a cut looks for whitespace before cutting inside a word.
const LOOK_BACK_CHARS: usize = 200;

/// The parts of `text`, each at most `max_chars` characters (at least 1), in order; their
/// concatenation is `text`. A text within the limit is one part.
#[must_use]
pub fn split_text(text: &str, max_chars: usize) -> Vec<&str> {
    let max_chars = max_chars.max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        // The byte offset just after `max_chars` characters, if the rest is longer than that.
        let Some((limit, _)) = rest.char_indices().nth(max_chars) else {
            parts.push(rest);
            return parts;
        };
        let window = &rest[..limit];
        // Cut after the last whitespace near the end of the window, keeping it in this part.
        let look_back_from = window
            .char_indices()
            .rev()
            .nth(LOOK_BACK_CHARS.min(max_chars - 1))
            .map_or(0, |(at, _)| at);
        let cut = window[look_back_from..]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map(|(at, c)| look_back_from + at + c.len_utf8())
            .filter(|cut| *cut > 0)
            .unwrap_or(limit);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
}

/// The id of part `index` (0-based) of a cut line: the first part keeps the line's id, later
/// ones append `#p0002`, `#p0003`, ... so that they sort right after it (`#` sorts before
/// letters and digits) and stay the same on every upload.
#[must_use]
pub fn part_item_id(item_id: &str, index: usize) -> String {
    if index == 0 {
        item_id.to_owned()
    } else {
        format!("{item_id}#p{:04}", index + 1)
    }
}

/// [`split_text`] at the contract's limit.
#[must_use]
pub fn split_line(text: &str) -> Vec<&str> {
    split_text(text, MAX_LINE_CHARS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_long_answer_is_cut_at_spaces_and_nothing_is_lost() {
        let answer = "word ".repeat(5_000); // 25,000 characters
        let parts = split_text(&answer, MAX_LINE_CHARS);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].ends_with(' '), "cut inside a word");
        assert_eq!(parts.concat(), answer);
        assert_eq!(split_text("short", MAX_LINE_CHARS), ["short"]);
        assert_eq!(split_text("", MAX_LINE_CHARS), [""]);
        assert_eq!(split_text("abcdef", 4), ["abcd", "ef"]);
        assert_eq!(part_item_id("item_1", 0), "item_1");
        assert_eq!(part_item_id("item_1", 1), "item_1#p0002");
        assert!(part_item_id("item_1", 1) < part_item_id("item_1", 9));
        assert!(part_item_id("item_1", 9).as_str() < "item_10");
    }

    proptest! {
        #[test]
        fn parts_rebuild_the_text_and_respect_the_limit(text in "\\PC{0,400}", max in 1usize..50) {
            let parts = split_text(&text, max);
            prop_assert_eq!(parts.concat(), text.clone());
            for part in &parts {
                prop_assert!(part.chars().count() <= max);
            }
            prop_assert!(parts.len() == 1 || parts.iter().all(|p| !p.is_empty()));
        }
    }
}
