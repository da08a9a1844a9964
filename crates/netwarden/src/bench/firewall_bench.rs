//! `netwarden bench firewall`: the XDP firewall's nanoseconds per packet by rule set (the kernel's
//! own measure, BPF_PROG_TEST_RUN), what a large rule set costs to compile and apply, and its drop
//! rate on a veth pair against nftables with the same rule. Figures are printed, never asserted.

mod cost;
mod drop_rate;
mod floor;
mod frames;
mod nft;
mod pins;
mod pktgen;
mod rules;

use super::{median, procstat};
use anyhow::{bail, Context};
use cost::{CostArgs, CostReport, Role};
use drop_rate::{DropArgs, DropReport, Run};
use netwarden_lab::{unique_tag, Netns};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct FirewallBenchArgs {
    /// Runs of the program per BPF_PROG_TEST_RUN measurement (the kernel reports their mean).
    #[arg(long, default_value_t = 1_000_000)]
    repeat: u32,
    /// Measurements per case (the median is printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Source CIDRs (/24s under 10.0.0.0/8) of the large rule set.
    #[arg(long, default_value_t = 10_000)]
    entries: u32,
    /// Rules per source CIDR of the large rule set (TCP single ports; the packet matches the last).
    #[arg(long, default_value_t = 100)]
    rules: u32,
    /// Seconds per drop-rate window.
    #[arg(long, default_value_t = 4)]
    seconds: u32,
    /// Alternating XDP / nftables drop-rate windows (medians are compared).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Generator threads in the sender namespace.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Skip the drop-rate comparison.
    #[arg(long)]
    no_throughput: bool,
    /// Skip the cost per packet (and the large rule set).
    #[arg(long)]
    no_cost: bool,
}

/// Most nanoseconds per packet any case may take.
const GOAL_NS: f64 = 40.0;
/// "Flat in rule count": the large set's match may cost at most this much more than 1 x 1's.
const FLAT_NS: f64 = 5.0;
/// XDP must drop at least this many times what nftables drops.
const GOAL_RATIO: f64 = 3.0;

pub fn run(args: &FirewallBenchArgs) -> anyhow::Result<()> {
    if args.repeat == 0 || args.runs == 0 || args.seconds == 0 || args.rounds == 0 {
        bail!("--repeat, --runs, --seconds and --rounds must be at least 1");
    }
    if !(1..=rules::MAX_ENTRIES).contains(&args.entries) {
        bail!("--entries must be 1 to {}", rules::MAX_ENTRIES);
    }
    if !(1..=rules::MAX_RULES).contains(&args.rules) {
        bail!(
            "--rules must be 1 to {} (a port table holds {} segments)",
            rules::MAX_RULES,
            2 * rules::MAX_RULES + 1
        );
    }
    let started = Instant::now();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "netwarden bench firewall: kernel {}, {cpus} CPUs\nreproduce: netwarden bench firewall \
         --repeat {} --runs {} --entries {} --rules {} --seconds {} --rounds {} --senders {}{}{}\n",
        kernel.trim(),
        args.repeat,
        args.runs,
        args.entries,
        args.rules,
        args.seconds,
        args.rounds,
        args.senders,
        if args.no_cost { " --no-cost" } else { "" },
        if args.no_throughput {
            " --no-throughput"
        } else {
            ""
        },
    );
    // Ctrl-C ends the bench between steps; namespaces and pins are removed on the way out.
    let stop = crate::run_loop::stop_on_signals()?;
    if !args.no_cost {
        let cost_args = CostArgs {
            repeat: args.repeat,
            runs: args.runs,
            entries: args.entries,
            rules: args.rules,
        };
        let tag = unique_tag();
        let ns = Netns::create(format!("nwfc{tag}")).context("bench namespace")?;
        let pins = pins::Pins::new(&tag);
        let report = cost::measure(&ns, &pins, cost_args, std::sync::Arc::clone(&stop))?;
        drop(pins);
        drop(ns);
        print_cost(&report, &cost_args);
    }
    if !args.no_throughput {
        let drop_args = DropArgs {
            seconds: args.seconds,
            rounds: args.rounds,
            senders: args.senders,
        };
        let report = drop_rate::measure(drop_args, &stop)?;
        print_drops(&report, &drop_args, cpus);
    }
    println!(
        "took {:.0} s; this process peaked at {:.0} MiB RSS",
        started.elapsed().as_secs_f64(),
        procstat::status_kib(std::process::id(), "VmHWM").unwrap_or(0) as f64 / 1024.0
    );
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

