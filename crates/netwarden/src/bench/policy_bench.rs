//! `netwarden bench policy`: what enforce mode's policy compiler
//! ([`netpol::compile_enforcement`]) costs on synthetic clusters of growing size, how large its
//! tables come out, and (as root) how long writing them into the pod guard's kernel maps and
//! flipping the generation takes. The clusters and their policies are built here, in memory; the
//! policies go through the YAML loader as the agent's would. Figures are printed, never asserted.

use super::{median, procstat};
use anyhow::{bail, ensure, Context};
use netwarden_datapath::podguard::{PodGuard, PodGuardOptions, RulesWrite};
use netwarden_policy::netpol::{
    self, Enforcement, Inventory, NamedPort, NamespaceInfo, NodeInfo, PodInfo, PolicySet, Protocol,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct PolicyBenchArgs {
    /// Compilations per cluster size (the median is printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only the cluster sizes with at most this many pods (200, 2000, 3000, 10000).
    #[arg(long, default_value_t = 10_000)]
    max_pods: usize,
    /// Do not write the tables into kernel maps even as root.
    #[arg(long)]
    no_kernel: bool,
}

/// One synthetic cluster.
#[derive(Debug, Clone, Copy)]
struct Size {
    namespaces: usize,
    pods: usize,
    /// NetworkPolicies (spread over the namespaces; the admin policies and EgressFirewalls come
    /// on top).
    policies: usize,
    /// Pods on the node compiled for (node 0).
    local: usize,
}

const SIZES: [Size; 4] = [
    Size {
        namespaces: 10,
        pods: 200,
        policies: 20,
        local: 20,
    },
    Size {
        namespaces: 50,
        pods: 2_000,
        policies: 200,
        local: 50,
    },
    Size {
        namespaces: 100,
        pods: 3_000,
        policies: 300,
        local: 50,
    },
    Size {
        namespaces: 200,
        pods: 10_000,
        policies: 1_000,
        local: 100,
    },
];

const NODES: usize = 20;
/// Pods per Deployment: pods of one Deployment share their labels.
const REPLICAS: usize = 4;
const APPS: [&str; 20] = [
    "web",
    "api",
    "auth",
    "cart",
    "checkout",
    "catalog",
    "search",
    "payments",
    "orders",
    "inventory",
    "shipping",
    "email",
    "notify",
    "reports",
    "billing",
    "users",
    "media",
    "cache",
    "queue",
    "gateway",
];
const TIERS: [&str; 3] = ["frontend", "backend", "db"];
const TEAMS: usize = 8;

pub fn run(args: &PolicyBenchArgs) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let sizes: Vec<Size> = SIZES
        .iter()
        .copied()
        .filter(|s| s.pods <= args.max_pods)
        .collect();
    if sizes.is_empty() {
        bail!("--max-pods {} leaves no cluster size", args.max_pods);
    }
    let mut rows = Vec::new();
    let started = Instant::now();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // SAFETY: geteuid has no preconditions.
    let kernel = !args.no_kernel && unsafe { libc::geteuid() } == 0;
    println!(
        "netwarden bench policy: {cpus} CPUs (the compiler uses one), {} build\nreproduce: \
         netwarden bench policy --runs {} --max-pods {}{}\n",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        args.runs,
        args.max_pods,
        if args.no_kernel { " --no-kernel" } else { "" }
    );
    println!(
        "enforce mode's policy compiler (compile_enforcement) on synthetic clusters: {NODES} nodes,\n\
         Deployments of {REPLICAS} pods (labels app, tier, pod-template-hash; named ports http,\n\
         metrics or postgres), pods in 10.128.0.0/14, every third namespace dual stack (fd00::/64);\n\
         per namespace a default-deny ingress NetworkPolicy, then allow rules in turn (same\n\
         namespace by app on 80, 443, 8080-8090 and named port http; ipBlocks with except; egress to\n\
         0.0.0.0/0 except 10.0.0.0/8 on 443 plus DNS; other teams' namespaces); 3 ANPs (Allow,\n\
         Deny, Pass; namespaces, pods and networks peers), a BANP, an EgressFirewall in every\n\
         fourth namespace. Compiled for the pods of node 0; time is the median of {} runs, load is\n\
         YAML parse + validation; peak is this process's RSS growth over load and compiles.",
        args.runs
    );
    println!(
        "  {:>4} {:>6} {:>8} {:>5} {:>8} {:>10} {:>17} {:>7} {:>7} {:>5} {:>7} {:>7} {:>6} {:>9} {:>8}",
        "ns",
        "pods",
        "policies",
        "local",
        "load ms",
        "compile ms",
        "(min-max)",
        "classes",
        "/trie",
        "sets",
        "/region",
        "regions",
        "tables",
        "decisions",
        "peak MiB"
    );
    for size in sizes {
        eprintln!(
            "cluster of {} pods, {} NetworkPolicies",
            size.pods, size.policies
        );
        let row =
            measure(size, args.runs).with_context(|| format!("cluster of {} pods", size.pods))?;
        print_row(size, &row);
        rows.push((size, row));
    }
    println!(
        "  (policies: NetworkPolicies + ANPs + BANP + EgressFirewalls; classes: address classes,\n   \
         /trie: their entries in the shared class trie (one generation); sets: distinct rule sets\n   \
         for the 2 x local pods' directions; /region: (rule set, class) entries, defaults\n   \
         included; tables: port tables summed over the regions)"
    );
    if kernel {
        println!(
            "\nwriting a generation into the pod guard's kernel maps (object loaded, nothing \
             attached)\nand flipping it; the first write fills an empty generation, the others \
             first remove\nwhat the idle generation held (median of {} such writes):",
            args.runs
        );
        println!(
            "  {:>6} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "pods",
            "first ms",
            "apply ms",
            "clear ms",
            "write ms",
            "classes",
            "sets",
            "regions",
            "tables"
        );
        for (size, row) in rows {
            apply(size, row.out, args.runs)
                .with_context(|| format!("kernel maps for the cluster of {} pods", size.pods))?;
        }
    } else {
        println!("\n(kernel maps not written: needs root, and no --no-kernel)");
    }
    println!(
        "took {:.0} s; this process peaked at {:.0} MiB RSS",
        started.elapsed().as_secs_f64(),
        procstat::status_kib(std::process::id(), "VmHWM").unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}

struct Row {
    objects: usize,
    load: Duration,
    compile: Vec<Duration>,
    out: Enforcement,
    peak_growth_kib: u64,
}

fn measure(size: Size, runs: usize) -> anyhow::Result<Row> {
    let pid = std::process::id();
    reset_peak_rss();
    let rss_before = procstat::status_kib(pid, "VmRSS")?;
    let cluster = Cluster::new(size);
    let yaml = policies_yaml(&cluster, size)?;
    let load_started = Instant::now();
    let (policies, problems) = netpol::parse_str(&yaml, "bench policies")?;
    let load = load_started.elapsed();
    if let Some(first) = problems.first() {
        bail!(
            "the generated policies have {} problem(s), the first: {first}",
            problems.len()
        );
    }
    let objects = count(&policies);
    ensure!(
        policies.network_policies.len() == size.policies,
        "{} of {} NetworkPolicies loaded",
        policies.network_policies.len(),
        size.policies
    );
    let mut compile = Vec::with_capacity(runs);
    let mut out = None;
    for _ in 0..runs {
        // The previous result goes first, so the peak is one compile's.
        drop(out.take());
        let started = Instant::now();
        let compiled = netpol::compile_enforcement(&cluster.inventory, &policies, &cluster.local)?;
        compile.push(started.elapsed());
        out = Some(compiled);
    }
    let out: Enforcement = out.context("no compile ran")?;
    ensure!(
        out.pods.len() == size.local && out.skipped.is_empty(),
        "{} of {} local pods compiled",
        out.pods.len(),
        size.local
    );
    let peak = procstat::status_kib(pid, "VmHWM")?;
    Ok(Row {
        objects,
        load,
        compile,
        out,
        peak_growth_kib: peak.saturating_sub(rss_before),
    })
}

/// Returns the heap the previous size freed to the kernel, then resets this process's peak RSS
/// (VmHWM) to its current RSS, so each size's peak growth is its own (Linux 4.0 and later;
/// without it the peak only grows, which sizes in ascending order survive).
fn reset_peak_rss() {
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn count(p: &PolicySet) -> usize {
    p.network_policies.len()
        + p.admin_network_policies.len()
        + usize::from(p.baseline.is_some())
        + p.egress_firewalls.len()
}

fn print_row(size: Size, row: &Row) {
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let times: Vec<f64> = row.compile.iter().map(ms).collect();
    let lo = times.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = times.iter().copied().fold(0.0, f64::max);
    let out = &row.out;
    let port_tables: usize = out.regions.iter().map(|r| r.tables.len()).sum();
    println!(
        "  {:>4} {:>6} {:>8} {:>5} {:>8.1} {:>10.1} {:>17} {:>7} {:>7} {:>5} {:>7} {:>7} {:>6} {:>9} {:>8.1}",
        size.namespaces,
        size.pods,
        row.objects,
        size.local,
        ms(&row.load),
        median(times.clone()),
        format!("({lo:.1}-{hi:.1})"),
        out.class_count,
        out.classes.len(),
        out.rule_sets.len(),
        out.region_entries() + out.rule_sets.len(),
        out.regions.len(),
        port_tables,
        out.decisions.len(),
        row.peak_growth_kib as f64 / 1024.0,
    );
}

/// Loads the pod guard, writes `out` into its maps `runs + 1` times (each write goes into the
/// idle generation and flips it) and prints the first and the median of the others, end to end
/// (encoding, removing the idle generation's entries, writing, flipping).
fn apply(size: Size, out: Enforcement, runs: usize) -> anyhow::Result<()> {
    let mut guard = PodGuard::load(&PodGuardOptions::default()).context("loading the pod guard")?;
    let mut times = Vec::with_capacity(runs);
    let mut first = None;
    let mut last = RulesWrite::default();
    for _ in 0..=runs {
        // The agent hands its compiled tables over; the copy is not part of the write.
        let tables = out.clone();
        let started = Instant::now();
        guard.set_network_policy(Some(tables))?;
        let took = started.elapsed();
        match first {
            None => first = Some(took),
            Some(_) => times.push(took),
        }
        last = guard.last_rules_write();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {:>6} {:>10.1} {:>10.1} {:>8.1} {:>8.1} {:>8} {:>8} {:>8} {:>8}",
        size.pods,
        first.map_or(0.0, ms),
        median(times.iter().map(|d| ms(*d)).collect()),
        ms(last.clear),
        ms(last.write),
        last.classes,
        last.sets,
        last.regions,
        last.tables,
    );
    Ok(())
}

// ------------------------------------------------------------------------------------ cluster

/// The inventory, the local pods, and what the policy text needs to know of them.
struct Cluster {
    inventory: Inventory,
    local: Vec<(String, String)>,
    /// Per namespace, the app label of each of its Deployments.
    apps: Vec<Vec<&'static str>>,
}

fn namespace_name(n: usize) -> String {
    format!("ns-{n:03}")
}

fn team(n: usize) -> String {
    format!("team-{}", n % TEAMS)
}

fn env(n: usize) -> &'static str {
    if n.is_multiple_of(2) {
        "prod"
    } else {
        "dev"
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Cluster {
    fn new(size: Size) -> Cluster {
        let nodes: Vec<NodeInfo> = (0..NODES)
            .map(|n| {
                let name = format!("worker-{n:02}");
                let zone = format!("zone-{}", ["a", "b", "c"][n % 3]);
                NodeInfo {
                    labels: labels(&[
                        ("kubernetes.io/hostname", &name),
                        ("topology.kubernetes.io/zone", &zone),
                        ("node-role.kubernetes.io/worker", ""),
                    ]),
                    name,
                    ips: vec![
                        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + n as u8)),
                        IpAddr::V6(Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 10 + n as u16)),
                    ],
                }
            })
            .collect();
        let namespaces: Vec<NamespaceInfo> = (0..size.namespaces)
            .map(|n| NamespaceInfo {
                name: namespace_name(n),
                labels: labels(&[("team", &team(n)), ("env", env(n))]),
            })
            .collect();
        let per_namespace = size.pods / size.namespaces;
        // Every `stride`-th pod runs on node 0, spread over the namespaces as a scheduler would.
        let stride = (size.pods / size.local).max(1);
        let pod_net = u32::from(Ipv4Addr::new(10, 128, 0, 0));
        let mut pods = Vec::with_capacity(size.pods);
        let mut apps = vec![Vec::new(); size.namespaces];
        let mut local = Vec::new();
        for i in 0..size.pods {
            let n = (i / per_namespace).min(size.namespaces - 1);
            let j = i - n * per_namespace;
            let (d, replica) = (j / REPLICAS, j % REPLICAS);
            let app_index = (n * 3 + d) % APPS.len();
            let (app, tier) = (APPS[app_index], TIERS[d % TIERS.len()]);
            if apps[n].len() == d {
                apps[n].push(app);
            }
            let node = if i.is_multiple_of(stride) {
                0
            } else {
                1 + i % (NODES - 1)
            };
            let v4 = IpAddr::V4(Ipv4Addr::from(pod_net + 2 + i as u32));
            let mut ips = vec![v4];
            if n.is_multiple_of(3) {
                ips.push(IpAddr::V6(Ipv6Addr::from(
                    u128::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0)) + 2 + i as u128,
                )));
            }
            let named = |name: &str, port: u16| NamedPort {
                name: name.into(),
                port,
                protocol: Protocol::Tcp,
            };
            let mut named_ports = vec![named("metrics", 9090)];
            if tier == "db" {
                named_ports.push(named("postgres", 5432));
            } else {
                named_ports.push(named("http", 3000 + 10 * app_index as u16));
            }
            let hash = format!("{:x}", 0x6b5c_4000 + n * 64 + d);
            let name = format!("{app}-{hash}-{replica}");
            if node == 0 {
                local.push((namespace_name(n), name.clone()));
            }
            pods.push(PodInfo {
                namespace: namespace_name(n),
                name,
                labels: labels(&[("app", app), ("tier", tier), ("pod-template-hash", &hash)]),
                ips,
                named_ports,
                host_ips: nodes[node].ips.clone(),
            });
        }
        Cluster {
            inventory: Inventory {
                pods,
                namespaces,
                nodes,
            },
            local,
            apps,
        }
    }
}

