//! `netwarden bench`: overhead figures, printed (never asserted: they depend on the machine).

mod agent_proc;
mod firewall_bench;
mod flowgen;
mod in_process;
mod lab;
mod policy_bench;
mod procstat;
mod prog_stats;
mod store_bench;
mod throughput;

use agent_proc::AgentProc;
use anyhow::Context;
use flowgen::{FlowGen, Pattern};
use lab::BenchLab;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use throughput::{Iperf3Server, Load, Rate};

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Throughput with and without capture, the agent's CPU and memory at 1k and 100k active flows
    /// and at 10k new flows per second, and the program's cost per packet.
    Capture(CaptureBenchArgs),
    /// The XDP firewall's cost per packet by rule count (BPF_PROG_TEST_RUN), and its drop rate
    /// on a veth pair against nftables with the same rule.
    Firewall(firewall_bench::FirewallBenchArgs),
    /// Enforce mode's policy compiler: compile time and table sizes on synthetic clusters of
    /// 200 to 10,000 pods (no root needed).
    Policy(policy_bench::PolicyBenchArgs),
    /// The flow store: ingest rate, bytes per flow and query latency (median, p90) on synthetic
    /// flows (10M over 6 hours by default).
    Store(store_bench::StoreBenchArgs),
}

#[derive(clap::Args, Debug)]
pub struct CaptureBenchArgs {
    /// Alternating runs without and with capture, per load (medians are compared).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seconds per iperf3 run.
    #[arg(long, default_value_t = 5)]
    run_seconds: u32,
    /// Seconds over which the agent's CPU is measured in each flow scenario (after one eviction).
    #[arg(long, default_value_t = 15)]
    window_seconds: u32,
    /// Skip the throughput runs.
    #[arg(long)]
    no_throughput: bool,
    /// Skip the flow scenarios.
    #[arg(long)]
    no_flows: bool,
}

/// The agent's window between evictions, and the map size that holds 100k flows with room.
const EVICTION: Duration = Duration::from_secs(5);
const FLOW_MAP_ENTRIES: u32 = 131_072;

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Capture(args) => capture(&args),
        BenchCommand::Firewall(args) => firewall_bench::run(&args),
        BenchCommand::Policy(args) => policy_bench::run(&args),
        BenchCommand::Store(args) => store_bench::run(&args),
    }
}

fn capture(args: &CaptureBenchArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.run_seconds == 0 || args.window_seconds == 0 {
        anyhow::bail!("--rounds, --run-seconds and --window-seconds must be at least 1");
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "netwarden bench capture: kernel {}, {cpus} CPUs\nreproduce: netwarden bench capture --rounds {} --run-seconds {} --window-seconds {}\n",
        kernel.trim(),
        args.rounds,
        args.run_seconds,
        args.window_seconds
    );
    // Ctrl-C ends the bench between steps, so the namespaces and processes it made are removed.
    let stop = crate::run_loop::stop_on_signals()?;
    let lab = BenchLab::new()?;
    if !args.no_throughput {
        throughput_table(&lab, args, &stop)?;
    }
    if !args.no_flows {
        flows_table(&lab, args, &stop)?;
    }
    program_cost_table()?;
    Ok(())
}

