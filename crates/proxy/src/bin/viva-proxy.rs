//! `viva-proxy`: the SDP proxy as its own service. It verifies the candidate's Supabase token,
//! holds the one live connection per interview, and creates the call with the voice service
//! using the provider key only it holds. Settings are flags or `VIVA_PROXY_*` variables;
//! secrets are variables or files only (docs/deploying.md).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use viva_proxy::auth::jwks::JwksVerifier;
use viva_proxy::lease::pg::{PgLeases, Timing};
use viva_proxy::lease::{Leases, MemoryLeases};
use viva_proxy::limits::ConnectLimits;
use viva_proxy::observe::{CheckError, NoObservations, Observations, PgObservations};
use viva_proxy::secrets::secret;
use viva_proxy::service::Service;
use viva_proxy::sessions::Sessions;
use viva_proxy::sessions::pg::PgSessions;
use viva_proxy::sessions::rest::RestSessions;
use viva_proxy::upstream::openai::HostedUpstream;
use viva_proxy::{Proxy, ProxyParts};

/// The SDP proxy: signalling for Viva's voice interviews.
///
/// Secrets come from the environment or a file, never a flag:
/// VIVA_PROXY_PROVIDER_KEY (required; the voice service's API key),
/// VIVA_PROXY_JWT_SECRET (optional; the project's legacy HS256 secret, if its tokens still use it),
/// VIVA_PROXY_DATABASE_URL (optional; postgres://viva_proxy:PASSWORD@HOST:PORT/DB, where the
/// leases live so that several instances share the one-live-connection rule, and where the
/// transcript of record of each call it creates is kept; without it, run a single instance),
/// each also as NAME_FILE naming a file that holds it.
#[derive(Debug, Parser)]
#[command(name = "viva-proxy", version)]
struct Args {
    /// Where to listen.
    #[arg(long, env = "VIVA_PROXY_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Where `GET /metrics` (Prometheus text) is served: an internal address, or `off`.
    #[arg(
        long,
        env = "VIVA_PROXY_METRICS_LISTEN",
        default_value = "127.0.0.1:9091"
    )]
    metrics_listen: String,
    /// The Supabase project's URL (its REST API and JWKS are found under it).
    #[arg(long, env = "VIVA_PROXY_BACKEND_URL")]
    backend_url: String,
    /// The project's anon (publishable) key: public, sent with the user's own token.
    #[arg(long, env = "VIVA_PROXY_ANON_KEY", hide_env_values = true)]
    anon_key: String,
    /// Where the token signing keys are published [default: BACKEND_URL/auth/v1/.well-known/jwks.json].
    #[arg(long, env = "VIVA_PROXY_JWKS_URL")]
    jwks_url: Option<String>,
    /// Seconds between fetches of the key set for tokens naming an unknown key id (a rotation):
    /// a flood of made-up key ids costs at most one fetch per this many seconds.
    #[arg(long, env = "VIVA_PROXY_JWKS_REFETCH_COOLDOWN_S", default_value_t = 30)]
    jwks_refetch_cooldown_s: u64,
    /// The voice service's base URL: Realtime calls go to URL/v1/realtime/calls, GPT-Live
    /// sessions to URL/v1/live/sessions.
    #[arg(
        long,
        env = "VIVA_PROXY_UPSTREAM_URL",
        default_value = "https://api.openai.com"
    )]
    upstream_url: String,
    #[arg(
        long,
        env = "VIVA_PROXY_REALTIME_MODEL",
        default_value = "gpt-realtime"
    )]
    realtime_model: String,
    #[arg(long, env = "VIVA_PROXY_LIVE_MODEL", default_value = "gpt-live-1")]
    live_model: String,
    /// Seconds the voice service has to answer an offer.
    #[arg(long, env = "VIVA_PROXY_UPSTREAM_TIMEOUT_S", default_value_t = 15)]
    upstream_timeout_s: u64,
    /// The header a trusted load balancer puts the client's address in (e.g. fly-client-ip).
    /// Unset: the TCP peer is the client and such headers are ignored.
    #[arg(long, env = "VIVA_PROXY_CLIENT_IP_HEADER")]
    client_ip_header: Option<String>,
    /// Connections allowed per client address per minute.
    #[arg(long, env = "VIVA_PROXY_PER_ADDRESS_PER_MINUTE", default_value_t = 60)]
    per_address_per_minute: u32,
    /// Connections allowed per user per minute.
    #[arg(long, env = "VIVA_PROXY_PER_USER_PER_MINUTE", default_value_t = 20)]
    per_user_per_minute: u32,
    /// Seconds open connections get to finish their exchange on SIGTERM before the process
    /// exits.
    #[arg(long, env = "VIVA_PROXY_DRAIN_TIMEOUT_S", default_value_t = 20)]
    drain_timeout_s: u64,
    /// Connections to the database (with VIVA_PROXY_DATABASE_URL).
    #[arg(long, env = "VIVA_PROXY_DB_POOL_SIZE", default_value_t = 4)]
    db_pool_size: usize,
    /// Where interview sessions are read as the user: `rest` (the backend's REST API with the
    /// user's token; no database right needed) or `database` (VIVA_PROXY_DATABASE_URL, whose
    /// role must be granted `authenticated`).
    #[arg(long, env = "VIVA_PROXY_SESSIONS", value_enum, default_value_t = SessionsFrom::Rest)]
    sessions: SessionsFrom,
    /// Whether each call's transcript of record (what the provider says on it, and
    /// when this proxy listened) is kept in the database, for review to check the uploaded
    /// lines against [default: on with VIVA_PROXY_DATABASE_URL, else off; `on` needs it, and
    /// its migration].
    #[arg(long, env = "VIVA_PROXY_OBSERVE", value_enum)]
    observe: Option<Switch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SessionsFrom {
    Rest,
    Database,
}

