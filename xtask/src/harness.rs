//! The end-to-end environment: Xvfb, a private D-Bus session with an unlocked gnome-keyring, a
//! private PulseAudio whose null sink `vmic` is the default microphone, and tauri-driver.
//!
//! Every daemon runs in its own process group and is stopped by PID when the harness is dropped,
//! also when a step fails. Their PIDs are kept in a file so a run that was killed outright is
//! cleaned up by the next one.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::shell::output;

/// The null sink tests speak into; its monitor is the default input device.
pub const MIC_SINK: &str = "vmic";
/// The null sink the app plays into: the default output, kept apart from the microphone.
pub const SPEAKER_SINK: &str = "vspeakers";
const KEYRING_PASSWORD: &str = "viva-harness";
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
struct Daemon {
    name: &'static str,
    child: Child,
}

/// A running harness; its environment variables point tests and the app at it.
#[derive(Debug)]
pub struct Harness {
    pub env: Vec<(String, String)>,
    pub artifacts: PathBuf,
    daemons: Vec<Daemon>,
    pid_file: PathBuf,
    /// Directories outside the run directory to remove when the harness stops.
    scratch_dirs: Vec<PathBuf>,
}

impl Harness {
    /// Starts every daemon; tauri-driver only when its path is given (tests, not screenshots).
    /// The app it starts finds the offline speech model in `model_dir`.
    pub fn start(cache: &Path, model_dir: &Path, tauri_driver: Option<&Path>) -> Result<Self> {
        let base = cache.join("harness");
        let pid_file = base.join("daemons.pid");
        stop_stale_daemons(&pid_file);
        let run_dir = base.join(format!("run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        let dir = |name: &str| -> Result<PathBuf> {
            let path = run_dir.join(name);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            Ok(path)
        };
        let runtime = dir("runtime")?;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))?;
        let artifacts = dir("artifacts")?;
        let mut harness = Harness {
            env: Vec::new(),
            artifacts: artifacts.clone(),
            daemons: Vec::new(),
            pid_file,
            scratch_dirs: Vec::new(),
        };
        // A private home for everything the app, WebKit, mesa, dconf and the daemons write.
        harness.set("XDG_RUNTIME_DIR", &runtime);
        harness.set("XDG_DATA_HOME", dir("data")?);
        harness.set("XDG_CONFIG_HOME", dir("config")?);
        harness.set("XDG_CACHE_HOME", dir("cache")?);
        harness.set("XDG_STATE_HOME", dir("state")?);
        harness.set("VIVA_E2E_ARTIFACTS", &artifacts);
        // The private cache above holds no model; offline practice needs the real one.
        harness.set("VIVA_MODEL_DIR", model_dir);
        // Not WEBKIT_DISABLE_DMABUF_RENDERER: it saves memory but makes WebDriver screenshots hang.
        harness.set("NO_AT_BRIDGE", "1");
        harness.set("GDK_BACKEND", "x11");

