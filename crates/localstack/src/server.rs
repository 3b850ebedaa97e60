//! Starting and stopping the local stack: the HTTP router, shared state, the `apikey` check and
//! request limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

use crate::db::{Db, DbError};
use crate::jwt::Keys;

/// Requests larger than this are refused with 413 before they are read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How to run the local stack.
#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the SQLite file lives; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Access-token lifetime in seconds (Supabase's default is 3600; tests use a few seconds).
    pub access_token_lifetime_s: i64,
    /// How long a used refresh token may be presented again (GoTrue: 10 s).
    pub refresh_reuse_window_ms: i64,
    /// How clients reach the realtime peer: SDP over HTTP, or through the WebSocket SDP proxy.
    pub signaling: Signaling,
    /// Share of users (0–100, by a stable bucket of their id) who get voice; the rest get text.
    pub voice_rollout_percent: u8,
    /// Lifetime of the `ek_` client secrets `interview-start` mints (hosted default: 600 s).
    pub client_secret_lifetime_s: i64,
    /// What answers offers behind the SDP proxy; `None` is the local interviewer.
    pub upstream: Option<Arc<dyn crate::proxy::Upstream>>,
    /// Whether the proxy keeps a transcript of record of each GPT-Live call it creates (what it
    /// observes, in `observed_windows` and `observed_fragments`). `None`: when the upstream is
    /// the stack's own interviewer (a configured one's sideband is then opened only for typed
    /// answers, as without observation).
    pub observe_calls: Option<bool>,
    /// The project key `POST /v1/live/sessions` accepts (GPT-Live sessions are created only
    /// by a server holding it); `None` refuses every request there.
    pub live_api_key: Option<String>,
    /// The local interviewer's model, threads and voice.
    pub interviewer: crate::interviewer::InterviewerConfig,
    /// Sign-in and sign-up attempts allowed per address and per e-mail.
    pub auth_limits: crate::ratelimit::AuthLimits,
    /// Which algorithm signs access tokens (ES256 by default, as Supabase does today).
    pub token_algorithm: crate::jwt::TokenAlgorithm,
    /// Practice sessions one user may start per hour (`interview-start` answers 429 beyond).
    pub practice_sessions_per_hour: u32,
    /// Where `/functions/v1/*` goes instead of the built-in functions: a functions server (the
    /// Deno edge functions, as Supabase's gateway routes them). `None` serves them here.
    pub functions_url: Option<String>,
    /// The SDP proxy `interview-start` names (`ws://.../ws`) when it runs as its own service
    /// (`viva-proxy`); `None` names this stack's own `/ws`.
    pub proxy_url: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("signaling", &self.signaling)
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// How `interview-start` tells clients to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signaling {
    Http,
    WebSocket,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            access_token_lifetime_s: 3600,
            refresh_reuse_window_ms: crate::auth::REUSE_WINDOW_MS,
            signaling: Signaling::Http,
            voice_rollout_percent: 100,
            client_secret_lifetime_s: 600,
            upstream: None,
            observe_calls: None,
            live_api_key: None,
            interviewer: crate::interviewer::InterviewerConfig::default(),
            auth_limits: crate::ratelimit::AuthLimits::default(),
            token_algorithm: crate::jwt::TokenAlgorithm::default(),
            practice_sessions_per_hour: DEFAULT_PRACTICE_SESSIONS_PER_HOUR,
            functions_url: None,
            proxy_url: None,
        }
    }
}

/// The hosted functions' default limit of practice sessions per user and hour.
pub const DEFAULT_PRACTICE_SESSIONS_PER_HOUR: u32 = 60;

/// Why the local stack could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot sign tokens: {0}")]
    Keys(crate::jwt::TokenError),
    #[error("cannot make an HTTP client: {0}")]
    Http(String),
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Keys,
    pub anon_key: String,
    pub refresh_reuse_window_ms: i64,
    /// The base URL clients reach this stack at.
    pub public_url: String,
    pub signaling: Signaling,
    pub voice_rollout_percent: u8,
    pub client_secret_lifetime_s: i64,
    /// The SDP proxy (`/ws`): the one live connection per interview, and its upstream.
    pub proxy: Arc<viva_proxy::Proxy>,
    /// The key `POST /v1/live/sessions` accepts, if any (never printed).
    pub live_api_key: Option<crate::live_sessions::ProjectKey>,
    /// The local interviewer peer (`/v1/realtime/calls`, and the proxy's default upstream).
    pub interviewer: Arc<crate::interviewer::Interviewer>,
    pub auth_limiter: Arc<crate::ratelimit::AuthLimiter>,
    pub practice_sessions_per_hour: u32,
    /// Set when `/functions/v1/*` is forwarded to a functions server.
    /// The SDP proxy's URL `interview-start` hands out ([`Config::proxy_url`], else `/ws`).
    pub proxy_url: String,
    pub functions_url: Option<String>,
    /// The client that forwards function calls (no redirects followed).
    pub http: reqwest::Client,
}