// ----------------------------------------------------------------------------------- policies

/// The policies as one multi-document YAML text.
fn policies_yaml(cluster: &Cluster, size: Size) -> anyhow::Result<String> {
    let mut y = String::new();
    for (n, apps) in cluster.apps.iter().enumerate() {
        // NetworkPolicies of this namespace: an even share, the remainder to the first ones.
        let share =
            size.policies / size.namespaces + usize::from(n < size.policies % size.namespaces);
        let ns = namespace_name(n);
        for k in 0..share {
            let app = apps[k % apps.len()];
            let peer = apps[(k + 1) % apps.len()];
            np(&mut y, &ns, n, k, app, peer)?;
        }
        if n.is_multiple_of(4) {
            egress_firewall(&mut y, &ns, n)?;
        }
    }
    admin(&mut y)?;
    Ok(y)
}

fn np(y: &mut String, ns: &str, n: usize, k: usize, app: &str, peer: &str) -> std::fmt::Result {
    let head = |y: &mut String, name: &str| {
        writeln!(
            y,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: \
             {name}, namespace: {ns}}}\nspec:"
        )
    };
    // After the default deny, the kinds take turns, shifted per namespace so that small
    // clusters (two policies per namespace) still hold every kind.
    let kind = if k == 0 { 0 } else { 1 + (n + k - 1) % 4 };
    match kind {
        0 => {
            head(y, "default-deny-ingress")?;
            writeln!(y, "  podSelector: {{}}\n  policyTypes: [Ingress]")
        }
        1 => {
            head(y, &format!("allow-{peer}-to-{app}-{k}"))?;
            writeln!(
                y,
                "  podSelector: {{matchLabels: {{app: {app}}}}}\n  ingress:\n  - from:\n    \
                 - podSelector: {{matchLabels: {{app: {peer}}}}}\n    ports:\n    \
                 - {{protocol: TCP, port: 80}}\n    - {{protocol: TCP, port: 443}}\n    \
                 - {{protocol: TCP, port: 8080, endPort: 8090}}\n    - {{port: http}}"
            )
        }
        2 => {
            head(y, &format!("allow-office-to-{app}-{k}"))?;
            writeln!(
                y,
                "  podSelector: {{matchLabels: {{app: {app}}}}}\n  ingress:\n  - from:\n    \
                 - ipBlock: {{cidr: 192.168.0.0/16, except: [192.168.{}.0/24]}}\n    \
                 - ipBlock: {{cidr: 10.0.0.0/8, except: [10.128.0.0/14, 10.0.0.0/24]}}\n    \
                 ports:\n    - {{protocol: TCP, port: 443}}\n    - {{protocol: UDP, port: 5353}}",
                n % 256
            )
        }
        3 => {
            head(y, &format!("egress-{app}-{k}"))?;
            writeln!(
                y,
                "  podSelector: {{matchLabels: {{app: {app}}}}}\n  policyTypes: [Egress]\n  \
                 egress:\n  - to:\n    - ipBlock: {{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}\n    \
                 ports:\n    - {{protocol: TCP, port: 443}}\n  - to:\n    \
                 - namespaceSelector: {{matchLabels: {{team: team-0}}}}\n      \
                 podSelector: {{matchLabels: {{app: gateway}}}}\n    ports:\n    \
                 - {{protocol: UDP, port: 53}}\n    - {{protocol: TCP, port: 53}}\n  - to:\n    \
                 - podSelector: {{}}"
            )
        }
        _ => {
            head(y, &format!("allow-{}-to-{app}-{k}", team(n + 1)))?;
            writeln!(
                y,
                "  podSelector: {{matchLabels: {{app: {app}}}}}\n  ingress:\n  - from:\n    \
                 - namespaceSelector: {{matchLabels: {{team: {}}}}}\n      \
                 podSelector: {{matchLabels: {{tier: frontend}}}}\n    ports:\n    \
                 - {{protocol: TCP, port: 8443}}\n    - {{port: metrics}}",
                team(n + 1)
            )
        }
    }
}

