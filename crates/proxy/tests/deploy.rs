//! The deployment files in `deploy/` agree with the binary: the systemd unit's `ExecStart` line
//! is the command started here (with its own secrets as credential files), and every setting
//! the unit's example environment and the Fly.io app name is one the binary reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = include_str!("../../../deploy/viva-proxy.service");
const ENV_EXAMPLE: &str = include_str!("../../../deploy/viva-proxy.env.example");
const FLY: &str = include_str!("../../../deploy/fly.toml");

/// `Key=value` lines of the unit's `[Service]` section (the last one wins, as in systemd).
fn unit_service() -> BTreeMap<String, Vec<String>> {
    let mut section = "";
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]"
            && let Some((key, value)) = line.split_once('=')
            && !line.starts_with('#')
        {
            keys.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    keys
}

/// The variables `viva-proxy --help` says it reads.
fn settings_the_binary_reads() -> Vec<String> {
    let help = Command::new(env!("CARGO_BIN_EXE_viva-proxy"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let mut names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect();
    // Secrets and the log filter are read from the environment only, never flags.
    for secret in [
        "VIVA_PROXY_PROVIDER_KEY",
        "VIVA_PROXY_JWT_SECRET",
        "VIVA_PROXY_DATABASE_URL",
    ] {
        names.push(secret.to_owned());
        names.push(format!("{secret}_FILE"));
    }
    names.push("VIVA_LOG".to_owned());
    names
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_setting_the_deployment_files_name_is_one_the_binary_reads() {
    let known = settings_the_binary_reads();
    assert!(
        known.contains(&"VIVA_PROXY_BACKEND_URL".to_owned()),
        "{known:?}"
    );
    let example = ENV_EXAMPLE
        .lines()
        .map(|l| l.trim().trim_start_matches('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| k.starts_with("VIVA_"));
    let fly: toml::Table = toml::from_str(FLY).unwrap();
    let fly_env = fly["env"].as_table().unwrap().keys().cloned();
    let unit_env = unit_service()
        .get("Environment")
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.split_once('=').map(|(k, _)| k.to_owned()));
    for name in example.chain(fly_env).chain(unit_env) {
        assert!(
            known.contains(&name),
            "{name} is not a setting viva-proxy reads"
        );
    }
}

#[test]
fn the_fly_app_matches_the_binary_port_health_path_and_drain() {
    let fly: toml::Table = toml::from_str(FLY).unwrap();
    let env = fly["env"].as_table().unwrap();
    let listen = env["VIVA_PROXY_LISTEN"].as_str().unwrap();
    let port: i64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    let service = fly["http_service"].as_table().unwrap();
    assert_eq!(service["internal_port"].as_integer(), Some(port));
    assert_eq!(service["auto_stop_machines"].as_str(), Some("off"));
    let checks = service["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["path"].as_str() == Some("/health")));
    let drain: i64 = env["VIVA_PROXY_DRAIN_TIMEOUT_S"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let kill = fly["kill_timeout"].as_integer().unwrap();
    assert!(
        kill >= drain + 5,
        "kill_timeout {kill} leaves the drain ({drain} s) no margin"
    );
    assert_eq!(fly["kill_signal"].as_str(), Some("SIGTERM"));
    let metrics_listen = env["VIVA_PROXY_METRICS_LISTEN"].as_str().unwrap();
    let metrics_port: i64 = metrics_listen.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(fly["metrics"]["port"].as_integer(), Some(metrics_port));
    assert_eq!(fly["metrics"]["path"].as_str(), Some("/metrics"));
    assert_eq!(
        env["VIVA_PROXY_CLIENT_IP_HEADER"].as_str(),
        Some("fly-client-ip")
    );
}

#[tokio::test]
async fn the_units_command_line_starts_serves_health_and_stops_cleanly_within_its_stop_timeout() {
    let unit = unit_service();
    let exec = unit["ExecStart"].last().unwrap();
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/viva-proxy"));
    let port = free_port();
    // Exactly the unit's arguments, but on a port free here.
    let args: Vec<String> = words
        .map(|w| {
            if w.starts_with("127.0.0.1:") {
                format!("127.0.0.1:{port}")
            } else {
                w.to_owned()
            }
        })
        .collect();
    assert!(
        args.iter().any(|a| a == &format!("127.0.0.1:{port}")),
        "{exec}"
    );
    let stop_timeout: u64 = unit["TimeoutStopSec"].last().unwrap().parse().unwrap();
    let drain_at = args.iter().position(|a| a == "--drain-timeout-s").unwrap();
    let drain: u64 = args[drain_at + 1].parse().unwrap();
    assert!(
        stop_timeout >= drain + 5,
        "TimeoutStopSec leaves the drain no margin"
    );
    assert_eq!(
        unit["KillSignal"].last().map(String::as_str),
        Some("SIGTERM")
    );

    // The provider key arrives as a credential file, as LoadCredential hands it over.
    let credentials = tempfile::tempdir().unwrap();
    let key_file = credentials.path().join("provider-key");
    let metrics_port = free_port();
    std::fs::write(&key_file, "sk-from-a-credential\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_viva-proxy"))
        .args(&args)
        .env_clear()
        .env("VIVA_PROXY_BACKEND_URL", "http://127.0.0.1:9")
        .env("VIVA_PROXY_ANON_KEY", "anon")
        .env("VIVA_PROXY_UPSTREAM_URL", "http://127.0.0.1:9")
        .env("VIVA_PROXY_PROVIDER_KEY_FILE", &key_file)
        // The unit serves metrics on 127.0.0.1:9091; here, on a port free here.
        .env(
            "VIVA_PROXY_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(response) = reqwest::get(&health).await
            && response.status().is_success()
        {
            break response.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "viva-proxy did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body.contains("\"lease\":\"memory\""), "{body}");
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("viva_proxy_connections_open 0"),
        "{metrics}"
    );
    let stopped = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(stop_timeout),
            "still running {stop_timeout} s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(!logs.contains("sk-from-a-credential"), "{logs}");
}

#[test]
fn the_guide_lists_exactly_the_settings_the_binary_reads() {
    let guide = include_str!("../../../docs/deploying.md");
    let from = guide.find("## 5. The SDP proxy").unwrap();
    let to = guide[from..].find("## 6. ").unwrap() + from;
    let step = &guide[from..to];
    // Rows of step 5's tables name a setting or two (`A`, `B`) in their first cell.
    let listed: Vec<String> = step
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split('`')
                .filter(|w| w.starts_with("VIVA_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let known = settings_the_binary_reads();
    for name in &listed {
        assert!(
            known.contains(name),
            "the guide lists {name}, which viva-proxy never reads"
        );
    }
    for name in known.iter().filter(|n| !n.ends_with("_FILE")) {
        assert!(
            listed.contains(name),
            "the guide's step 5 does not list {name}"
        );
    }
}
