//! The `/api` endpoints: query parameters in, JSON out. Bad parameters get HTTP 400 with the
//! message (and, for filters, the position of the offending token); store failures get 500.

use super::ApiState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use netwarden_query::{
    field, parse_filter, parse_time, Field, FlowQuery, Kind, Level, Metric, Scope, SortKey,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;

/// An error answer: the status and its JSON body (`{"error": ...}`, plus `position` and
/// `token` for filter errors). Boxed so results stay small on the success path.
pub struct ApiError(Box<(StatusCode, Value)>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = *self.0;
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn error(status: StatusCode, body: Value) -> ApiError {
    ApiError(Box::new((status, body)))
}

fn bad(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, json!({"error": message.into()}))
}

fn not_found(message: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, json!({"error": message}))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": e.to_string()}),
    )
}

/// Filter and time range, parsed.
struct Scoped {
    filter: Option<netwarden_query::Expr>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
}

impl Scoped {
    fn parse(
        filter: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Self, ApiError> {
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            None => None,
            Some(text) => parse_filter(text).map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": e.to_string(), "position": e.position, "token": e.token}),
                )
            })?,
        };
        let now = netwarden_store::now_ms();
        let time = |name: &str, v: Option<&str>| -> Result<Option<i64>, ApiError> {
            v.filter(|t| !t.is_empty())
                .map(|t| parse_time(t, now).map_err(|e| bad(format!("{name}={t:?}: {e}"))))
                .transpose()
        };
        Ok(Self {
            filter,
            since_ms: time("since", since)?,
            until_ms: time("until", until)?,
        })
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            filter: self.filter.as_ref(),
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        }
    }
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, netwarden_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e)),
    }
}

fn field_named(param: &str, name: &str) -> Result<&'static Field, ApiError> {
    field(name.trim()).ok_or_else(|| {
        bad(format!(
            "{param}={name:?}: unknown field (GET /api/fields lists them)"
        ))
    })
}

fn metric(text: Option<&str>) -> Result<Metric, ApiError> {
    match text.unwrap_or("bytes") {
        "bytes" => Ok(Metric::Bytes),
        "packets" => Ok(Metric::Packets),
        "flows" => Ok(Metric::Flows),
        "drop_packets" => Ok(Metric::DropPackets),
        "drop_bytes" => Ok(Metric::DropBytes),
        other => Err(bad(format!(
            "metric={other:?}: one of bytes, packets, flows, drop_packets, drop_bytes"
        ))),
    }
}

pub async fn health(State(s): State<ApiState>) -> ApiResult {
    let store = s.store.clone();
    let stats = blocking(move || store.stats()).await?;
    let mut out = json!({
        "status": "ok",
        "flows": stats.flows,
        "oldest_ms": stats.oldest_ms,
        "newest_ms": stats.newest_ms,
        "partitions": stats.partitions,
        "bytes_used": stats.bytes_used,
        "dimension_rows": stats.dimension_rows,
    });
    if let Some(c) = &s.ingest {
        out["ingest"] = json!({
            "offered": c.offered.load(Relaxed),
            "written": c.written.load(Relaxed),
            "dropped": c.dropped.load(Relaxed),
            "failed": c.failed.load(Relaxed),
        });
    }
    Ok(Json(out).into_response())
}

pub async fn field_list() -> Json<Value> {
    let kind = |f: &Field| match f.kind {
        Kind::Number if f.name.starts_with("Time") => "time",
        Kind::Number => "number",
        Kind::Text | Kind::List => "text",
        Kind::Addr { .. } => "addr",
        Kind::Events { .. } => "events",
    };
    let mut all: Vec<Value> = netwarden_query::fields()
        .iter()
        .map(|f| json!({"name": f.name, "kind": kind(f)}))
        .collect();
    // The either-end names the filter language accepts (`K8S_Namespace` = Src or Dst).
    all.extend(
        netwarden_query::either_end_names()
            .filter(|n| field(n).is_none())
            .map(|n| json!({"name": n, "kind": "text", "either_end": true})),
    );
    Json(json!({ "fields": all }))
}

#[derive(Deserialize)]
pub struct ValuesParams {
    field: String,
    #[serde(default)]
    prefix: String,
    filter: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
}

pub async fn values(State(s): State<ApiState>, Query(p): Query<ValuesParams>) -> ApiResult {
    let f = field_named("field", &p.field)?;
    let scoped = Scoped::parse(p.filter.as_deref(), p.since.as_deref(), p.until.as_deref())?;
    let store = s.store.clone();
    let limit = p.limit.unwrap_or(20).clamp(1, 1000);
    let values = blocking(move || store.values(f, &p.prefix, &scoped.scope(), limit)).await?;
    Ok(Json(json!({ "values": values })).into_response())
}

#[derive(Deserialize)]
pub struct FlowsParams {
    filter: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
    sort: Option<String>,
}

/// `TimeFlowEndMs:desc,Bytes` into sort keys.
fn sort_keys(text: Option<&str>) -> Result<Vec<SortKey>, ApiError> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| SortKey::parse(k).map_err(|e| bad(format!("sort={k:?}: {e}"))))
        .collect()
}

