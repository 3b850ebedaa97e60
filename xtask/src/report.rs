//! Test counts from each runner, and the one summary line `cargo xtask test` ends with.

use std::path::Path;

/// What one suite reported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Reads the totals from the root `<testsuites>` element of nextest's JUnit report.
pub fn from_junit(xml: &str) -> Option<Counts> {
    let start = xml.find("<testsuites")?;
    let tag = &xml[start..start + xml[start..].find('>')?];
    let attribute = |name: &str| -> Option<u64> {
        let key = format!(" {name}=\"");
        let from = tag.find(&key)? + key.len();
        tag[from..].split('"').next()?.parse().ok()
    };
    let tests = attribute("tests")?;
    let failed = attribute("failures").unwrap_or(0) + attribute("errors").unwrap_or(0);
    Some(Counts {
        passed: tests.saturating_sub(failed),
        failed,
        skipped: 0,
    })
}

/// Sums libtest's `test result: ok. 3 passed; 1 failed; 2 ignored; ...` lines.
pub fn from_libtest(stdout: &str) -> Counts {
    let mut counts = Counts::default();
    for line in stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("test result:"))
    {
        for part in line.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => counts.passed += number,
                "failed" => counts.failed += number,
                "ignored" => counts.skipped += number,
                _ => {}
            }
        }
    }
    counts
}

/// Reads Vitest's JSON reporter output.
pub fn from_vitest(path: &Path) -> Option<Counts> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let number = |key: &str| {
        json.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    Some(Counts {
        passed: number("numPassedTests"),
        failed: number("numFailedTests"),
        skipped: number("numPendingTests") + number("numTodoTests"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_totals_subtract_failures_and_errors() {
        let xml = r#"<?xml version="1.0"?><testsuites name="nextest-run" tests="12" failures="2" errors="1" uuid="x"><testsuite/></testsuites>"#;
        assert_eq!(
            from_junit(xml),
            Some(Counts {
                passed: 9,
                failed: 3,
                skipped: 0
            })
        );
        assert_eq!(from_junit("<nothing/>"), None);
    }

    #[test]
    fn libtest_lines_are_summed_across_binaries() {
        let out = "running 3 tests\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                   test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(
            from_libtest(out),
            Counts {
                passed: 4,
                failed: 2,
                skipped: 1
            }
        );
    }

    #[test]
    fn the_summary_line_has_the_form_ci_reads() {
        let counts = Counts {
            passed: 7,
            failed: 0,
            skipped: 0,
        };
        assert_eq!(counts.to_string(), "7 passed, 0 failed");
        let counts = Counts {
            passed: 7,
            failed: 1,
            skipped: 2,
        };
        assert_eq!(counts.to_string(), "7 passed, 1 failed, 2 skipped");
    }
}
