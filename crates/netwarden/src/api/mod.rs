//! The HTTP API and the console: flows, aggregations, topology, series, firewall rules and
//! events, pod monitor events and health, as JSON under `/api`, the OpenAPI description at
//! `/api/openapi.json`, and the browser console at `/`.
//!
//! It runs on its own thread with its own tokio runtime, next to the synchronous capture loop.
//! Store queries run on tokio's blocking pool. Bound to a loopback address it is open; bound to
//! any other address it requires `Authorization: Bearer <token>` on every `/api` request.

mod console;
mod handlers;
mod openapi;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use netwarden_store::{FlowStore, IngestCounters};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tracing::{error, info};

/// Recent events kept for the API, newest last.
#[derive(Debug, Default)]
pub struct EventLog {
    pub firewall: VecDeque<serde_json::Value>,
    pub pods: VecDeque<serde_json::Value>,
}

/// Events kept per kind at most.
pub const EVENTS_KEPT: usize = 1000;

impl EventLog {
    pub fn push_pod(&mut self, e: serde_json::Value) {
        push_bounded(&mut self.pods, e);
    }

    pub fn push_firewall(&mut self, e: serde_json::Value) {
        push_bounded(&mut self.firewall, e);
    }
}

fn push_bounded(q: &mut VecDeque<serde_json::Value>, e: serde_json::Value) {
    if q.len() >= EVENTS_KEPT {
        q.pop_front();
    }
    q.push_back(e);
}

/// Firewall rules with their counters, read on demand.
pub type RulesSource = Arc<dyn Fn() -> anyhow::Result<serde_json::Value> + Send + Sync>;

/// What the handlers read.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn FlowStore>,
    pub ingest: Option<Arc<IngestCounters>>,
    pub events: Arc<Mutex<EventLog>>,
    /// `None`: no firewall on this node (its endpoints answer 404).
    pub firewall_rules: Option<RulesSource>,
    pub firewall_enabled: bool,
    pub pod_monitor_enabled: bool,
    /// `None`: this process has no inventory (`/api/inventory` answers 404).
    pub inventory: Option<crate::enrichment::SharedInventory>,
}

/// A running API server; dropping it stops the server.
pub struct ApiServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The routes, with the bearer-token check when `token` is set.
pub fn router(state: ApiState, token: Option<String>) -> Router {
    let api = Router::new()
        .route("/api/health", get(handlers::health))
        .route("/api/fields", get(handlers::field_list))
        .route("/api/values", get(handlers::values))
        .route("/api/flows", get(handlers::flows))
        .route("/api/top", get(handlers::top))
        .route("/api/series", get(handlers::series))
        .route("/api/topology", get(handlers::topology))
        .route("/api/firewall/rules", get(handlers::firewall_rules))
        .route("/api/firewall/events", get(handlers::firewall_events))
        .route("/api/podmonitor/events", get(handlers::pod_events))
        .route("/api/inventory", get(handlers::inventory))
        .route("/api/openapi.json", get(openapi::document))
        .with_state(state);
    let api = match token {
        Some(t) => api.layer(middleware::from_fn_with_state(Arc::new(t), require_token)),
        None => api,
    };
    api.merge(console::routes())
}

async fn require_token(State(token): State<Arc<String>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "missing or wrong bearer token (Authorization: Bearer <token>)"})),
        )
            .into_response()
    }
}

/// Refuses a non-loopback address without a token (checked before anything is opened).
pub fn check_token(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && token.is_none_or(str::is_empty) {
        anyhow::bail!(
            "the API on {addr} (not loopback) needs a bearer token: set api.token (or NETWARDEN_API_TOKEN)"
        );
    }
    Ok(())
}

/// Binds `addr` and serves on a thread of its own. A non-loopback address needs a token.
pub fn spawn(
    addr: SocketAddr,
    state: ApiState,
    token: Option<String>,
) -> anyhow::Result<ApiServer> {
    check_token(addr, token.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("api")
        .enable_all()
        .build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| anyhow::anyhow!("api listen address {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state, token);
    let thread = std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            runtime.block_on(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
                if let Err(e) = served {
                    error!("api server: {e}");
                }
            });
        })?;
    info!(%bound, "api and console on http://{bound}/");
    Ok(ApiServer {
        addr: bound,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
