//! `viva-localstack --listen ADDR --data-dir DIR [--seed demo]`: the embedded backend as a
//! standalone server for tests, scripts and trying Viva against "a backend". With
//! `--functions-url` it routes `/functions/v1/*` to a functions server (the Deno edge functions
//! of `supabase/functions`), as Supabase's gateway does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use viva_localstack::{Config, LocalStack};

const USAGE: &str =
    "usage: viva-localstack [--listen 127.0.0.1:54321] [--data-dir DIR] [--seed demo]
         [--voice-rollout PERCENT] [--jwt-alg es256|hs256] [--functions-url URL]
         [--upstream-url URL --upstream-model MODEL] [--print-service-role-key]
  The project key that /v1/live/sessions and /v1/realtime/client_secrets accept is read from
  VIVA_LOCAL_PROJECT_KEY (none: they refuse every request).
  The Deno functions behind it: run supabase/functions/_dev/serve.ts (its header says how), then
  --functions-url http://<its address>.";

/// What to do once the stack is up.
#[derive(Debug, Clone, Copy, Default)]
struct Actions {
    seed: bool,
    print_service_role_key: bool,
}

fn parse_args() -> Result<(Config, Actions), String> {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 54321)),
        ..Config::default()
    };
    let mut actions = Actions::default();
    let (mut upstream_url, mut upstream_model) = (None, "gpt-realtime".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--listen" => config.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--data-dir" => config.data_dir = Some(PathBuf::from(value()?)),
            "--seed" => match value()?.as_str() {
                "demo" => actions.seed = true,
                other => return Err(format!("unknown seed `{other}`; the only one is `demo`")),
            },
            "--upstream-url" => upstream_url = Some(value()?),
            "--upstream-model" => upstream_model = value()?,
            "--voice-rollout" => {
                config.voice_rollout_percent = value()?
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or("--voice-rollout: give a whole percentage from 0 to 100")?;
            }
            "--jwt-alg" => {
                config.token_algorithm = match value()?.to_ascii_lowercase().as_str() {
                    "es256" => viva_localstack::jwt::TokenAlgorithm::Es256,
                    "hs256" => viva_localstack::jwt::TokenAlgorithm::Hs256,
                    other => return Err(format!("--jwt-alg: `{other}` is not es256 or hs256")),
                };
            }
            "--functions-url" => config.functions_url = Some(value()?),
            "--print-service-role-key" => actions.print_service_role_key = true,
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
    config.live_api_key = std::env::var("VIVA_LOCAL_PROJECT_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    Ok((config, actions))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (config, actions) = match parse_args() {
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
    if actions.print_service_role_key {
        // Asked for explicitly: an operator's key for `viva admin`, never printed otherwise.
        match stack.state.keys.service_role_key() {
            Ok(key) => println!("service_role key: {key}"),
            Err(error) => {
                eprintln!("viva-localstack: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(dir) = &config.data_dir {
        println!("data: {}", dir.display());
    }
    if actions.seed {
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