pub async fn flows(State(s): State<ApiState>, Query(p): Query<FlowsParams>) -> ApiResult {
    let scoped = Scoped::parse(p.filter.as_deref(), p.since.as_deref(), p.until.as_deref())?;
    let q = FlowQuery {
        filter: scoped.filter,
        since_ms: scoped.since_ms,
        until_ms: scoped.until_ms,
        sort: sort_keys(p.sort.as_deref())?,
        limit: p.limit.unwrap_or(100),
        offset: p.offset.unwrap_or(0),
    };
    let store = s.store.clone();
    let page = blocking(move || store.flows(&q)).await?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize)]
pub struct TopParams {
    by: String,
    metric: Option<String>,
    n: Option<u32>,
    filter: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn top(State(s): State<ApiState>, Query(p): Query<TopParams>) -> ApiResult {
    let by: Vec<&'static Field> =
        p.by.split(',')
            .filter(|b| !b.trim().is_empty())
            .map(|b| field_named("by", b))
            .collect::<Result<_, _>>()?;
    if by.is_empty() {
        return Err(bad("by: give at least one field, e.g. by=SrcK8S_Namespace"));
    }
    let metric = metric(p.metric.as_deref())?;
    let scoped = Scoped::parse(p.filter.as_deref(), p.since.as_deref(), p.until.as_deref())?;
    let n = p.n.unwrap_or(10);
    let store = s.store.clone();
    let rows = blocking(move || store.top(&by, metric, n, &scoped.scope())).await?;
    Ok(Json(json!({ "rows": rows })).into_response())
}

#[derive(Deserialize)]
pub struct SeriesParams {
    step: Option<String>,
    metric: Option<String>,
    by: Option<String>,
    top: Option<u32>,
    filter: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn series(State(s): State<ApiState>, Query(p): Query<SeriesParams>) -> ApiResult {
    let step_text = p.step.as_deref().unwrap_or("60s");
    let step_ms = netwarden_query::parse_duration(step_text)
        .map_err(|e| bad(format!("step={step_text:?}: {e}")))?;
    let by =
        p.by.as_deref()
            .filter(|b| !b.is_empty())
            .map(|b| field_named("by", b))
            .transpose()?;
    let metric = metric(p.metric.as_deref())?;
    let scoped = Scoped::parse(p.filter.as_deref(), p.since.as_deref(), p.until.as_deref())?;
    let top = p.top.unwrap_or(5);
    let store = s.store.clone();
    let series = blocking(move || store.series(step_ms, metric, by, top, &scoped.scope())).await?;
    Ok(Json(json!({ "step_ms": step_ms, "series": series })).into_response())
}

#[derive(Deserialize)]
pub struct TopologyParams {
    level: Option<String>,
    max_edges: Option<u32>,
    filter: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn topology(State(s): State<ApiState>, Query(p): Query<TopologyParams>) -> ApiResult {
    let level = match p.level.as_deref().unwrap_or("namespace") {
        "namespace" => Level::Namespace,
        "owner" => Level::Owner,
        "pod" => Level::Pod,
        "node" => Level::Node,
        other => {
            return Err(bad(format!(
                "level={other:?}: one of namespace, owner, pod, node"
            )))
        }
    };
    let scoped = Scoped::parse(p.filter.as_deref(), p.since.as_deref(), p.until.as_deref())?;
    let max_edges = p.max_edges.unwrap_or(200);
    let store = s.store.clone();
    let graph = blocking(move || store.topology(level, &scoped.scope(), max_edges)).await?;
    Ok(Json(graph).into_response())
}

#[derive(Deserialize)]
pub struct EventsParams {
    limit: Option<usize>,
}

pub async fn firewall_rules(State(s): State<ApiState>) -> ApiResult {
    let Some(source) = s.firewall_rules.clone() else {
        return Err(not_found("the firewall is not enabled on this node"));
    };
    match tokio::task::spawn_blocking(move || source()).await {
        Ok(Ok(rules)) => Ok(Json(json!({ "rules": rules })).into_response()),
        Ok(Err(e)) => Err(internal(format!("{e:#}"))),
        Err(e) => Err(internal(e)),
    }
}

fn recent(q: &std::collections::VecDeque<Value>, limit: Option<usize>) -> Vec<Value> {
    let n = limit.unwrap_or(100).min(super::EVENTS_KEPT);
    q.iter().rev().take(n).cloned().collect()
}

pub async fn firewall_events(
    State(s): State<ApiState>,
    Query(p): Query<EventsParams>,
) -> ApiResult {
    if !s.firewall_enabled {
        return Err(not_found("the firewall is not enabled on this node"));
    }
    let log = s.events.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Json(json!({ "events": recent(&log.firewall, p.limit) })).into_response())
}

pub async fn pod_events(State(s): State<ApiState>, Query(p): Query<EventsParams>) -> ApiResult {
    if !s.pod_monitor_enabled {
        return Err(not_found("the pod monitor is not enabled on this node"));
    }
    let log = s.events.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Json(json!({ "events": recent(&log.pods, p.limit) })).into_response())
}

/// The inventory the policy engine sees (pods, namespaces, nodes), as `policy whatif` needs it.
pub async fn inventory(State(s): State<ApiState>) -> ApiResult {
    let Some(shared) = &s.inventory else {
        return Err(not_found(
            "this process has no inventory (serve has none; the agent has one when inventory.file or inventory.kubernetes is set)",
        ));
    };
    let current = shared
        .lock()
        .map_err(|_| internal("the inventory lock is poisoned"))?
        .clone();
    Ok(Json(&*current).into_response())
}