fn print_cost(report: &CostReport, args: &CostArgs) {
    let median_of = |c: &cost::Case| median(c.ns.iter().map(|&n| f64::from(n)).collect());
    let floor = report
        .cases
        .iter()
        .find(|c| c.role == Role::Floor)
        .map_or(0.0, median_of);
    println!(
        "XDP firewall cost per packet (BPF_PROG_TEST_RUN from a namespace of its own, frames on lo;\n\
         kernel-measured mean of {} runs, median of {} measurements; net = ns minus the floor, the\n\
         harness's own cost per run; Deny cases take the event path, rate-limited to 100 events/s\n\
         per rule, so nearly every run counts a suppressed event)",
        args.repeat, args.runs
    );
    println!(
        "  {:<58} {:>7} {:>5} {:>9} {:>5}  goal",
        "case", "verdict", "ns", "(min-max)", "net"
    );
    let (mut small, mut wide, mut large) = (None, None, None);
    for c in &report.cases {
        let ns = median_of(c);
        let (lo, hi) = (
            c.ns.iter().min().copied().unwrap_or(0),
            c.ns.iter().max().copied().unwrap_or(0),
        );
        match c.role {
            Role::SmallMatch => small = Some(ns),
            Role::WideMatch => wide = Some(ns),
            Role::LargeMatch => large = Some(ns),
            Role::Floor | Role::Other => {}
        }
        let goal = if c.role == Role::Floor {
            String::new()
        } else {
            format!(
                "<= {GOAL_NS:.0} ns {} (net {})",
                met(ns <= GOAL_NS),
                met(ns - floor <= GOAL_NS)
            )
        };
        println!(
            "  {:<58} {:>7} {ns:>5.0} {:>9} {:>5.0}  {goal}",
            c.label,
            c.verdict,
            format!("({lo}-{hi})"),
            ns - floor,
        );
    }
    if let (Some(small), Some(wide), Some(large)) = (small, wide, large) {
        let (m, n) = (args.entries, args.rules);
        println!(
            "  flat in rule count: {m} x {n} match vs 1 x 1 match: {:+.0} ns  (goal: within \
             {FLAT_NS:.0} ns) {}\n    of which rules per entry (1 x {n} vs 1 x 1): {:+.0} ns, \
             entries ({m} x {n} vs 1 x {n}): {:+.0} ns",
            large - small,
            met(large - small <= FLAT_NS),
            wide - small,
            large - wide,
        );
    }
    let l = &report.large;
    let cap = &report.capacity;
    println!(
        "large rule set: {} entries x {} rules = {} rule identities on {} prefixes (YAML {:.1} MiB)\n  \
         load {:.2} s, validate + compile {:.2} s, apply {:.2} s (re-apply unchanged {:.2} s)\n  \
         this process: {:.0} MiB RSS after compile, peak {:.0} MiB by then, {:.0} MiB after apply;\n  \
         state file {:.0} MiB; kernel maps with the set in force: {:.0} MiB\n  \
         (memlock; capacity {} rule slots x 48 B per CPU, {} prefixes, {} tables)\n",
        args.entries,
        args.rules,
        l.rules,
        l.prefixes,
        mib(l.yaml_bytes as f64),
        l.load.as_secs_f64(),
        l.compile.as_secs_f64(),
        l.apply.as_secs_f64(),
        l.reapply.as_secs_f64(),
        l.rss_after_compile_kib as f64 / 1024.0,
        l.peak_after_compile_kib as f64 / 1024.0,
        l.peak_after_apply_kib as f64 / 1024.0,
        mib(l.state_bytes as f64),
        mib(l.map_memlock as f64),
        cap.rules,
        cap.prefixes,
        cap.tables,
    );
}

