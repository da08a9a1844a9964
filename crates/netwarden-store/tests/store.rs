//! The DuckDB store against a real database file: ingest, filters, aggregations, partitions,
//! retention and reopening.

use netwarden_model::{FlowRecord, K8sEndpointDst, K8sEndpointSrc};
use netwarden_query::fields::field;
use netwarden_query::{parse_filter, FlowQuery, Level, Metric, Scope};
use netwarden_store::{DuckStore, FlowStore, Ingest, IngestOptions, StoreOptions};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const HOUR: i64 = 3_600_000;
/// 2023-11-14T22:00:00Z, on an hour boundary.
const T0: i64 = 1_700_000_000_000 / HOUR * HOUR;

fn flow(i: u64, end_ms: i64, src_ns: &str, dst_ns: &str, dst_port: u16, bytes: u64) -> FlowRecord {
    FlowRecord {
        src_addr: Some(format!("10.0.{}.{}", i / 250, i % 250 + 1).parse().unwrap()),
        dst_addr: Some("10.1.0.10".parse().unwrap()),
        src_port: Some(40000 + (i % 1000) as u16),
        dst_port: Some(dst_port),
        proto: 6,
        etype: 0x0800,
        bytes,
        packets: bytes / 100,
        time_flow_start_ms: end_ms - 1000,
        time_flow_end_ms: end_ms,
        time_received: end_ms / 1000,
        sampling: 1,
        interfaces: vec!["eth0".into()],
        src_k8s: K8sEndpointSrc {
            namespace: Some(src_ns.into()),
            name: Some(format!("client-{}", i % 3)),
            kind: Some("Pod".into()),
            owner_name: Some("client".into()),
            owner_type: Some("Deployment".into()),
            ..Default::default()
        },
        dst_k8s: K8sEndpointDst {
            namespace: Some(dst_ns.into()),
            name: Some("server".into()),
            kind: Some("Pod".into()),
            owner_name: Some("server".into()),
            owner_type: Some("Deployment".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn denied(mut f: FlowRecord) -> FlowRecord {
    f.pkt_drop_packets = Some(1);
    f.pkt_drop_bytes = Some(74);
    f.pkt_drop_latest_drop_cause = Some("NETWARDEN_NETWORK_POLICY_DENIED".into());
    f.network_events = vec![json!({
        "Action": "drop", "Type": "NetpolNamespace", "Feature": "acl", "Direction": "Ingress",
        "Namespace": "iperf",
        "Message": "Dropped by network policies isolation in namespace iperf, direction Ingress"
    })];
    f
}

struct Dir(tempfile::TempDir);

fn open(dir: &Dir) -> DuckStore {
    DuckStore::open(&dir.0.path().join("flows.duckdb"), StoreOptions::default()).unwrap()
}

fn dir() -> Dir {
    Dir(tempfile::tempdir().unwrap())
}

/// 100 flows in hour 0 (iperf -> iperf:5201, 1000 bytes), 50 in hour 1 (iperf -> shop:80,
/// 2000 bytes), 10 denied in hour 1.
fn seed(store: &DuckStore) {
    let mut all = Vec::new();
    for i in 0..100 {
        all.push(flow(i, T0 + 1000 + i as i64, "iperf", "iperf", 5201, 1000));
    }
    for i in 0..50 {
        all.push(flow(
            i,
            T0 + HOUR + 1000 + i as i64,
            "iperf",
            "shop",
            80,
            2000,
        ));
    }
    for i in 0..10 {
        all.push(denied(flow(
            i,
            T0 + HOUR + 2000 + i as i64,
            "iperf",
            "iperf",
            5201,
            0,
        )));
    }
    assert_eq!(store.insert(&all).unwrap(), 160);
}

fn query(filter: &str) -> FlowQuery {
    FlowQuery {
        filter: parse_filter(filter).unwrap(),
        ..Default::default()
    }
}

#[test]
fn filters_select_exactly_the_matching_flows() {
    let d = dir();
    let s = open(&d);
    seed(&s);
    let count = |f: &str| s.flows(&query(f)).unwrap().total;
    assert_eq!(count(""), 160);
    assert_eq!(count("DstPort=5201"), 110);
    assert_eq!(count(r#"DstK8S_Namespace="shop""#), 50);
    assert_eq!(count(r#"NetworkEvents=~"Dropped""#), 10);
    assert_eq!(count(r#"PktDropLatestDropCause!="""#), 10);
    assert_eq!(count("SrcAddr=10.0.0.0/24"), 160);
    assert_eq!(count("SrcAddr=10.0.0.1"), 3);
    assert_eq!(count(r#"DstPort=80 OR NetworkEvents=~"isolation""#), 60);
    assert_eq!(count(r#"NOT DstPort=5201 AND Bytes>1500"#), 50);
    let page = s
        .flows(&FlowQuery {
            filter: parse_filter(r#"NetworkEvents=~"Dropped""#).unwrap(),
            limit: 3,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.flows.len(), 3);
    let newest = &page.flows[0];
    assert_eq!(newest["TimeFlowEndMs"], json!(T0 + HOUR + 2009));
    assert_eq!(newest["DstPort"], json!(5201));
    assert_eq!(
        newest["NetworkEvents"][0]["Message"],
        json!("Dropped by network policies isolation in namespace iperf, direction Ingress")
    );
    assert_eq!(newest["Interfaces"], json!(["eth0"]));
    assert_eq!(newest["SrcAddr"], json!("10.0.0.10"));
    assert!(newest.get("DnsName").is_none(), "absent fields are omitted");
}

#[test]
fn time_ranges_read_only_their_partitions() {
    let d = dir();
    let s = open(&d);
    seed(&s);
    let q = FlowQuery {
        since_ms: Some(T0 + HOUR),
        ..Default::default()
    };
    assert_eq!(s.flows(&q).unwrap().total, 60);
    let q = FlowQuery {
        until_ms: Some(T0 + HOUR),
        ..Default::default()
    };
    assert_eq!(s.flows(&q).unwrap().total, 100);
    let stats = s.stats().unwrap();
    assert_eq!(stats.flows, 160);
    assert_eq!(stats.partitions, 2);
    assert_eq!(stats.oldest_ms, Some(T0 + 1000));
}

#[test]
fn aggregations_rank_plot_and_graph() {
    let d = dir();
    let s = open(&d);
    seed(&s);
    let all = Scope {
        filter: None,
        since_ms: None,
        until_ms: None,
    };
    let by = [
        field("SrcK8S_Namespace").unwrap(),
        field("DstK8S_Namespace").unwrap(),
    ];
    let top = s.top(&by, Metric::Bytes, 10, &all).unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(top[0]["bytes"], json!(100_000));
    assert_eq!(top[0]["flows"], json!(110));
    assert_eq!(top[0]["group"]["DstK8S_Namespace"], json!("iperf"));
    assert_eq!(top[1]["bytes"], json!(100_000));
    let events = s
        .top(&[field("NetworkEvents").unwrap()], Metric::Flows, 5, &all)
        .unwrap();
    assert!(events.iter().any(|r| r["group"]["NetworkEvents"]
        == json!("Dropped by network policies isolation in namespace iperf, direction Ingress")
        && r["flows"] == json!(10)));
    let series = s.series(HOUR, Metric::Flows, None, 5, &all).unwrap();
    assert_eq!(series[0]["points"], json!([[T0, 100], [T0 + HOUR, 60]]));
    let graph = s.topology(Level::Namespace, &all, 100).unwrap();
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 2);
    let edges = graph["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    let iperf_self = edges.iter().find(|e| e["target"] == e["source"]).unwrap();
    assert_eq!(iperf_self["denied_flows"], json!(10));
    assert_eq!(iperf_self["drop_packets"], json!(10));
    let values = s
        .values(field("DstK8S_Namespace").unwrap(), "s", &all, 10)
        .unwrap();
    assert_eq!(values, vec![json!("shop")]);
}

#[test]
fn retention_drops_old_partitions_and_reopening_keeps_the_rest() {
    let d = dir();
    {
        let s = DuckStore::open(
            &d.0.path().join("flows.duckdb"),
            StoreOptions {
                max_age: Duration::from_secs(3600),
                ..Default::default()
            },
        )
        .unwrap();
        seed(&s);
        // 3 workloads, 100 client pods (one per address) and the server, one context, and
        // the empty and the denied event sets.
        assert_eq!(s.stats().unwrap().dimension_rows, 3 + 101 + 1 + 2);
        // Half an hour after hour 1 ended: all of hour 0 is more than an hour old, not hour 1.
        let report = s.enforce_retention(T0 + 2 * HOUR + HOUR / 2).unwrap();
        assert_eq!(report.dropped_partitions.len(), 1);
        assert_eq!(s.flows(&FlowQuery::default()).unwrap().total, 60);
        // The 50 clients only hour 0 had are gone with it.
        assert_eq!(s.stats().unwrap().dimension_rows, 3 + 51 + 1 + 2);
    }
    let s = open(&d);
    assert_eq!(s.stats().unwrap().flows, 60);
    assert_eq!(s.stats().unwrap().partitions, 1);
    assert_eq!(s.stats().unwrap().dimension_rows, 57);
    // Reopened, the same identities get their stored ids back: no new rows.
    let again: Vec<FlowRecord> = (0..50)
        .map(|i| flow(i, T0 + HOUR + 5000 + i as i64, "iperf", "shop", 80, 2000))
        .collect();
    s.insert(&again).unwrap();
    assert_eq!(s.stats().unwrap().dimension_rows, 57);
    let page = s
        .flows(&query(r#"SrcAddr=10.0.0.7 AND DstK8S_Namespace="shop""#))
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.flows[0]["SrcAddr"], "10.0.0.7");
    assert_eq!(page.flows[0]["SrcK8S_Name"], "client-0");
    // Ends without a Kubernetes name keep their address in the flow itself.
    let mut outside = flow(1, T0 + HOUR + 9000, "iperf", "shop", 443, 10);
    outside.src_addr = Some("2001:db8::5".parse().unwrap());
    outside.src_k8s = K8sEndpointSrc::default();
    outside.dst_addr = Some("203.0.113.9".parse().unwrap());
    outside.dst_k8s = K8sEndpointDst::default();
    s.insert(&[outside]).unwrap();
    let page = s
        .flows(&query("SrcAddr=2001:db8::/32 AND DstAddr=203.0.113.0/24"))
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.flows[0]["SrcAddr"], "2001:db8::5");
    assert_eq!(page.flows[0]["DstAddr"], "203.0.113.9");
    assert!(page.flows[0].get("DstK8S_Name").is_none());
    let page = s
        .flows(&query(r#"SrcAddr=~"^2001:db8:" AND DstAddr=~"^203\\.0""#))
        .unwrap();
    assert_eq!(page.total, 1);
}

#[test]
fn ingest_batches_in_the_background_and_counts_what_it_drops() {
    let d = dir();
    let store = Arc::new(open(&d));
    let ingest = Ingest::start(
        store.clone() as Arc<dyn FlowStore>,
        IngestOptions {
            queue_batches: 4,
            ..Default::default()
        },
    )
    .unwrap();
    for b in 0..3 {
        let batch = (0..1000)
            .map(|i| flow(i, T0 + b * 1000 + i as i64, "a", "b", 80, 100))
            .collect();
        ingest.offer(batch);
    }
    let counters = ingest.counters();
    ingest.finish();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.offered.load(Relaxed), 3000);
    assert_eq!(
        counters.written.load(Relaxed) + counters.dropped.load(Relaxed),
        3000
    );
    assert_eq!(store.stats().unwrap().flows, counters.written.load(Relaxed));
}

/// Top tables and series read the per-minute rollups when they can, and give the same figures as
/// the flows themselves, partial minutes at both ends of the range included.
#[test]
fn rollups_answer_exactly_what_the_flows_say() {
    let d = dir();
    let store = open(&d);
    // 10 minutes, 60 flows a minute (one a second): iperf -> shop:80 (1000 bytes) and, every
    // tenth second, a denied iperf -> iperf:5201 (100 bytes).
    let mut all = Vec::new();
    for s in 0..600u64 {
        let end = T0 + 30 * 60_000 + s as i64 * 1000;
        all.push(if s % 10 == 0 {
            denied(flow(s, end, "iperf", "iperf", 5201, 100))
        } else {
            flow(s, end, "iperf", "shop", 80, 1000)
        });
    }
    store.insert(&all).unwrap();
    // From 30 s into the first minute to 20 s into the eighth: 410 flows.
    let (since, until) = (T0 + 30 * 60_000 + 30_000, T0 + 37 * 60_000 + 20_000);
    let expected = |pred: &dyn Fn(&FlowRecord) -> bool| -> (u64, u64) {
        let picked = all
            .iter()
            .filter(|f| f.time_flow_end_ms >= since && f.time_flow_end_ms < until && pred(f));
        picked.fold((0, 0), |(b, n), f| (b + f.bytes, n + 1))
    };
    let ns = [
        field("SrcK8S_Namespace").unwrap(),
        field("DstK8S_Namespace").unwrap(),
    ];
    let filter = parse_filter(r#"NetworkEvents=~"Dropped" OR DstPort=80"#)
        .unwrap()
        .unwrap();
    let scope = Scope {
        filter: Some(&filter),
        since_ms: Some(since),
        until_ms: Some(until),
    };
    assert!(store.reads_rollups(&ns, &scope, None));
    let top = store.top(&ns, Metric::Bytes, 10, &scope).unwrap();
    let (shop_bytes, shop_flows) = expected(&|f| f.dst_port == Some(80));
    let (denied_bytes, denied_flows) = expected(&|f| f.dst_port == Some(5201));
    assert_eq!((shop_flows, denied_flows), (369, 41));
    assert_eq!(
        top[0]["group"],
        json!({"SrcK8S_Namespace": "iperf", "DstK8S_Namespace": "shop"})
    );
    assert_eq!(
        (top[0]["bytes"].as_u64(), top[0]["flows"].as_u64()),
        (Some(shop_bytes), Some(shop_flows))
    );
    assert_eq!(
        (top[1]["bytes"].as_u64(), top[1]["flows"].as_u64()),
        (Some(denied_bytes), Some(denied_flows))
    );
    assert_eq!(top[1]["drop_packets"].as_u64(), Some(denied_flows));
    assert_eq!(top[1]["drop_bytes"].as_u64(), Some(74 * denied_flows));

    // A per-minute series: the partial first and last minutes count only their flows in range.
    let series = store
        .series(60_000, Metric::Flows, None, 5, &scope)
        .unwrap();
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 8);
    assert_eq!(points[0], json!([T0 + 30 * 60_000, 30]));
    assert_eq!(points[1], json!([T0 + 31 * 60_000, 60]));
    assert_eq!(points[7], json!([T0 + 37 * 60_000, 20]));

    // Grouping by pod is not a rollup key: the flows answer, with the same totals.
    let pods = [field("SrcK8S_Name").unwrap()];
    assert!(!store.reads_rollups(&pods, &scope, None));
    let by_pod = store.top(&pods, Metric::Bytes, 10, &scope).unwrap();
    let total: u64 = by_pod.iter().filter_map(|r| r["bytes"].as_u64()).sum();
    assert_eq!(total, shop_bytes + denied_bytes);
    // Seconds are not whole minutes.
    assert!(!store.reads_rollups(&[], &scope, Some(1000)));
}
