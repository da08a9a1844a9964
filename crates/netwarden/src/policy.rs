//! `netwarden policy explain` and `netwarden policy check`: the network-policy engine of
//! `netwarden_policy::netpol` on files. `explain` says which tier allows or drops one
//! connection, with the events OVN-Kubernetes would report; `check` only validates.
//!
//! ```text
//! $ netwarden policy explain --inventory cluster.yaml --policies policies/ \
//!     --from iperf/client --to iperf/server --port 5201
//! Dropped: iperf/client -> iperf/server 5201/TCP
//!   Egress:  Allowed
//!     Allowed by network policy iperf3-server-access-egress in namespace iperf, direction Egress
//!   Ingress: Dropped
//!     Dropped by network policies isolation in namespace iperf, direction Ingress
//! ```

use anyhow::{bail, Context};
use netwarden_inventory::Snapshot;
use netwarden_policy::netpol::{
    self, Connection, DirectionVerdict, Endpoint, Explanation, Inventory, NamedPort, NamespaceInfo,
    NodeInfo, PodInfo, PolicyLoader, PolicyProblem, PolicySet, Protocol,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Explain the verdict of NetworkPolicies, (Baseline)AdminNetworkPolicies and
    /// EgressFirewalls for one connection.
    Explain(ExplainArgs),
    /// Validate policy files; invalid objects are listed and the exit status is 1.
    Check(CheckArgs),
    /// Replay stored flows against a proposed policy set and list the flows whose verdict would
    /// change, by workload pair (through the agent's API).
    Whatif(crate::whatif::WhatifArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Inventory file (Pods, Namespaces, Nodes; may be the same file as --policies).
    #[arg(long, value_name = "FILE")]
    inventory: PathBuf,
    /// Policy file, or directory of *.yaml/*.yml/*.json files.
    #[arg(long, value_name = "DIR|FILE", required = true)]
    policies: Vec<PathBuf>,
    /// Source: NAMESPACE/POD or an IP address.
    #[arg(long, value_name = "NS/POD|IP")]
    from: Endpoint,
    /// Destination: NAMESPACE/POD or an IP address.
    #[arg(long, value_name = "NS/POD|IP")]
    to: Endpoint,
    /// Destination port, with protocol (TCP by default): 443, 53/UDP, 9999/SCTP.
    #[arg(long, value_name = "PORT[/PROTO]", value_parser = parse_port)]
    port: (u16, Protocol),
    /// DNS name the destination is known by (for EgressFirewall dnsName rules); repeatable.
    #[arg(long, value_name = "NAME")]
    dns_name: Vec<String>,
    /// Print JSON (verdict, directions, NetObserv NetworkEvents) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Policy file, or directory of *.yaml/*.yml/*.json files.
    #[arg(long, value_name = "DIR|FILE", required = true)]
    policies: Vec<PathBuf>,
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Explain(args) => explain(args),
        PolicyCommand::Check(args) => check(args),
        PolicyCommand::Whatif(args) => crate::whatif::run(args),
    }
}

fn explain(args: ExplainArgs) -> anyhow::Result<()> {
    let (policies, problems) = load_policies(&args.policies)?;
    // Invalid objects are left out, as the cluster would; say so, but explain anyway.
    for p in &problems {
        eprintln!("warning: {p}");
    }
    let (snapshot, inventory_problems) = netwarden_inventory::yaml::load_file(&args.inventory)
        .with_context(|| format!("reading inventory {}", args.inventory.display()))?;
    for p in inventory_problems
        .iter()
        .filter(|p| p.severity != netwarden_inventory::Severity::Note)
    {
        eprintln!("warning: {p}");
    }
    let inventory = to_inventory(&snapshot);
    let (port, protocol) = args.port;
    let conn = Connection {
        src: args.from,
        dst: args.to,
        protocol,
        port,
        dst_dns_names: args.dns_name,
    };
    let answer = netpol::explain(&inventory, &policies, &conn)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&conn, &answer))?
        );
    } else {
        print!("{}", to_text(&conn, &answer));
    }
    Ok(())
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let (set, problems) = load_policies(&args.policies)?;
    for p in &problems {
        println!("{p}");
    }
    println!(
        "{} NetworkPolicies, {} AdminNetworkPolicies, {} BaselineAdminNetworkPolicy, {} EgressFirewalls valid; {} problems",
        set.network_policies.len(),
        set.admin_network_policies.len(),
        usize::from(set.baseline.is_some()),
        set.egress_firewalls.len(),
        problems.len()
    );
    if !problems.is_empty() {
        bail!("{} invalid policy fields", problems.len());
    }
    Ok(())
}

/// `443`, `53/UDP`.
fn parse_port(text: &str) -> Result<(u16, Protocol), String> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "TCP"));
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    if port == 0 {
        return Err("port 0 is not a destination port".into());
    }
    Ok((port, proto.parse()?))
}