fn print_drops(report: &DropReport, args: &DropArgs, cpus: usize) {
    println!(
        "drop rate on a veth pair: {} generator thread(s) in a sender namespace write 60-byte UDP frames\n\
         to port {} (AF_PACKET, qdisc bypassed) at a receiver namespace, whose end drops them by one\n\
         Deny rule ({} UDP {}): XDP firewall ({} mode) vs nftables (same rule in an inet table,\n\
         hook prerouting priority -300 (raw): the earliest netfilter drop). Medians of {} alternating\n\
         windows of {} s. The receiving veth works in softirq on the sending CPU, so generator and\n\
         filter share {cpus} CPUs: rates are indicative; softirq ns per drop is the receiving side's\n\
         cost alone (tick-sampled).",
        args.senders,
        drop_rate::PORT,
        drop_rate::SENDER_NET,
        drop_rate::PORT,
        report.xdp_mode,
        args.rounds,
        args.seconds,
    );
    println!(
        "  {:<10} {:>14} {:>17} {:>10} {:>10} {:>10} {:>13}",
        "filter", "drops/s", "(min-max)", "offered/s", "busy", "softirq", "softirq/drop"
    );
    let xdp = summary(&report.xdp);
    print_row("XDP", &report.xdp, &xdp);
    let Some(nft_runs) = &report.nft else {
        println!(
            "  nftables: skipped, `nft` is not installed (install nftables: scripts/setup.sh)\n"
        );
        return;
    };
    let nft = summary(nft_runs);
    print_row("nftables", nft_runs, &nft);
    let ratio = if nft.drops > 0.0 {
        xdp.drops / nft.drops
    } else {
        0.0
    };
    let cost_ratio = if xdp.ns_per_drop > 0.0 {
        nft.ns_per_drop / xdp.ns_per_drop
    } else {
        0.0
    };
    println!(
        "  XDP / nftables drop rate: {ratio:.2}x  (goal: >= {GOAL_RATIO:.0}x) {}\n  \
         nftables / XDP softirq per drop: {cost_ratio:.2}x  (the receiving side alone)\n",
        met(ratio >= GOAL_RATIO)
    );
}

struct Summary {
    drops: f64,
    ns_per_drop: f64,
}

fn summary(runs: &[Run]) -> Summary {
    Summary {
        drops: median(runs.iter().map(|r| r.drops_per_sec).collect()),
        ns_per_drop: median(runs.iter().map(ns_per_drop).collect()),
    }
}

fn ns_per_drop(r: &Run) -> f64 {
    if r.drops_per_sec > 0.0 {
        1e9 * r.softirq_cores / r.drops_per_sec
    } else {
        0.0
    }
}

fn print_row(label: &str, runs: &[Run], s: &Summary) {
    let rates: Vec<f64> = runs.iter().map(|r| r.drops_per_sec / 1e3).collect();
    let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rates.iter().copied().fold(0.0, f64::max);
    let offered = median(runs.iter().map(|r| r.offered_per_sec / 1e3).collect());
    let busy = median(runs.iter().map(|r| r.busy_cores).collect());
    let softirq = median(runs.iter().map(|r| r.softirq_cores).collect());
    println!(
        "  {label:<10} {:>8.0} kpkt/s {:>17} {:>8.0} k {:>6.2} CPU {:>6.2} CPU {:>10.0} ns",
        s.drops / 1e3,
        format!("({lo:.0}-{hi:.0})"),
        offered,
        busy,
        softirq,
        s.ns_per_drop
    );
}