/// The database, when `VIVA_PROXY_DATABASE_URL` names one.
fn database(pool_size: usize) -> Result<Option<deadpool_postgres::Pool>, String> {
    secret("VIVA_PROXY_DATABASE_URL")
        .map_err(|e| e.to_string())?
        .map(|url| viva_proxy::lease::pg::pool(url.trim(), pool_size))
        .transpose()
}

/// Where the leases live: the database (checked now), or this process alone.
async fn leases(
    database: Option<&deadpool_postgres::Pool>,
) -> Result<(Arc<dyn Leases>, Option<Arc<PgLeases>>), String> {
    let Some(pool) = database else {
        tracing::warn!(
            event = "proxy_single_instance",
            "no database: the one-live-connection rule holds in this process only; run a single instance"
        );
        eprintln!(
            "viva-proxy: no database: the one-live-connection rule holds in this process only; run a single instance"
        );
        return Ok((Arc::new(MemoryLeases::default()), None));
    };
    let leases = Arc::new(PgLeases::with_pool(pool.clone(), Timing::default()).await?);
    tracing::info!(
        event = "proxy_leases_in_postgres",
        holder = leases.holder(),
        "leases in PostgreSQL (viva_proxy.leases): every instance using this database keeps one live connection per interview"
    );
    eprintln!(
        "viva-proxy: leases in PostgreSQL: every instance using this database keeps one live connection per interview"
    );
    Ok((leases.clone(), Some(leases)))
}

/// Where the transcript of record goes: the database (checked now) unless `--observe off`.
/// `on` is strict: without a database, or with one that cannot take the record, the proxy
/// does not start rather than run unobserved. Left to its default, a database whose
/// migration is not pushed yet (the binary upgraded first) still serves interviews, and says
/// loudly that they are not observed: the alternative is every interview refused.
async fn observations(
    switch: Option<Switch>,
    database: Option<&deadpool_postgres::Pool>,
) -> Result<Arc<dyn Observations>, String> {
    let (observations, why): (Arc<dyn Observations>, String) = match (switch, database) {
        (Some(Switch::On), None) => {
            return Err(
                "--observe on needs VIVA_PROXY_DATABASE_URL (or VIVA_PROXY_DATABASE_URL_FILE): the record is kept there"
                    .to_owned(),
            );
        }
        (None | Some(Switch::On), Some(pool)) => match PgObservations::new(pool.clone()).await {
            Ok(store) => (
                Arc::new(store),
                "Calls are observed (GPT-Live and Realtime): their transcript of record goes to PostgreSQL (public.observed_windows, public.observed_fragments)".to_owned(),
            ),
            Err(problem @ CheckError::NoTables(_)) if switch.is_none() => {
                tracing::warn!(event = "proxy_observation_unavailable", %problem);
                (
                    Arc::new(NoObservations),
                    format!(
                        "Calls are not observed: review has no transcript of record to check their lines against; {problem}"
                    ),
                )
            }
            Err(problem) => return Err(problem.to_string()),
        },
        (Some(Switch::Off), _) => (
            Arc::new(NoObservations),
            "Calls are not observed (--observe off): review has no transcript of record to check their lines against".to_owned(),
        ),
        (None, None) => (
            Arc::new(NoObservations),
            "Calls are not observed (no database): review has no transcript of record to check their lines against".to_owned(),
        ),
    };
    tracing::info!(
        event = "proxy_observation",
        observed = observations.enabled(),
        "{why}"
    );
    eprintln!("viva-proxy: {why}");
    Ok(observations)
}

