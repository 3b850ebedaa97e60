//! The recording notice a candidate agrees to before an interview: its version names which
//! text they read, and `interview-start` records it with the session (docs/protocols.md §1).

/// The version of the notice this client shows. Change it whenever the notice's meaning changes,
/// so a session's record says which text the candidate agreed to.
pub const NOTICE_VERSION: &str = "viva-2026-12";

/// Whether `version` may name a notice on the wire: 1 to 64 of `A-Z a-z 0-9 . _ -`.
#[must_use]
pub fn is_notice_version(version: &str) -> bool {
    (1..=64).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_versions_are_short_plain_names() {
        assert!(is_notice_version(NOTICE_VERSION));
        assert!(is_notice_version(&"v".repeat(64)));
        for bad in [
            "",
            "viva 2026",
            "vivá",
            "a/b",
            "x'--",
            "%s",
            &"v".repeat(65),
        ] {
            assert!(!is_notice_version(bad), "{bad:?}");
        }
    }
}
