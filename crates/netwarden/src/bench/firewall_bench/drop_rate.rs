//! Drop rate on a veth pair: a sender namespace floods UDP port 9000 at a receiver namespace whose
//! end of the pair is guarded either by the XDP firewall or by nftables with the same rule. Drops
//! are counted where each filter counts them (the rule's deny counter; the nft rule's counter), and
//! the machine's softirq time over the same window says what each drop cost the receiving side.

use super::frames::{self, Mac};
use super::nft;
use super::pins::Pins;
use super::pktgen::PacketGen;
use super::rules;
use crate::bench::pause;
use anyhow::Context;
use netwarden_datapath::firewall::{
    ApplyOptions, Capacity, Firewall, FirewallCounters, FirewallState,
};
use netwarden_lab::{unique_tag, Netns};
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub const SENDER_NET: &str = "192.168.95.0/24";
const SENDER4: Ipv4Addr = Ipv4Addr::new(192, 168, 95, 1);
const RECEIVER4: Ipv4Addr = Ipv4Addr::new(192, 168, 95, 2);
const SENDER_MAC: Mac = [0x02, 0, 0, 0, 0x95, 0x01];
const RECEIVER_MAC: Mac = [0x02, 0, 0, 0, 0x95, 0x02];
pub const PORT: u16 = 9000;
/// 18 bytes of payload make a 60-byte frame, Ethernet's minimum (without FCS).
pub const PAYLOAD: usize = 18;
/// Sending before the window opens, so queues and caches are in their steady state.
const WARM_UP: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
pub struct DropArgs {
    pub seconds: u32,
    pub rounds: u32,
    pub senders: usize,
}

/// One window of one filter.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub drops_per_sec: f64,
    pub offered_per_sec: f64,
    /// Softirq time over the window, in cores (tick-sampled by the kernel).
    pub softirq_cores: f64,
    /// All busy time over the window, in cores.
    pub busy_cores: f64,
}

pub struct DropReport {
    pub xdp: Vec<Run>,
    /// How the firewall attached (native or generic).
    pub xdp_mode: String,
    /// None when nft is not installed.
    pub nft: Option<Vec<Run>>,
}

/// The two namespaces and the pair between them.
struct DropLab {
    sender: Netns,
    receiver: Netns,
    sender_if: String,
    receiver_if: String,
}

impl DropLab {
    fn new() -> anyhow::Result<Self> {
        let tag = unique_tag();
        let sender = Netns::create(format!("nwds{tag}")).context("bench sender namespace")?;
        let receiver = Netns::create(format!("nwdr{tag}")).context("bench receiver namespace")?;
        let (sender_if, receiver_if) = (format!("ds{tag}"), format!("dr{tag}"));
        sender.veth_to(
            &sender_if,
            &[&format!("{SENDER4}/24")],
            &receiver,
            &receiver_if,
            &[&format!("{RECEIVER4}/24")],
        )?;
        // Known addresses, so the generator's frames are addressed to the receiver (another
        // destination MAC would be dropped as PACKET_OTHERHOST before netfilter sees it).
        for (ns, dev, mac) in [
            (&sender, &sender_if, SENDER_MAC),
            (&receiver, &receiver_if, RECEIVER_MAC),
        ] {
            ns.ip(&["link", "set", "dev", dev, "address", &mac_text(mac)])?;
        }
        Ok(Self {
            sender,
            receiver,
            sender_if,
            receiver_if,
        })
    }
}