        harness.start_display()?;
        harness.start_dbus_and_keyring()?;
        harness.start_pulseaudio()?;
        harness.start_postgres()?;
        harness.start_pgbouncer()?;
        if let Some(driver) = tauri_driver {
            harness.start_tauri_driver(driver)?;
        }
        Ok(harness)
    }

    /// Only the PostgreSQL cluster (for the edge functions' benchmark), with a PID file of its
    /// own so it never stops the daemons of a full harness running beside it.
    pub fn postgres_only(cache: &Path) -> Result<Self> {
        let base = cache.join("harness");
        let pid_file = base.join("postgres-only.pid");
        stop_stale_daemons(&pid_file);
        let artifacts = base.join(format!("pg-{}", std::process::id()));
        std::fs::create_dir_all(&artifacts)
            .with_context(|| format!("cannot create {}", artifacts.display()))?;
        let mut harness = Harness {
            env: Vec::new(),
            artifacts: artifacts.clone(),
            daemons: Vec::new(),
            pid_file,
            scratch_dirs: vec![artifacts],
        };
        harness.start_postgres()?;
        Ok(harness)
    }

    fn set(&mut self, key: &str, value: impl AsRef<Path>) {
        self.env
            .push((key.to_owned(), value.as_ref().display().to_string()));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A command that runs inside the harness environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn spawn(&mut self, name: &'static str, mut command: Command) -> Result<&mut Child> {
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        // Own process group: stopping the group also stops what the daemon started.
        command.process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("harness: cannot start {name}"))?;
        let mut pids = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.pid_file)?;
        writeln!(pids, "{} {name}", child.id())?;
        self.daemons.push(Daemon { name, child });
        let last = self.daemons.len() - 1;
        Ok(&mut self.daemons[last].child)
    }

    fn start_display(&mut self) -> Result<()> {
        for display in 90..140 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{display}-lock")).exists() {
                continue;
            }
            let mut xvfb = Command::new("Xvfb");
            xvfb.arg(format!(":{display}"))
                .args([
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = self.spawn("Xvfb", xvfb)?;
            let started = wait_until(START_TIMEOUT, || socket.exists());
            if started && matches!(child.try_wait(), Ok(None)) {
                self.set("DISPLAY", format!(":{display}"));
                return Ok(());
            }
            self.stop_last();
        }
        bail!("harness: Xvfb did not start on any display from :90 to :139")
    }

    fn start_dbus_and_keyring(&mut self) -> Result<()> {
        let mut dbus = Command::new("dbus-daemon");
        dbus.args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let child = self.spawn("dbus-daemon", dbus)?;
        let stdout = child
            .stdout
            .take()
            .context("harness: dbus-daemon gave no stdout")?;
        let mut address = String::new();
        BufReader::new(stdout).read_line(&mut address)?;
        let address = address.trim().to_owned();
        if address.is_empty() {
            bail!("harness: dbus-daemon did not print its address");
        }
        self.set("DBUS_SESSION_BUS_ADDRESS", &address);

        let mut keyring = Command::new("gnome-keyring-daemon");
        keyring
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = self.spawn("gnome-keyring-daemon", keyring)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(KEYRING_PASSWORD.as_bytes())?;
        }
        let owned = wait_until(START_TIMEOUT, || {
            output(self.command("dbus-send").args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ]))
            .is_some_and(|reply| reply.contains("boolean true"))
        });
        if !owned {
            bail!(
                "harness: gnome-keyring-daemon did not take org.freedesktop.secrets on the session bus"
            );
        }
        Ok(())
    }

    fn start_pulseaudio(&mut self) -> Result<()> {
        let runtime = PathBuf::from(self.get("XDG_RUNTIME_DIR").unwrap_or_default());
        self.set(
            "PULSE_SERVER",
            format!("unix:{}", runtime.join("pulse/native").display()),
        );
        // Kept with the run's artifacts: a test that loses the sound server quotes its tail.
        let pulse_log = self.artifacts.join("pulseaudio.log");
        self.set("VIVA_E2E_PULSE_LOG", &pulse_log);
        // One cookie for the server and every client. Without a cookie file the server keeps an
        // in-memory key, and cpal's PulseAudio client then sends an empty one, which PulseAudio
        // treats as a protocol error: every device test would silently fall back to ALSA.
        let cookie =
            PathBuf::from(self.get("XDG_CONFIG_HOME").unwrap_or_default()).join("pulse/cookie");
        write_pulse_cookie(&cookie)?;
        self.set("PULSE_COOKIE", &cookie);
        let mut pulse = Command::new("pulseaudio");
        pulse
            .args(["--daemonize=no", "-n", "--exit-idle-time=-1", "--system=false", "--disallow-exit"])
            .arg(format!("--log-target=file:{}", pulse_log.display()))
            .arg("--log-level=notice")
            .args(["-L", &format!("module-native-protocol-unix auth-cookie={}", cookie.display())])
            .args(["-L", &format!("module-null-sink sink_name={MIC_SINK} rate=48000 sink_properties=device.description=Viva-virtual-microphone")])
            // What the app plays goes to its own sink: were it the microphone's, the
            // interviewer would hear itself and stop mid-question.
            .args(["-L", &format!("module-null-sink sink_name={SPEAKER_SINK} rate=48000 sink_properties=device.description=Viva-virtual-speakers")])
            .args(["-L", "module-always-sink"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.spawn("pulseaudio", pulse)?;
        if !wait_until(START_TIMEOUT, || {
            output(self.command("pactl").arg("info")).is_some()
        }) {
            bail!("harness: PulseAudio did not start (pactl info fails)");
        }
        for (what, value) in [
            ("set-default-sink", SPEAKER_SINK.to_owned()),
            ("set-default-source", format!("{MIC_SINK}.monitor")),
        ] {
            if output(self.command("pactl").args([what, &value])).is_none() {
                bail!("harness: `pactl {what} {value}` failed");
            }
        }
        // A silent low-latency stream keeps the null sink ticking in small blocks; without it the
        // first capture callback arrives about two seconds late.
        let mut keepalive = Command::new("pacat");
        keepalive
            .args([
                "-p",
                "-d",
                MIC_SINK,
                "--latency-msec=20",
                "--raw",
                "--format=s16le",
                "--rate=48000",
                "--channels=1",
                "/dev/zero",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.spawn("pacat", keepalive)?;
        self.set("VIVA_E2E_MIC_SINK", MIC_SINK);
        self.set("VIVA_E2E_SPEAKER_SINK", SPEAKER_SINK);
        Ok(())
    }

    /// A throw-away PostgreSQL cluster on a loopback port, for the hosted-schema tests. It
    /// lives under /tmp because the server runs as the `postgres` user, who cannot enter
    /// root's home.
    fn start_postgres(&mut self) -> Result<()> {
        let Some(bin) = postgres_bin_dir() else {
            bail!("harness: PostgreSQL is not installed (package `postgresql`)");
        };
        let dir = PathBuf::from(format!("/tmp/viva-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let as_server_user = |program: PathBuf| -> Command {
            if crate::shell::is_root() {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            } else {
                Command::new(program)
            }
        };
        if crate::shell::is_root() {
            crate::shell::run(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
        }
        let data = dir.join("data");
        let mut initdb = as_server_user(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        if output(&mut initdb).is_none() {
            bail!("harness: initdb failed for {}", data.display());
        }
        let port = free_port()?;
        let mut server = as_server_user(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ])
            .arg("-k")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.spawn("postgres", server)?;
        self.scratch_dirs.push(dir);
        let ready = wait_until(START_TIMEOUT, || {
            output(Command::new(bin.join("pg_isready")).args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]))
            .is_some()
        });
        if !ready {
            bail!("harness: PostgreSQL did not accept connections on port {port}");
        }
        self.set("VIVA_TEST_PG_PORT", port.to_string());
        self.set("VIVA_TEST_PG_BIN", &bin);
        Ok(())
    }

    /// pgbouncer in transaction mode in front of that cluster (any database, any role; trust,
    /// as the cluster), a stand-in for Supabase's Supavisor: the SDP proxy's lease tests run
    /// through it, where every statement may land on another server connection.
    fn start_pgbouncer(&mut self) -> Result<()> {
        let Some(pg_port) = self.get("VIVA_TEST_PG_PORT").map(str::to_owned) else {
            bail!("harness: pgbouncer needs the PostgreSQL cluster first");
        };
        let program = PathBuf::from("/usr/sbin/pgbouncer");
        if !program.is_file() {
            bail!("harness: pgbouncer is not installed (package `pgbouncer`)");
        }
        let dir = PathBuf::from(format!("/tmp/viva-pgbouncer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let config = dir.join("pgbouncer.ini");
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host=127.0.0.1 port={pg_port}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_user = postgres\npool_mode = transaction\n\
                 default_pool_size = 8\nmax_client_conn = 500\n\
                 ignore_startup_parameters = extra_float_digits,options\n"
            ),
        )?;
        // pgbouncer refuses to run as root: it runs as the cluster's user, like the server.
        let mut command = if crate::shell::is_root() {
            crate::shell::run(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:postgres")
                    .arg(&dir),
            )?;
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.spawn("pgbouncer", command)?;
        self.scratch_dirs.push(dir);
        if !wait_until(START_TIMEOUT, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            bail!("harness: pgbouncer did not listen on port {port}");
        }
        self.set("VIVA_TEST_PGBOUNCER_PORT", port.to_string());
        Ok(())
    }

    fn start_tauri_driver(&mut self, driver: &Path) -> Result<()> {
        let port = free_port()?;
        let native_port = free_port()?;
        let mut command = Command::new(driver);
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.spawn("tauri-driver", command)?;
        if !wait_until(START_TIMEOUT, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            bail!("harness: tauri-driver did not listen on port {port}");
        }
        self.set("VIVA_E2E_WEBDRIVER", format!("http://127.0.0.1:{port}"));
        Ok(())
    }

    fn stop_last(&mut self) {
        if let Some(mut daemon) = self.daemons.pop() {
            stop_group(daemon.child.id(), daemon.name);
            let _ = daemon.child.wait();
        }
    }

    pub fn stop(&mut self) {
        while !self.daemons.is_empty() {
            self.stop_last();
        }
        for dir in self.scratch_dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends TERM to a daemon's process group, then KILL if it is still there after a moment.
fn stop_group(pid: u32, name: &str) {
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status()
    };
    let _ = signal("-TERM");
    let gone = wait_until(Duration::from_secs(3), || {
        !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid)
    });
    if !gone {
        eprintln!("harness: {name} ({pid}) ignored TERM; killing it");
        let _ = signal("-KILL");
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Stops daemons a previous run left behind (it was killed before it could clean up), but only
/// processes that still run the program that was recorded, never a reused PID.
fn stop_stale_daemons(pid_file: &Path) {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return;
    };
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(pid), Some(name)) = (
            parts.next().and_then(|p| p.parse::<u32>().ok()),
            parts.next(),
        ) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(name) {
            stop_group(pid, name);
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

/// The newest installed PostgreSQL's binaries (Debian keeps them per major version).
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            Some((
                entry.file_name().to_str()?.parse().ok()?,
                entry.path().join("bin"),
            ))
        })
        .filter(|(_, bin)| bin.join("postgres").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

/// Writes a fresh 256-byte PulseAudio authentication cookie (owner-only), read from the
/// kernel's random source so no key is ever committed or reused between runs.
fn write_pulse_cookie(path: &Path) -> Result<()> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut key = [0u8; 256];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&key)?;
    Ok(())
}
