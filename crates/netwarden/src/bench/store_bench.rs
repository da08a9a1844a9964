//! `netwarden bench store`: the flow store on synthetic flows spread over hours: ingest rate
//! (one writer thread), bytes per stored flow after a checkpoint, and the latency (median and p90)
//! of a filtered recent-flows page, a top-10 by owner pair and a per-minute series.

use netwarden_model::{FlowRecord, K8sEndpointDst, K8sEndpointSrc};
use netwarden_query::{field, parse_filter, FlowQuery, Metric, Scope};
use netwarden_store::{DuckStore, FlowStore, StoreOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct StoreBenchArgs {
    /// Flows to ingest.
    #[arg(long, default_value_t = 10_000_000)]
    flows: u64,
    /// Hours the flows are spread over (ending now).
    #[arg(long, default_value_t = 6)]
    hours: u64,
    /// Who talks to whom: `services` (each workload calls five services, one flow in ten goes
    /// out of the cluster) or `uniform` (any pod to any pod: the worst case for rollups).
    #[arg(long, value_enum, default_value_t = Traffic::Services)]
    traffic: Traffic,
    /// Flows per insert batch.
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
    /// Runs per query (median and p90 are printed).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Where the database goes (removed afterwards unless --keep).
    #[arg(long, default_value = "/var/tmp/netwarden-bench-store")]
    dir: PathBuf,
    #[arg(long)]
    keep: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Traffic {
    Services,
    Uniform,
}

/// A deterministic xorshift, so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PORTS: [u16; 6] = [80, 443, 5432, 6379, 8080, 53];

/// A flow of a cluster with 20 namespaces, 200 workloads and 2000 pods (pod `p` belongs to
/// workload `p % 200`, in namespace `p % 20`).
fn flow(rng: &mut Rng, end_ms: i64, traffic: Traffic) -> FlowRecord {
    let src_pod = rng.below(2000);
    // `None`: a destination outside the cluster.
    let (dst_pod, dst_port) = match traffic {
        Traffic::Uniform => (Some(rng.below(2000)), PORTS[rng.below(6) as usize]),
        Traffic::Services if rng.below(10) == 0 => (None, 443),
        Traffic::Services => {
            let service = (src_pod % 200 * 7 + rng.below(5) * 31 + 1) % 200;
            (
                Some(service + 200 * rng.below(10)),
                PORTS[(service % 6) as usize],
            )
        }
    };
    let ns = |p: u64| format!("ns-{}", p % 20);
    let owner = |p: u64| format!("app-{}", p % 200);
    let ip = |p: u64| format!("10.128.{}.{}", p / 250, p % 250 + 1).parse().ok();
    let external = |n: u64| format!("203.0.{}.{}", n / 250, n % 250 + 1).parse().ok();
    let bytes = 64 + rng.below(100_000);
    let dst_k8s = match dst_pod {
        Some(dst_pod) => K8sEndpointDst {
            namespace: Some(ns(dst_pod)),
            name: Some(format!("{}-{dst_pod}", owner(dst_pod))),
            kind: Some("Pod".into()),
            owner_name: Some(owner(dst_pod)),
            owner_type: Some("Deployment".into()),
            host_name: Some(format!("node-{}", dst_pod % 10)),
            ..Default::default()
        },
        None => K8sEndpointDst::default(),
    };
    FlowRecord {
        src_addr: ip(src_pod),
        dst_addr: dst_pod.map_or_else(|| external(rng.below(1000)), ip),
        src_port: Some(32768 + rng.below(28000) as u16),
        dst_port: Some(dst_port),
        proto: 6,
        etype: 0x0800,
        bytes,
        packets: bytes / 1000 + 1,
        flags: Some(0x1b),
        time_flow_start_ms: end_ms - 5000,
        time_flow_end_ms: end_ms,
        time_received: end_ms / 1000,
        sampling: 1,
        interfaces: vec![format!("veth{}", src_pod % 64)],
        if_directions: vec![netwarden_model::Direction::Ingress],
        src_k8s: K8sEndpointSrc {
            namespace: Some(ns(src_pod)),
            name: Some(format!("{}-{src_pod}", owner(src_pod))),
            kind: Some("Pod".into()),
            owner_name: Some(owner(src_pod)),
            owner_type: Some("Deployment".into()),
            host_name: Some(format!("node-{}", src_pod % 10)),
            ..Default::default()
        },
        dst_k8s,
        k8s_flow_layer: Some("app".into()),
        ..Default::default()
    }
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9))
}