/// A running local stack. Dropping it does not stop it; call [`LocalStack::shutdown`].
#[derive(Debug)]
pub struct LocalStack {
    pub base_url: String,
    pub anon_key: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalStack {
    /// Opens the database, binds the listener and serves until [`LocalStack::shutdown`].
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let db = match &config.data_dir {
            Some(dir) => Db::open(dir)?,
            None => Db::in_memory()?,
        };
        let legacy_secret = db.setting_or_init("jwt_secret", || {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        })?;
        let fresh_scalar = crate::jwt::new_es256_scalar_hex().map_err(StartError::Keys)?;
        let material = crate::jwt::KeyMaterial {
            legacy_secret,
            es256_scalar_hex: db.setting_or_init("jwt_es256_scalar", || fresh_scalar)?,
            es256_kid: db.setting_or_init("jwt_es256_kid", || uuid::Uuid::new_v4().to_string())?,
        };
        let keys = Keys::new(
            &material,
            config.token_algorithm,
            config.access_token_lifetime_s,
        )
        .map_err(StartError::Keys)?;
        let anon_key = keys.anon_key().map_err(StartError::Keys)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| StartError::Listen {
            address: config.listen,
            source,
        })?;
        let interviewer = crate::interviewer::Interviewer::new(config.interviewer.clone());
        let observations: Arc<dyn viva_proxy::observe::Observations> =
            if config.observe_calls.unwrap_or(config.upstream.is_none()) {
                Arc::new(crate::observations::LocalObservations { db: db.clone() })
            } else {
                Arc::new(viva_proxy::observe::NoObservations)
            };
        let upstream = config.upstream.clone().unwrap_or_else(|| {
            Arc::new(crate::calls::LocalUpstream {
                state_db: db.clone(),
                interviewer: interviewer.clone(),
            })
        });
        let proxy = viva_proxy::Proxy::new(viva_proxy::ProxyParts {
            tokens: Arc::new(crate::proxy::LocalTokens {
                keys: keys.clone(),
                db: db.clone(),
            }),
            sessions: Arc::new(crate::proxy::LocalSessions { db: db.clone() }),
            leases: Arc::new(viva_proxy::lease::MemoryLeases::default()),
            upstream,
            limits: None,
            observations,
            session_recheck: viva_proxy::socket::SESSION_RECHECK_AFTER,
        });
        let state = AppState {
            db,
            keys,
            anon_key: anon_key.clone(),
            refresh_reuse_window_ms: config.refresh_reuse_window_ms,
            public_url: format!("http://{address}"),
            signaling: config.signaling,
            voice_rollout_percent: config.voice_rollout_percent.min(100),
            client_secret_lifetime_s: config.client_secret_lifetime_s,
            proxy,
            live_api_key: config
                .live_api_key
                .clone()
                .map(crate::live_sessions::ProjectKey),
            interviewer,
            auth_limiter: Arc::new(crate::ratelimit::AuthLimiter::new(config.auth_limits)),
            practice_sessions_per_hour: config.practice_sessions_per_hour,
            proxy_url: config
                .proxy_url
                .clone()
                .unwrap_or_else(|| format!("ws://{address}/ws")),
            functions_url: config
                .functions_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|error| StartError::Http(error.to_string()))?,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            // The peer's address is what sign-in attempts are limited by.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = served.await {
                tracing::error!(event = "localstack_stopped_with_error", %error);
            }
        });
        tracing::info!(event = "localstack_started", %address);
        Ok(Self {
            base_url: format!("http://{address}"),
            anon_key,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// Creates an organisation (administration, in-process only: the hosted equivalent is the
    /// Supabase dashboard).
    pub async fn add_tenant(&self, name: &str) -> Result<String, DbError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (id2, name) = (id.clone(), name.to_owned());
        self.state
            .db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO tenants (id, name) VALUES (?1, ?2)",
                    [&id2, &name],
                )
                .map_err(DbError::from)
            })
            .await?;
        Ok(id)
    }

    /// Creates an account with a role in a tenant (administration, in-process only).
    pub async fn add_user(
        &self,
        email: &str,
        password: &str,
        tenant_id: &str,
        role: &str,
    ) -> Result<String, crate::error::AuthError> {
        let (email, password, tenant_id, role) = (
            email.to_owned(),
            password.to_owned(),
            tenant_id.to_owned(),
            role.to_owned(),
        );
        self.state
            .db
            .call(move |conn| {
                crate::auth::create_user(
                    conn,
                    &email,
                    &password,
                    &tenant_id,
                    &role,
                    &serde_json::json!({}),
                )
                .map(|u| u.id)
            })
            .await
    }

    /// Replaces the ES256 signing key with a new one under a new key id, as an operator
    /// rotating the project's signing key does. It takes effect at the next start on this data
    /// directory: the JWKS then lists only the new key, and tokens signed by the old one stop
    /// verifying. Returns the new key id.
    pub fn rotate_signing_key(&self) -> Result<String, StartError> {
        let scalar = crate::jwt::new_es256_scalar_hex().map_err(StartError::Keys)?;
        let kid = uuid::Uuid::new_v4().to_string();
        self.state.db.set_setting("jwt_es256_scalar", &scalar)?;
        self.state.db.set_setting("jwt_es256_kid", &kid)?;
        Ok(kid)
    }

    /// Stops accepting requests, finishes the ones in flight and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

