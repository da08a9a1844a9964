//! The OpenAPI 3 description of `/api`, written out by hand (the handlers are few and their
//! parameters plain), served at `/api/openapi.json`.

use axum::Json;
use serde_json::{json, Value};

fn param(name: &str, description: &str, required: bool) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": description,
           "schema": {"type": "string"}})
}

fn scope() -> Vec<Value> {
    vec![
        param(
            "filter",
            "Flow filter, NetObserv field names: SrcK8S_Namespace=\"iperf\" AND DstPort=5201, NetworkEvents=~\"Dropped\", SrcAddr=10.0.0.0/8; AND/OR/NOT, parentheses",
            false,
        ),
        param("since", "Start of the time range: a duration before now (15m, 1h, 2d), RFC 3339 or epoch ms", false),
        param("until", "End of the time range (exclusive), same forms as since", false),
    ]
}

fn get(summary: &str, params: Vec<Value>, result: &str) -> Value {
    json!({"get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": {"description": result, "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "A bad parameter: {\"error\": message, \"position\": offset in the filter}"},
            "401": {"description": "Missing or wrong bearer token (when the API listens beyond loopback)"}
        }
    }})
}

pub fn spec() -> Value {
    let with = |mut extra: Vec<Value>| {
        extra.extend(scope());
        extra
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "netwarden API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Flows with Kubernetes identity and network events, aggregations, topology, firewall and pod monitor events."
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
        "paths": {
            "/api/health": get("Store and ingest status", vec![], "{status, flows, oldest_ms, newest_ms, partitions, bytes_used, dimension_rows, ingest}"),
            "/api/fields": get("Flow fields the filter language knows", vec![], "{fields: [{name, kind}]}"),
            "/api/values": get("Most frequent values of a field (autocompletion)",
                with(vec![param("field", "Field name", true), param("prefix", "Values starting with this", false), param("limit", "At most this many (20)", false)]),
                "{values: [...]}"),
            "/api/flows": get("A page of flows, newest first",
                with(vec![param("limit", "Rows (100, at most 10000)", false), param("offset", "Rows to skip", false), param("sort", "Field[:asc|:desc], comma-separated", false)]),
                "{flows: [flow records with NetObserv names], total}"),
            "/api/top": get("Top groups by a metric",
                with(vec![param("by", "Fields to group by, comma-separated (NetworkEvents groups by event message)", true), param("metric", "bytes, packets, flows, drop_packets, drop_bytes", false), param("n", "Groups (10)", false)]),
                "{rows: [{group: {field: value}, bytes, packets, flows, drop_packets, drop_bytes}]}"),
            "/api/series": get("Time series of a metric",
                with(vec![param("step", "Bucket width (60s)", false), param("metric", "bytes, packets, flows, drop_packets, drop_bytes", false), param("by", "Field to split by", false), param("top", "Groups kept (5)", false)]),
                "{step_ms, series: [{group, points: [[t_ms, value]]}]}"),
            "/api/topology": get("Traffic graph between namespaces, owners, pods or nodes",
                with(vec![param("level", "namespace, owner, pod, node", false), param("max_edges", "Heaviest edges kept (200)", false)]),
                "{nodes: [{id, label, kind}], edges: [{source, target, bytes, packets, flows, drop_packets, denied_flows}]}"),
            "/api/firewall/rules": get("Ingress node firewall rules with their counters", vec![], "{rules: [...]}"),
            "/api/firewall/events": get("Recent firewall drop events", vec![param("limit", "Events (100)", false)], "{events: [...]}"),
            "/api/podmonitor/events": get("Recent pod monitor events", vec![param("limit", "Events (100)", false)], "{events: [...]}"),
            "/api/inventory": get("The pods, namespaces and nodes the policy engine sees (404 without an inventory)", vec![], "{pods: [...], namespaces: [...], nodes: [...]}"),
            "/api/openapi.json": get("This document", vec![], "OpenAPI 3 document")
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