fn init_logs() {
    // JSON lines to stdout, one request id (`conn_id`) per connection; VIVA_LOG filters.
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIVA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .init();
}

async fn run(args: Args) -> Result<(), String> {
    let provider_key = secret("VIVA_PROXY_PROVIDER_KEY")
        .map_err(|e| e.to_string())?
        .ok_or("the voice service's key is missing: set VIVA_PROXY_PROVIDER_KEY or VIVA_PROXY_PROVIDER_KEY_FILE")?;
    let legacy_secret = secret("VIVA_PROXY_JWT_SECRET").map_err(|e| e.to_string())?;
    let backend = args.backend_url.trim_end_matches('/').to_owned();
    let jwks_url = args
        .jwks_url
        .unwrap_or_else(|| format!("{backend}/auth/v1/.well-known/jwks.json"));
    let tokens = JwksVerifier::new(&jwks_url, legacy_secret)
        .map_err(|e| e.to_string())?
        .with_cache_timing(
            viva_proxy::auth::jwks::DEFAULT_MAX_AGE,
            Duration::from_secs(args.jwks_refetch_cooldown_s),
        );
    tokens.prefetch().await;
    let database = database(args.db_pool_size)?;
    let sessions: Arc<dyn Sessions> = match (args.sessions, &database) {
        (SessionsFrom::Rest, _) => Arc::new(RestSessions::new(&backend, &args.anon_key)?),
        (SessionsFrom::Database, Some(pool)) => Arc::new(PgSessions::new(pool.clone()).await?),
        (SessionsFrom::Database, None) => {
            return Err(
                "--sessions database needs VIVA_PROXY_DATABASE_URL (or VIVA_PROXY_DATABASE_URL_FILE)"
                    .to_owned(),
            );
        }
    };
    let base = args.upstream_url.trim_end_matches('/');
    let upstream = HostedUpstream::with_timeout(
        &format!("{base}/v1/realtime/calls"),
        &provider_key,
        &args.realtime_model,
        Duration::from_secs(args.upstream_timeout_s.max(1)),
    )?
    .with_live(&format!("{base}/v1/live/sessions"), &args.live_model);
    let (leases, shared) = leases(database.as_ref()).await?;
    let observations = observations(args.observe, database.as_ref()).await?;
    let parts = ProxyParts {
        tokens: Arc::new(tokens),
        sessions,
        leases,
        upstream: Arc::new(upstream),
        limits: Some(ConnectLimits {
            per_address_per_minute: args.per_address_per_minute,
            per_user_per_minute: args.per_user_per_minute,
        }),
        observations,
        session_recheck: viva_proxy::socket::SESSION_RECHECK_AFTER,
    };
    // One id for this process in `/health`, the logs, the lease rows and the observed windows.
    let proxy = match &shared {
        Some(shared) => Proxy::named(parts, shared.holder().to_owned()),
        None => Proxy::new(parts),
    };
    let client_ip_header = args
        .client_ip_header
        .map(|name| {
            name.parse()
                .map_err(|_| format!("--client-ip-header: `{name}` is not a header name"))
        })
        .transpose()?;
    let service = Service::new(proxy, client_ip_header);
    service.spawn_probes();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    tracing::info!(event = "proxy_listening", %address, instance = %service.instance());
    println!("viva-proxy listening on http://{address}");
    let metrics = if args.metrics_listen == "off" {
        None
    } else {
        let at: SocketAddr = args.metrics_listen.parse().map_err(|_| {
            format!(
                "--metrics-listen: `{}` is not an address or `off`",
                args.metrics_listen
            )
        })?;
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .map_err(|e| format!("cannot serve metrics on {at}: {e}"))?;
        tracing::info!(event = "proxy_metrics_listening", address = %at);
        let router = service.metrics_router();
        Some(tokio::spawn(
            async move { axum::serve(listener, router).await },
        ))
    };
    let app = service
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    shutdown_signal().await;
    tracing::info!(
        event = "proxy_draining",
        open = service.proxy.open_connections(),
        observing = service.proxy.observing()
    );
    let left = service
        .drain(Duration::from_secs(args.drain_timeout_s))
        .await;
    if service.proxy.observing() > 0 {
        // Their windows stay open: review reads them as ending at their last checkpoint.
        tracing::warn!(
            event = "proxy_observers_left",
            observing = service.proxy.observing()
        );
    }
    if let Some(shared) = &shared {
        // Whatever is still open ends with the process: free its interviews now, not at expiry.
        shared.release_all().await;
    }
    tracing::info!(event = "proxy_stopped", left_open = left);
    server.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    Ok(())
}

/// SIGTERM (a deploy or `systemctl stop`) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logs();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(event = "proxy_failed", %message);
            eprintln!("viva-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}