fn egress_firewall(y: &mut String, ns: &str, n: usize) -> std::fmt::Result {
    writeln!(
        y,
        "---\napiVersion: k8s.ovn.org/v1\nkind: EgressFirewall\nmetadata: {{name: default, \
         namespace: {ns}}}\nspec:\n  egress:\n  - type: Allow\n    to: {{dnsName: \
         api.example.com}}\n  - type: Allow\n    to: {{cidrSelector: 203.0.113.0/24}}\n    \
         ports: [{{protocol: TCP, port: 443}}]\n  - type: Allow\n    to: {{cidrSelector: \
         198.51.100.{}/32}}\n  - type: Deny\n    to: {{cidrSelector: 0.0.0.0/0}}\n  \
         - type: Deny\n    to: {{cidrSelector: \"::/0\"}}",
        n % 256
    )
}

/// Three AdminNetworkPolicies (the catch-all one last: its `Pass` ends the tier) and the
/// BaselineAdminNetworkPolicy.
fn admin(y: &mut String) -> std::fmt::Result {
    writeln!(
        y,
        r#"---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {{name: cluster-guardrails}}
spec:
  priority: 50
  subject: {{namespaces: {{}}}}
  ingress:
  - name: monitoring
    action: Allow
    from: [{{namespaces: {{matchLabels: {{team: team-0}}}}}}]
    ports: [{{namedPort: metrics}}]
  - name: to-namespace-policies
    action: Pass
    from: [{{namespaces: {{}}}}]
  egress:
  - name: no-metadata
    action: Deny
    to: [{{networks: [169.254.169.254/32, "fd00:ec2::254/128"]}}]
  - name: to-namespace-policies
    action: Pass
    to: [{{namespaces: {{}}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {{name: payments-isolation}}
spec:
  priority: 10
  subject: {{namespaces: {{matchLabels: {{team: team-3}}}}}}
  ingress:
  - action: Deny
    from: [{{namespaces: {{matchLabels: {{env: dev}}}}}}]
  egress:
  - action: Allow
    to: [{{networks: [203.0.113.0/24, 10.200.0.0/16]}}]
    ports:
    - portRange: {{protocol: TCP, start: 8000, end: 8100}}
    - portNumber: {{protocol: TCP, port: 5432}}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {{name: databases}}
spec:
  priority: 20
  subject:
    pods:
      namespaceSelector: {{matchLabels: {{env: prod}}}}
      podSelector: {{matchLabels: {{tier: db}}}}
  ingress:
  - action: Allow
    from:
    - pods:
        namespaceSelector: {{}}
        podSelector: {{matchLabels: {{tier: backend}}}}
    ports: [{{namedPort: postgres}}]
  - action: Deny
    from: [{{namespaces: {{}}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {{name: default}}
spec:
  subject: {{namespaces: {{}}}}
  ingress:
  - action: Deny
    from: [{{namespaces: {{matchLabels: {{env: dev}}}}}}]
  egress:
  - action: Deny
    to: [{{networks: [192.0.2.0/24]}}]"#
    )
}
