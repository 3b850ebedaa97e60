//! OpenAI's Python SDK as a test oracle: the interpreter `cargo xtask setup` installs it for,
//! and a long-lived script from `crates/realtime/sdk-oracle/` talked to one line at a time.
//!
//! A missing oracle fails the test that asks for it: it is never a reason to skip.

#![allow(dead_code)] // Each test binary uses its own subset.
#![allow(clippy::expect_used, clippy::panic)] // Test helpers fail loudly by design.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The Python with the pinned SDK (`openai==3.63.0`), from `VIVA_OPENAI_SDK_PYTHON`, which
/// `cargo xtask test` sets to the virtualenv `cargo xtask setup` makes.
pub fn sdk_python() -> PathBuf {
    const HOW: &str = "run `cargo xtask setup`, or set VIVA_OPENAI_SDK_PYTHON to a python with \
                       openai==3.63.0";
    let Some(python) = std::env::var_os("VIVA_OPENAI_SDK_PYTHON") else {
        panic!("VIVA_OPENAI_SDK_PYTHON is not set: {HOW}");
    };
    let python = PathBuf::from(python);
    assert!(
        python.is_file(),
        "VIVA_OPENAI_SDK_PYTHON is {}, which does not exist: {HOW}",
        python.display()
    );
    python
}

/// One running oracle script: each line written to it is answered by one line.
#[derive(Debug)]
pub struct Oracle {
    script: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    /// Starts `<sdk python> crates/realtime/sdk-oracle/<script>`; its stderr goes to the
    /// test's, so a Python traceback shows in the test output.
    pub fn spawn(script: &str) -> Oracle {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sdk-oracle")
            .join(script);
        assert!(script.is_file(), "no oracle script at {}", script.display());
        let python = sdk_python();
        let mut child = Command::new(&python)
            .arg(&script)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} {}: {e}",
                    python.display(),
                    script.display()
                )
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle {
            script,
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    /// Sends one line (a newline is added) and returns the oracle's one-line answer, without
    /// its newline.
    pub fn ask(&mut self, line: &str) -> String {
        assert!(
            !line.contains('\n'),
            "an oracle question is one line: {line:?}"
        );
        let stdin = self.stdin.as_mut().expect("the oracle's stdin is open");
        let script = self.script.display();
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write to the oracle {script}: {e}"));
        let mut answer = String::new();
        let read = self
            .stdout
            .read_line(&mut answer)
            .unwrap_or_else(|e| panic!("cannot read from the oracle {script}: {e}"));
        assert!(
            read > 0,
            "the oracle {script} ended without answering {line:?} (see its stderr above)"
        );
        answer.truncate(answer.trim_end_matches(['\r', '\n']).len());
        answer
    }
}

impl Drop for Oracle {
    /// Closes the oracle's stdin, so it ends at EOF, and waits for it.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