fn mac_text(mac: Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn measure(args: DropArgs, stop: &AtomicBool) -> anyhow::Result<DropReport> {
    let lab = DropLab::new()?;
    let frame = frames::udp4(
        (SENDER_MAC, RECEIVER_MAC),
        SENDER4,
        RECEIVER4,
        PORT,
        PAYLOAD,
    );
    let with_nft = nft::available();
    let mut report = DropReport {
        xdp: Vec::new(),
        xdp_mode: String::new(),
        nft: with_nft.then(Vec::new),
    };
    // Alternating, so slow drifts of the machine touch both filters alike.
    for round in 0..args.rounds {
        eprintln!("drop rate round {}/{}: XDP", round + 1, args.rounds);
        let (run, mode) = xdp_run(&lab, &frame, args, stop)?;
        report.xdp.push(run);
        report.xdp_mode = mode;
        if let Some(runs) = report.nft.as_mut() {
            eprintln!("drop rate round {}/{}: nftables", round + 1, args.rounds);
            runs.push(nft_run(&lab, &frame, args, stop)?);
        }
    }
    Ok(report)
}

fn xdp_run(
    lab: &DropLab,
    frame: &[u8],
    args: DropArgs,
    stop: &AtomicBool,
) -> anyhow::Result<(Run, String)> {
    let pins = Pins::new(&unique_tag());
    let (paths, interface) = (pins.paths.clone(), lab.receiver_if.clone());
    let yaml = rules::udp_deny(&interface, SENDER_NET, PORT);
    // Applied from inside the receiver namespace (interface names resolve there); the link is
    // pinned, so enforcement stays when the loader is dropped at the end of the closure.
    let report = lab.receiver.run(move || -> anyhow::Result<_> {
        let compiled = rules::build(&yaml)?.compiled;
        let capacity = Capacity {
            rules: 1024,
            prefixes: 1024,
            tables: 1024,
        };
        let mut fw = Firewall::open(&paths, capacity).context("loading the firewall")?;
        Ok(fw.apply(&compiled, &ApplyOptions::default())?)
    })??;
    let mode = report
        .attached
        .get(&lab.receiver_if)
        .cloned()
        .context("the firewall did not attach to the receiver's interface")?;
    let state =
        FirewallState::read(&pins.paths.state_dir)?.context("the firewall wrote no state")?;
    let drops = || -> anyhow::Result<u64> {
        Ok(FirewallCounters::read(&pins.paths, &state)?
            .totals()
            .deny_packets)
    };
    let run = window(lab, frame, args, stop, drops)?;
    Ok((run, mode))
}

fn nft_run(lab: &DropLab, frame: &[u8], args: DropArgs, stop: &AtomicBool) -> anyhow::Result<Run> {
    nft::load(&lab.receiver, &nft::udp_deny_ruleset(SENDER_NET, PORT))?;
    let run = window(lab, frame, args, stop, || {
        nft::counted_packets(&lab.receiver)
    });
    let removed = nft::delete_table(&lab.receiver);
    let run = run?;
    removed?;
    Ok(run)
}

/// Floods the receiver and measures drops, offered frames and CPU over `args.seconds`.
fn window(
    lab: &DropLab,
    frame: &[u8],
    args: DropArgs,
    stop: &AtomicBool,
    drops: impl Fn() -> anyhow::Result<u64>,
) -> anyhow::Result<Run> {
    let gen = PacketGen::start(&lab.sender, &lab.sender_if, frame.to_vec(), args.senders)?;
    pause(WARM_UP, stop)?;
    let (d0, s0, c0, t0) = (drops()?, gen.sent(), CpuTicks::read()?, Instant::now());
    pause(Duration::from_secs(u64::from(args.seconds)), stop)?;
    let (d1, s1, c1, wall) = (drops()?, gen.sent(), CpuTicks::read()?, t0.elapsed());
    gen.stop()?;
    let wall = wall.as_secs_f64().max(1e-9);
    let cores = |ticks: u64| ticks as f64 / CpuTicks::hz() / wall;
    Ok(Run {
        drops_per_sec: d1.saturating_sub(d0) as f64 / wall,
        offered_per_sec: s1.saturating_sub(s0) as f64 / wall,
        softirq_cores: cores(c1.softirq.saturating_sub(c0.softirq)),
        busy_cores: cores(c1.busy.saturating_sub(c0.busy)),
    })
}

/// The machine's CPU time so far, in clock ticks, from the first line of /proc/stat.
#[derive(Debug, Clone, Copy)]
struct CpuTicks {
    softirq: u64,
    busy: u64,
}

impl CpuTicks {
    fn read() -> anyhow::Result<Self> {
        let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        Self::parse(&stat).context("unexpected /proc/stat format")
    }

    fn parse(stat: &str) -> Option<Self> {
        let f: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal ...
        let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| f.get(i)).sum();
        Some(Self {
            softirq: *f.get(6)?,
            busy,
        })
    }

    fn hz() -> f64 {
        // SAFETY: sysconf has no preconditions.
        unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_softirq_and_busy() {
        let t =
            CpuTicks::parse("cpu  10 1 20 500 3 4 5 6 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n").unwrap();
        assert_eq!(t.softirq, 5);
        assert_eq!(t.busy, 10 + 1 + 20 + 4 + 5 + 6);
        assert_eq!(mac_text(RECEIVER_MAC), "02:00:00:00:95:02");
    }
}