fn time(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentiles(ms))
}

pub fn run(args: &StoreBenchArgs) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.dir);
    let path = args.dir.join("flows.duckdb");
    let store = DuckStore::open(&path, StoreOptions::default())?;
    let now = netwarden_store::now_ms();
    let span = (args.hours * 3_600_000) as i64;
    let start = now - span;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ingest = Duration::ZERO;
    // CPU of every thread of the process while inserting (DuckDB may use more than the caller's).
    let mut cpu = Duration::ZERO;
    let mut done = 0u64;
    println!(
        "store bench: {} flows over {} h, batches of {}, {:?} traffic",
        args.flows, args.hours, args.batch, args.traffic
    );
    while done < args.flows {
        let n = (args.flows - done).min(args.batch as u64);
        // Flows arrive in time order, as evictions deliver them.
        let batch: Vec<FlowRecord> = (0..n)
            .map(|i| {
                let end = start + ((done + i) as i128 * span as i128 / args.flows as i128) as i64;
                flow(&mut rng, end, args.traffic)
            })
            .collect();
        let (user, system) = super::procstat::cpu_time(std::process::id())?;
        let t = Instant::now();
        store.insert(&batch)?;
        ingest += t.elapsed();
        let (user2, system2) = super::procstat::cpu_time(std::process::id())?;
        cpu += (user2 + system2).saturating_sub(user + system);
        done += n;
    }
    store.checkpoint()?;
    let rate = done as f64 / ingest.as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "ingest: {rate:.0} flows/s (one writer thread, {:.1} s), {:.0} flows per CPU second",
        ingest.as_secs_f64(),
        done as f64 / cpu.as_secs_f64().max(1e-9)
    );
    println!(
        "size: {:.1} MiB on disk, {:.1} bytes per flow",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / done as f64
    );
    let recent = FlowQuery {
        filter: parse_filter(r#"SrcK8S_Namespace="ns-3" AND DstPort=443"#)?,
        since_ms: Some(now - 15 * 60_000),
        limit: 100,
        ..Default::default()
    };
    let (p50, p90) = time(args.runs, || Ok(store.flows(&recent).map(drop)?))?;
    println!("filtered recent flows (last 15 min, 100 rows + count): median {p50:.1} ms, p90 {p90:.1} ms");
    let all = Scope {
        filter: None,
        since_ms: Some(start),
        until_ms: None,
    };
    let owners = [
        field("SrcK8S_OwnerName").expect("catalog"),
        field("DstK8S_OwnerName").expect("catalog"),
    ];
    let (p50, p90) = time(args.runs, || {
        Ok(store.top(&owners, Metric::Bytes, 10, &all).map(drop)?)
    })?;
    println!(
        "top 10 owner pairs by bytes ({} h): median {p50:.1} ms, p90 {p90:.1} ms",
        args.hours
    );
    let (p50, p90) = time(args.runs, || {
        Ok(store
            .series(60_000, Metric::Bytes, None, 5, &all)
            .map(drop)?)
    })?;
    println!(
        "per-minute bytes series ({} h): median {p50:.1} ms, p90 {p90:.1} ms",
        args.hours
    );
    drop(store);
    if !args.keep {
        let _ = std::fs::remove_dir_all(&args.dir);
    }
    Ok(())
}