fn router(state: AppState) -> Router {
    let auth = Router::new()
        .route("/token", post(crate::auth::token))
        .route("/signup", post(crate::auth::signup))
        .route("/user", get(crate::auth::user))
        .route("/logout", post(crate::auth::logout))
        .route("/admin/users", get(crate::admin::list_users))
        .route(
            "/admin/users/{user_id}",
            get(crate::admin::get_user).put(crate::admin::update_user),
        );
    let rest = Router::new().route(
        "/{table}",
        get(crate::rest::handlers::select)
            .post(crate::rest::handlers::insert)
            .patch(crate::rest::handlers::update)
            .delete(crate::rest::handlers::delete),
    );
    let functions = if state.functions_url.is_some() {
        Router::new().route("/{*name}", axum::routing::any(crate::forward::function))
    } else {
        Router::new()
            .route(
                "/interview-start",
                post(crate::functions::interview_start).options(cors_preflight),
            )
            .route(
                "/transcript-processor",
                post(crate::functions::transcript_processor).options(cors_preflight),
            )
            .route(
                "/interview-end",
                post(crate::functions::interview_end).options(cors_preflight),
            )
    };
    // Browsers read a function's reply only with CORS headers on it, as hosted functions send.
    let functions = functions.layer(axum::middleware::map_response(
        |mut response: Response| async move {
            response.headers_mut().insert(
                "access-control-allow-origin",
                axum::http::HeaderValue::from_static("*"),
            );
            response
        },
    ));
    let api = Router::new()
        .nest("/functions/v1", functions)
        .nest("/auth/v1", auth)
        .nest("/rest/v1", rest)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));
    // The SDP proxy is its own service in hosted set-ups: it authenticates in its first
    // message, not with the gateway's apikey.
    Router::new()
        .route("/health", get(crate::proxy::health))
        .route("/ws", get(crate::proxy::ws))
        // Public, as on hosted Supabase: anyone may verify a token.
        .route(
            "/auth/v1/.well-known/jwks.json",
            get(|State(state): State<AppState>| async move { axum::Json(state.keys.jwks()) }),
        )
        // The Realtime API's client secrets, minted by a server holding the project key.
        .route(
            "/v1/realtime/client_secrets",
            post(crate::calls::create_client_secret),
        )
        // The Realtime API's own signaling: authenticated by the client secret, no apikey.
        .route("/v1/realtime/calls", post(crate::calls::create))
        // A Realtime call's server-side connection: authenticated by the project key.
        .route("/v1/realtime", get(crate::calls::sideband))
        .route(
            "/v1/realtime/calls/{call_id}/hangup",
            post(crate::calls::hang_up),
        )
        // GPT-Live's session creation: authenticated by the project key, no apikey.
        .route("/v1/live/sessions", post(crate::live_sessions::create))
        .route(
            "/v1/live/sessions/{session_id}/hangup",
            post(crate::live_sessions::hang_up),
        )
        .route(
            "/v1/live/sessions/{session_id}/attach",
            get(crate::live_sessions::attach),
        )
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Browsers ask before calling a function from another origin; answer as Supabase does.
async fn cors_preflight() -> Response {
    (
        StatusCode::OK,
        [
            ("access-control-allow-origin", "*"),
            (
                "access-control-allow-headers",
                "authorization, x-client-info, apikey, content-type",
            ),
            ("access-control-allow-methods", "POST, OPTIONS"),
        ],
    )
        .into_response()
}

/// Every request carries the project's anon key in `apikey`, as with a hosted project's gateway
/// (CORS preflights excepted: browsers send them without it).
async fn require_api_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == axum::http::Method::OPTIONS {
        return next.run(request).await;
    }
    match request
        .headers()
        .get("apikey")
        .and_then(|v| v.to_str().ok())
    {
        // Server code (`viva admin`) sends the service-role key as its API key.
        Some(key) if key == state.anon_key || state.keys.is_service_role_key(key) => {
            next.run(request).await
        }
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Invalid API key"})),
        )
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "No API key found in request"})),
        )
            .into_response(),
    }
}
