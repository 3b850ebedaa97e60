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

/// Reads `deno test`'s closing line, `ok | 59 passed | 0 failed (10s)` or
/// `FAILED | 38 passed (4 steps) | 3 failed | 2 ignored (3s)` (colour off).
pub fn from_deno_test(stdout: &str) -> Option<Counts> {
    let line =
        stdout.lines().rev().map(str::trim).find(|l| {
            (l.starts_with("ok |") || l.starts_with("FAILED |")) && l.contains(" passed")
        })?;
    let mut counts = Counts::default();
    for part in line.split('|').skip(1) {
        let mut words = part.split_whitespace();
        let (Some(number), Some(label)) = (words.next(), words.next()) else {
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
    Some(counts)
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

/// One Markdown table row per criterion benchmark found under `dir` (its `new` estimates).
pub fn criterion_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir()
                && path
                    .file_name()
                    .is_some_and(|n| n != "report" && n != "base")
            {
                pending.push(path.clone());
            }
            if path.ends_with("new/estimates.json")
                && let Some(row) = criterion_row(&path)
            {
                rows.push(row);
            }
        }
    }
    rows.sort();
    rows
}

fn criterion_row(estimates: &Path) -> Option<String> {
    let read = |path: &Path| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let mean_ns = read(estimates)?.pointer("/mean/point_estimate")?.as_f64()?;
    let benchmark = read(&estimates.with_file_name("benchmark.json"))?;
    let name = benchmark.get("full_id")?.as_str()?.to_owned();
    let throughput = benchmark.get("throughput").and_then(|t| {
        let (unit, count) = t.as_object()?.iter().next()?;
        let per_second = count.as_f64()? / (mean_ns / 1e9);
        Some(format!("{} {}/s", human(per_second), unit.to_lowercase()))
    });
    Some(format!(
        "| {name} | {} | {} |",
        duration(mean_ns),
        throughput.unwrap_or_else(|| "–".into())
    ))
}

fn human(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.1} k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn duration(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
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
    fn deno_test_closing_lines_are_read() {
        let ok = "running 3 tests from ./tests/a_test.ts\nx ... ok (2ms)\n\nok | 59 passed | 0 failed (10s)\n";
        assert_eq!(
            from_deno_test(ok),
            Some(Counts {
                passed: 59,
                failed: 0,
                skipped: 0
            })
        );
        let failed = "FAILED | 38 passed (4 steps) | 3 failed (1 step) | 2 ignored | 1 filtered out (3s)\n\nerror: Test failed\n";
        assert_eq!(
            from_deno_test(failed),
            Some(Counts {
                passed: 38,
                failed: 3,
                skipped: 2
            })
        );
        assert_eq!(from_deno_test("error: Module not found\n"), None);
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