/// Reads every file (directories: their *.yaml, *.yml, *.json, sorted by name).
pub fn load_policies(paths: &[PathBuf]) -> anyhow::Result<(PolicySet, Vec<PolicyProblem>)> {
    let mut loader = PolicyLoader::new();
    for path in paths {
        for file in policy_files(path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            loader.add_str(&text, &file.display().to_string())?;
        }
    }
    Ok(loader.finish())
}

fn policy_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let file = entry?.path();
        let ext = file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if file.is_file() && matches!(ext, "yaml" | "yml" | "json") {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// The engine's inventory from the inventory crate's Kubernetes objects.
pub fn to_inventory(snapshot: &Snapshot) -> Inventory {
    let labels = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    let pods = snapshot
        .pods
        .iter()
        .map(|pod| {
            let status = pod.status.as_ref();
            let mut ips: Vec<IpAddr> = status
                .and_then(|s| s.pod_ips.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|ip| ip.ip.parse().ok())
                .collect();
            if ips.is_empty() {
                ips.extend(
                    status
                        .and_then(|s| s.pod_ip.as_deref())
                        .and_then(|ip| ip.parse::<IpAddr>().ok()),
                );
            }
            let named_ports = pod
                .spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .flat_map(|c| c.ports.iter().flatten())
                .filter_map(|p| {
                    Some(NamedPort {
                        name: p.name.clone()?,
                        port: u16::try_from(p.container_port).ok()?,
                        protocol: p.protocol.as_deref().unwrap_or("TCP").parse().ok()?,
                    })
                })
                .collect();
            PodInfo {
                namespace: pod
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                name: pod.metadata.name.clone().unwrap_or_default(),
                labels: labels(&pod.metadata.labels),
                ips,
                named_ports,
                host_ips: status
                    .and_then(|s| s.host_ips.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|ip| ip.ip.parse().ok())
                    .chain(
                        status
                            .and_then(|s| s.host_ip.as_deref())
                            .and_then(|ip| ip.parse().ok()),
                    )
                    .fold(Vec::new(), |mut all: Vec<IpAddr>, ip| {
                        if !all.contains(&ip) {
                            all.push(ip);
                        }
                        all
                    }),
            }
        })
        .collect();
    let namespaces = snapshot
        .namespaces
        .iter()
        .map(|ns| NamespaceInfo {
            name: ns.metadata.name.clone().unwrap_or_default(),
            labels: labels(&ns.metadata.labels),
        })
        .collect();
    let nodes = snapshot
        .nodes
        .iter()
        .map(|node| NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: labels(&node.metadata.labels),
            ips: node
                .status
                .iter()
                .flat_map(|s| s.addresses.iter().flatten())
                .filter_map(|a| a.address.parse().ok())
                .collect(),
        })
        .collect();
    Inventory {
        pods,
        namespaces,
        nodes,
    }
}

fn verdict_word(v: netpol::Verdict) -> &'static str {
    match v {
        netpol::Verdict::Allowed => "Allowed",
        netpol::Verdict::Dropped => "Dropped",
    }
}

fn to_text(conn: &Connection, answer: &Explanation) -> String {
    let mut out = format!(
        "{}: {} -> {} {}/{}\n",
        verdict_word(answer.verdict),
        conn.src,
        conn.dst,
        conn.port,
        conn.protocol
    );
    let mut direction = |name: &str, d: &Option<DirectionVerdict>, absent: &str| match d {
        Some(d) => {
            out.push_str(&format!("  {name} {}\n", verdict_word(d.verdict)));
            if d.events.is_empty() {
                out.push_str("    no policy applies (default allow)\n");
            }
            for e in &d.events {
                out.push_str(&format!("    {e}\n"));
            }
        }
        None => out.push_str(&format!("  {name} not evaluated ({absent})\n")),
    };
    direction("Egress: ", &answer.egress, "the source is not a pod");
    let why = if answer
        .egress
        .as_ref()
        .is_some_and(|e| e.verdict == netpol::Verdict::Dropped)
    {
        "dropped on egress"
    } else {
        "the destination is not a pod"
    };
    direction("Ingress:", &answer.ingress, why);
    out
}

fn to_json(conn: &Connection, answer: &Explanation) -> serde_json::Value {
    let direction = |d: &Option<DirectionVerdict>| {
        d.as_ref().map(|d| {
            serde_json::json!({
                "Verdict": d.verdict,
                "NetworkEvents": d.events.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
            })
        })
    };
    serde_json::json!({
        "From": conn.src.to_string(),
        "To": conn.dst.to_string(),
        "Port": conn.port,
        "Protocol": conn.protocol,
        "Verdict": answer.verdict,
        "Egress": direction(&answer.egress),
        "Ingress": direction(&answer.ingress),
        "NetworkEvents": answer.events.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
    })
}
