//! `viva-localstack --listen ADDR --data-dir DIR [--seed demo]`: the embedded backend as a
//! standalone server for tests, scripts and trying Viva against "a backend".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use viva_localstack::{Config, LocalStack};

const USAGE: &str =
    "usage: viva-localstack [--listen 127.0.0.1:54321] [--data-dir DIR] [--seed demo]";

fn parse_args() -> Result<(Config, bool), String> {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 54321)),
        ..Config::default()
    };
    let mut seed = false;
    let (mut upstream_url, mut upstream_model) = (None, "gpt-realtime".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--listen" => config.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--data-dir" => config.data_dir = Some(PathBuf::from(value()?)),
            "--seed" => match value()?.as_str() {
                "demo" => seed = true,
                other => return Err(format!("unknown seed `{other}`; the only one is `demo`")),
            },
            "--upstream-url" => upstream_url = Some(value()?),
            "--upstream-model" => upstream_model = value()?,
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if let Some(url) = upstream_url {
        let key = std::env::var("VIVA_UPSTREAM_API_KEY")
            .map_err(|_| "--upstream-url needs the API key in VIVA_UPSTREAM_API_KEY".to_owned())?;
        let upstream = viva_localstack::proxy::HostedUpstream::new(&url, &key, &upstream_model)?;
        config.upstream = Some(std::sync::Arc::new(upstream));
    }
    if config.data_dir.is_none() {
        let home = std::env::var_os("HOME").ok_or("--data-dir is required when HOME is not set")?;
        config.data_dir = Some(PathBuf::from(home).join(".local/share/viva-localstack"));
    }
    Ok((config, seed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (config, seed) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let stack = match LocalStack::start(config.clone()).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("viva-localstack: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("viva-localstack listening on {}", stack.base_url);
    println!("anon key: {}", stack.anon_key);
    if let Some(dir) = &config.data_dir {
        println!("data: {}", dir.display());
    }
    if seed {
        match viva_localstack::seed::seed_demo(&stack).await {
            Ok(Some(demo)) => {
                println!("demo organisation seeded (these passwords are shown only now):");
                println!(
                    "  interviewer: {} / {}",
                    demo.interviewer.0, demo.interviewer.1
                );
                println!("  candidate:   {} / {}", demo.candidate.0, demo.candidate.1);
            }
            Ok(None) => println!(
                "demo organisation already seeded; its passwords were printed the first time"
            ),
            Err(error) => {
                eprintln!("viva-localstack: seeding failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("viva-localstack: cannot wait for Ctrl-C; stopping");
    }
    stack.shutdown().await;
    ExitCode::SUCCESS
}