/// Sleeps, or fails at once when the bench was interrupted.
fn pause(d: Duration, stop: &AtomicBool) -> anyhow::Result<()> {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            anyhow::bail!("interrupted");
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn throughput_table(
    lab: &BenchLab,
    args: &CaptureBenchArgs,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let _server = Iperf3Server::start(lab)?;
    let loads = [Load::BulkTcp, Load::SmallUdp];
    let mut base: Vec<Vec<Rate>> = vec![Vec::new(); loads.len()];
    let mut with: Vec<Vec<Rate>> = vec![Vec::new(); loads.len()];
    let mut agent_cpu: Vec<Vec<f64>> = vec![Vec::new(); loads.len()];
    // Share of the machine's busy CPU spent in the capture programs, and their ns per packet.
    let mut prog_share: Vec<Vec<f64>> = vec![Vec::new(); loads.len()];
    let mut prog_ns: Vec<Vec<f64>> = vec![Vec::new(); loads.len()];

    for round in 0..args.rounds {
        pause(Duration::ZERO, stop)?;
        eprintln!("throughput round {}/{}", round + 1, args.rounds);
        for (i, load) in loads.iter().enumerate() {
            base[i].push(throughput::run(lab, *load, args.run_seconds)?);
        }
        let agent = AgentProc::start(&lab.client, &lab.client_if, FLOW_MAP_ENTRIES)?;
        for (i, load) in loads.iter().enumerate() {
            let cpu = procstat::CpuWindow::begin(agent.pid())?;
            with[i].push(throughput::run(lab, *load, args.run_seconds)?);
            let cpu = cpu.end()?;
            agent_cpu[i].push(cpu.user_pct + cpu.system_pct);
        }
        agent.stop()?;
    }
    // One more run per load with the kernel's BPF stats on (they add their own clock reads, so they
    // stay off during the runs compared above).
    eprintln!("where the time goes");
    let agent = AgentProc::start(&lab.client, &lab.client_if, FLOW_MAP_ENTRIES)?;
    {
        let _stats = prog_stats::StatsOn::new()?;
        for (i, load) in loads.iter().enumerate() {
            let (prog0, busy0) = (prog_stats::capture_programs()?, prog_stats::busy_cpu_ns()?);
            throughput::run(lab, *load, args.run_seconds)?;
            let (prog1, busy1) = (prog_stats::capture_programs()?, prog_stats::busy_cpu_ns()?);
            let prog_time = prog1.run_time_ns.saturating_sub(prog0.run_time_ns) as f64;
            let runs = prog1.run_count.saturating_sub(prog0.run_count).max(1) as f64;
            prog_share[i].push(prog_time / (busy1.saturating_sub(busy0)).max(1) as f64);
            prog_ns[i].push(prog_time / runs);
        }
    }
    agent.stop()?;
    println!(
        "throughput over a veth pair between two namespaces, agent capturing on the client end\n\
         (medians of {} alternating runs of {} s each; iperf3 figures at the receiver)",
        args.rounds, args.run_seconds
    );
    println!(
        "  {:<24} {:>28} {:>28} {:>6}  goal",
        "load", "without capture (min-max)", "with capture (min-max)", "ratio"
    );
    let mut costs = Vec::new();
    for (i, load) in loads.iter().enumerate() {
        let (label, unit, scale, pick, goal): (_, _, _, fn(&Rate) -> f64, _) = match load {
            Load::BulkTcp => (
                "bulk TCP, 1 stream",
                "Gbit/s",
                1e9,
                |r| r.bits_per_second,
                0.98,
            ),
            Load::SmallUdp => (
                "UDP 64 B payload, -b 0",
                "kpkt/s",
                1e3,
                |r| r.packets_per_second,
                0.90,
            ),
        };
        let spread = |runs: &[Rate]| {
            let v: Vec<f64> = runs.iter().map(pick).map(|x| x / scale).collect();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(0.0, f64::max);
            (median(v), format!("{lo:.1}-{hi:.1}"))
        };
        let (b, b_range) = spread(&base[i]);
        let (w, w_range) = spread(&with[i]);
        let ratio = if b > 0.0 { w / b } else { 0.0 };
        println!(
            "  {label:<24} {b:>7.2} {unit} ({b_range:>13}) {w:>7.2} {unit} ({w_range:>13}) {ratio:>6.3}  >= {goal:.2} {}",
            if ratio >= goal { "met" } else { "MISSED" },
        );
        let share = median(prog_share[i].clone());
        costs.push(format!(
            "  {label:<24} {:>8.1} ns/packet {:>8.2}% {:>10.3} {:>10.2}%",
            median(prog_ns[i].clone()),
            100.0 * share,
            1.0 - share,
            median(agent_cpu[i].clone())
        ));
    }
    println!(
        "where the time went with capture on (one more run per load, kernel BPF stats on; the load is\n\
         CPU-bound, so 1 - share is the throughput ratio capture's own work allows, free of run-to-run\n\
         noise; agent CPU is the median over the runs above)"
    );
    println!(
        "  {:<24} {:>18} {:>9} {:>10} {:>11}",
        "load", "tc program", "share", "1 - share", "agent CPU"
    );
    for line in costs {
        println!("{line}");
    }
    println!();
    Ok(())
}

struct FlowScenario {
    label: &'static str,
    pattern: Pattern,
    packets_per_second: u32,
}

fn flows_table(lab: &BenchLab, args: &CaptureBenchArgs, stop: &AtomicBool) -> anyhow::Result<()> {
    let scenarios = [
        FlowScenario {
            label: "1k active flows",
            pattern: Pattern::Active(1_000),
            packets_per_second: 40_000,
        },
        FlowScenario {
            label: "100k active flows",
            pattern: Pattern::Active(100_000),
            packets_per_second: 40_000,
        },
        FlowScenario {
            label: "10k new flows/s",
            pattern: Pattern::New,
            packets_per_second: 10_000,
        },
    ];
    println!(
        "agent process (netwarden agent, JSON sink to /dev/null, eviction {} s, flow_map_entries {FLOW_MAP_ENTRIES}),\n\
         UDP flows from a generator; CPU over {} s after the first eviction, as % of one core",
        EVICTION.as_secs(),
        args.window_seconds
    );
    println!(
        "  {:<18} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}  goal",
        "scenario",
        "pkt/s",
        "rec/evict",
        "evict ms",
        "map full",
        "user %",
        "sys %",
        "RSS MiB",
        "peak MiB"
    );
    for s in &scenarios {
        eprintln!("flow scenario: {}", s.label);
        let agent = AgentProc::start(&lab.client, &lab.client_if, FLOW_MAP_ENTRIES)?;
        let gen = FlowGen::start(lab, s.pattern, s.packets_per_second)?;
        // Warm up past one eviction, so the window holds whole eviction periods of steady state.
        pause(EVICTION + Duration::from_secs(1), stop)?;
        let before = agent.metrics(&lab.client)?;
        let cpu = procstat::CpuWindow::begin(agent.pid())?;
        pause(Duration::from_secs(u64::from(args.window_seconds)), stop)?;
        let cpu = cpu.end()?;
        let after = agent.metrics(&lab.client)?;
        let rss = agent.rss_kib()?;
        let peak = agent.peak_rss_kib()?;
        gen.stop()?;
        agent.stop()?;
        let delta = |k: &str| after.get(k).unwrap_or(&0.0) - before.get(k).unwrap_or(&0.0);
        let evictions = delta("eviction_duration_seconds_count");
        let per_eviction = |k: &str| {
            if evictions > 0.0 {
                delta(k) / evictions
            } else {
                0.0
            }
        };
        let total = cpu.user_pct + cpu.system_pct;
        let goal = match s.pattern {
            Pattern::New => format!("CPU < 2%: {}", if total < 2.0 { "met" } else { "MISSED" }),
            Pattern::Active(100_000) => format!(
                "peak <= 40 MiB: {}",
                if peak <= 40 * 1024 { "met" } else { "MISSED" }
            ),
            Pattern::Active(_) => String::new(),
        };
        println!(
            "  {:<18} {:>7} {:>9.0} {:>8.1} {:>8.0} {:>8.2} {:>8.2} {:>9.1} {:>9.1}  {goal}",
            s.label,
            s.packets_per_second,
            per_eviction("flows_evicted_total"),
            1000.0 * per_eviction("eviction_duration_seconds_sum"),
            delta("flow_map_full_total"),
            cpu.user_pct,
            cpu.system_pct,
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
        );
    }
    println!();
    Ok(())
}

fn program_cost_table() -> anyhow::Result<()> {
    let costs = in_process::program_cost().context("measuring the program's cost per packet")?;
    println!(
        "tc egress program cost per packet (BPF_PROG_TEST_RUN, kernel-measured mean of 1M runs)"
    );
    for (case, ns) in costs {
        println!("  {case:<34} {ns:>5} ns");
    }
    let per_record = in_process::eviction_cost(EVICTION_COST_FLOWS, 5)
        .context("measuring the eviction's cost per record")?;
    println!(
        "eviction CPU per record (drain, decode, JSON line; median of 5 evictions of {EVICTION_COST_FLOWS} flows)\n  {:<34} {:>5} ns",
        "UDP flows, one interface",
        per_record.as_nanos()
    );
    Ok(())
}

const EVICTION_COST_FLOWS: u32 = 50_000;
