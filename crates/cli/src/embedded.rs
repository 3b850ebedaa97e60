//! The embedded default: with no backend given, the local stack runs in this process with a
//! throw-away account, like the app does with no backend configured.

use std::path::PathBuf;

use viva_backend::{AuthSession, Backend};
use viva_localstack::{Config, LocalStack, Signaling};

/// A running local stack and a signed-in candidate.
#[derive(Debug)]
pub struct Embedded {
    pub stack: LocalStack,
    pub backend: Backend,
    pub session: AuthSession,
}

/// What to change in the embedded stack.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    pub signaling: Option<Signaling>,
    /// Where its SQLite file goes; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
    /// Lifetime of the client secrets it mints.
    pub client_secret_lifetime_s: Option<i64>,
    /// The SDP proxy grants name, when it runs as its own service (`viva-proxy`).
    pub proxy_url: Option<String>,
    /// The project key the stack's voice endpoints accept (a standalone proxy holds it).
    pub project_key: Option<String>,
}

/// Starts the stack on a free loopback port and signs a new candidate in over HTTP.
pub async fn start(options: EmbeddedOptions) -> anyhow::Result<Embedded> {
    let defaults = Config::default();
    let stack = LocalStack::start(Config {
        signaling: options.signaling.unwrap_or(defaults.signaling),
        data_dir: options.data_dir,
        client_secret_lifetime_s: options
            .client_secret_lifetime_s
            .unwrap_or(defaults.client_secret_lifetime_s),
        proxy_url: options.proxy_url,
        live_api_key: options.project_key,
        ..defaults
    })
    .await?;
    let tenant = stack.add_tenant("Practice").await?;
    let email = format!("practice-{}@viva.local", uuid::Uuid::new_v4().simple());
    let password = uuid::Uuid::new_v4().simple().to_string();
    stack
        .add_user(&email, &password, &tenant, "candidate")
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the practice account: {}", e.message))?;
    let backend = Backend::new(&stack.base_url, &stack.anon_key);
    let session = backend.sign_in(&email, &password).await?;
    Ok(Embedded {
        stack,
        backend,
        session,
    })
}
