//! The proxy as a network service: `GET /ws` (signalling), `GET /health` (for load balancers:
//! the lease store and the upstream's reachability), `GET /metrics` (Prometheus, on its own
//! router so it can be served on an internal port), and a drain on shutdown that lets open
//! exchanges finish before their connections close with 1001, and observers close their
//! windows.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::Proxy;

/// How often the upstream's reachability is checked for `/health`.
const UPSTREAM_PROBE_EVERY: Duration = Duration::from_secs(15);

/// The service around a [`Proxy`].
#[derive(Debug)]
pub struct Service {
    pub proxy: Arc<Proxy>,
    /// The header a trusted load balancer puts the client's address in (e.g. `fly-client-ip`);
    /// without one, the TCP peer is the client (headers are never trusted then).
    pub client_ip_header: Option<HeaderName>,
    upstream_reachable: AtomicBool,
}

impl Service {
    pub fn new(proxy: Arc<Proxy>, client_ip_header: Option<HeaderName>) -> Arc<Self> {
        Arc::new(Self {
            proxy,
            client_ip_header,
            upstream_reachable: AtomicBool::new(true),
        })
    }

    /// The routes: `/health` and `/ws`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/health", get(health))
            .route("/ws", get(ws))
            .with_state(self.clone())
    }

    /// The operator's routes: `GET /metrics` ([`crate::metrics::Metrics::render`]). Not in
    /// [`Service::router`]: serve it where only the monitoring can reach it.
    pub fn metrics_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// Checks the upstream now and then, and forgets idle rate-limit keys, until the process
    /// ends.
    pub fn spawn_probes(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPSTREAM_PROBE_EVERY);
            loop {
                every.tick().await;
                let Some(service) = service.upgrade() else {
                    return;
                };
                let reachable = service.proxy.upstream.reachable().await;
                service
                    .upstream_reachable
                    .store(reachable, Ordering::Relaxed);
                if let Some(limits) = &service.proxy.limits {
                    limits.forget_idle();
                }
            }
        });
    }

    /// This process, as `/health` names it: the proxy's own id ([`Proxy::instance`]), so the
    /// observed windows it writes name the instance the load balancer sees.
    pub fn instance(&self) -> &str {
        &self.proxy.instance
    }

    /// Stops taking connections, lets open ones finish their exchange and close with 1001,
    /// and every observer write its last fragments and end its window (`drain`), and returns
    /// once neither is left or `timeout` has passed (the connections still open). Waiting for
    /// the observers matters: a window the process leaves open at exit reads as a crash, and
    /// its last fragments are lost.
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.proxy.drain();
        let deadline = tokio::time::Instant::now() + timeout;
        while (self.proxy.open_connections() > 0 || self.proxy.observing() > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.proxy.open_connections()
    }

    fn client_address(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        self.client_ip_header
            .as_ref()
            .and_then(|name| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| peer.ip())
    }
}

fn draining() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Json(json!({"status": "draining"})),
    )
        .into_response()
}

async fn ws(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if service.proxy.is_draining() {
        return draining();
    }
    let client = service.client_address(&headers, peer);
    service.proxy.upgrade(upgrade, Some(client))
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        service.proxy.metrics.render(),
    )
        .into_response()
}

async fn health(State(service): State<Arc<Service>>) -> Response {
    let upstream = service.upstream_reachable.load(Ordering::Relaxed);
    let lease_ok = service.proxy.leases.healthy().await;
    let status = if service.proxy.is_draining() {
        "draining"
    } else if !lease_ok || !upstream {
        "degraded"
    } else {
        "healthy"
    };
    let body = json!({
        "status": status,
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "instance": service.instance(),
        "lease": service.proxy.leases.kind(),
        "db": if service.proxy.leases.kind() == "memory" { "none" } else if lease_ok { "ok" } else { "unreachable" },
        "upstream": if upstream { "ok" } else { "unreachable" },
        "open_connections": service.proxy.open_connections(),
    });
    // Only what this instance cannot serve without takes it out of rotation: an upstream
    // outage hits every instance alike, and clients are better told why (1011) than refused.
    let code = if service.proxy.is_draining() || !lease_ok {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}
