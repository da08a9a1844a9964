//! The firewall program's nanoseconds per packet by rule set, fed crafted frames with
//! BPF_PROG_TEST_RUN, and what the large rule set costs to compile and apply.
//!
//! Everything runs on a thread inside a namespace of its own: test runs resolve the frame's
//! ingress ifindex, and apply resolves interface names, in the calling thread's namespace, where
//! `lo` is ifindex 1 and attaching to it disturbs nothing.

use super::floor;
use super::frames;
use super::pins::Pins;
use super::rules::{self, entry_net, rule_port};
use crate::bench::procstat;
use anyhow::{bail, Context};
use netwarden_datapath::firewall::{ApplyOptions, Capacity, Firewall, FirewallState};
use netwarden_datapath::interfaces;
use netwarden_lab::Netns;
use netwarden_policy::firewall::CompiledFirewall;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;

#[derive(Debug, Clone, Copy)]
pub struct CostArgs {
    pub repeat: u32,
    pub runs: usize,
    pub entries: u32,
    pub rules: u32,
}

/// Which cases the goal's flatness compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The harness alone (see [`floor`]).
    Floor,
    Other,
    /// 1 entry x 1 rule, Deny matches.
    SmallMatch,
    /// 1 entry x N rules, the last (a Deny) matches.
    WideMatch,
    /// M entries x N rules, the last (a Deny) matches.
    LargeMatch,
}

/// One case: the kernel's mean ns per run of each measurement.
pub struct Case {
    pub label: String,
    pub verdict: &'static str,
    pub ns: Vec<u32>,
    pub role: Role,
}

/// What the large rule set took outside the datapath.
pub struct LargeSet {
    pub rules: usize,
    pub prefixes: usize,
    pub yaml_bytes: usize,
    pub load: Duration,
    pub compile: Duration,
    pub apply: Duration,
    pub reapply: Duration,
    /// This process after compiling, in KiB.
    pub rss_after_compile_kib: u64,
    /// This process's peak RSS after compiling and after applying, in KiB.
    pub peak_after_compile_kib: u64,
    pub peak_after_apply_kib: u64,
    /// The state file apply writes (every rule identity with its counter slot), in bytes.
    pub state_bytes: u64,
    /// Kernel memory of the firewall's maps with the large set in force, in bytes.
    pub map_memlock: u64,
}

pub struct CostReport {
    pub cases: Vec<Case>,
    pub large: LargeSet,
    pub capacity: Capacity,
}

/// Map sizes for `args`: every rule identity a slot, prefixes and tables for both generations.
pub fn capacity(args: &CostArgs) -> Capacity {
    let identities = args.entries * args.rules.max(1);
    Capacity {
        rules: identities.max(1024),
        prefixes: (2 * args.entries).max(1024),
        tables: (2 * args.entries).max(1024),
    }
}

pub fn measure(
    ns: &Netns,
    pins: &Pins,
    args: CostArgs,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<CostReport> {
    let paths = pins.paths.clone();
    ns.run(move || {
        let mut fw = Firewall::open(&paths, capacity(&args)).context("loading the firewall")?;
        Bench {
            fw: &mut fw,
            state_dir: paths.state_dir.clone(),
            args,
            stop: &stop,
            cases: Vec::new(),
        }
        .all()
    })?
}

struct Bench<'a> {
    fw: &'a mut Firewall,
    state_dir: PathBuf,
    args: CostArgs,
    stop: &'a AtomicBool,
    cases: Vec<Case>,
}

impl Bench<'_> {
    fn all(mut self) -> anyhow::Result<CostReport> {
        let lo = interfaces::index_of("lo").context("no lo in the bench namespace")?;
        let (entries, rules) = (self.args.entries, self.args.rules);
        // The source every IPv4 case sends from: inside the last entry of the large set.
        let last_net = entry_net(entries - 1).octets();
        let src = Ipv4Addr::new(last_net[0], last_net[1], last_net[2], 7);
        let own_cidr = || [format!("{}/24", entry_net(entries - 1))];

        self.check_stop()?;
        let probe = frames::tcp4(src, rule_port(1));
        let ns = floor::measure(&probe, lo, self.args.repeat, self.args.runs)
            .context("measuring the test-run floor")?;
        self.cases.push(Case {
            label: "floor: a program that only returns XDP_PASS".into(),
            verdict: "pass",
            ns,
            role: Role::Floor,
        });

        self.apply(&rules::empty()?)?;
        self.case(
            "no rules: empty rule set",
            lo,
            &frames::tcp4(src, rule_port(1)),
            XDP_PASS,
            Role::Other,
        )?;
        let outside =
            rules::tcp_ports_object("bench-miss", "lo", ["192.0.2.0/24".into()], 1, "Deny");
        self.apply(&rules::build(&outside)?.compiled)?;
        self.case(
            "no rules: source outside the 1 entry",
            lo,
            &frames::tcp4(src, rule_port(1)),
            XDP_PASS,
            Role::Other,
        )?;
        for (action, verdict, role) in [
            ("Deny", XDP_DROP, Role::SmallMatch),
            ("Allow", XDP_PASS, Role::Other),
        ] {
            let set = rules::tcp_ports_object("bench-one", "lo", own_cidr(), 1, action);
            self.apply(&rules::build(&set)?.compiled)?;
            self.case(
                &format!("1 entry x 1 rule, {action} matches"),
                lo,
                &frames::tcp4(src, rule_port(1)),
                verdict,
                role,
            )?;
        }

        let set = rules::tcp_ports_object("bench-wide", "lo", own_cidr(), rules, "Deny");
        self.apply(&rules::build(&set)?.compiled)?;
        self.case(
            &format!("1 entry x {rules} rules, match at rule {rules}"),
            lo,
            &frames::tcp4(src, rule_port(rules)),
            XDP_DROP,
            Role::WideMatch,
        )?;

        let large = self.large_set(lo, src)?;

        let v6_src = Ipv6Addr::new(0xfd00, 0x95, 0, 0, 0, 0, 0, 7);
        let set = rules::tcp_ports_object("bench-v6", "lo", ["fd00:95::/64".into()], rules, "Deny");
        self.apply(&rules::build(&set)?.compiled)?;
        for (label, ext) in [
            (
                format!("IPv6, 1 entry x {rules} rules, match at rule {rules}"),
                false,
            ),
            (
                format!("IPv6 + hop-by-hop + dstopts, 1 x {rules} rules, match at {rules}"),
                true,
            ),
        ] {
            self.case(
                &label,
                lo,
                &frames::tcp6(v6_src, rule_port(rules), ext),
                XDP_DROP,
                Role::Other,
            )?;
        }
        Ok(CostReport {
            cases: self.cases,
            large,
            capacity: capacity(&self.args),
        })
    }

    /// Compiles and applies the large set (timed), and measures the cases that need it.
    fn large_set(&mut self, lo: u32, src: Ipv4Addr) -> anyhow::Result<LargeSet> {
        let (entries, rules) = (self.args.entries, self.args.rules);
        eprintln!("compiling {entries} entries x {rules} rules");
        let yaml = rules::big_set("lo", entries, rules);
        let yaml_bytes = yaml.len();
        let built = build_or_stop(yaml, self.stop)?;
        let pid = std::process::id();
        let rss_after_compile_kib = procstat::status_kib(pid, "VmRSS")?;
        let peak_after_compile_kib = procstat::status_kib(pid, "VmHWM")?;
        self.check_stop()?;
        eprintln!("applying {} rules", built.compiled.rules.len());
        let started = Instant::now();
        self.apply(&built.compiled)?;
        let apply = started.elapsed();
        let started = Instant::now();
        self.apply(&built.compiled)?;
        let reapply = started.elapsed();
        let state_bytes =
            std::fs::metadata(self.state_dir.join(FirewallState::FILE)).map_or(0, |m| m.len());
        let large = LargeSet {
            rules: built.compiled.rules.len(),
            prefixes: built.compiled.prefixes.len(),
            yaml_bytes,
            load: built.load,
            compile: built.compile,
            apply,
            reapply,
            rss_after_compile_kib,
            peak_after_compile_kib,
            peak_after_apply_kib: procstat::status_kib(pid, "VmHWM")?,
            state_bytes,
            map_memlock: bpf_map_memlock(),
        };
        // The compiled set is large; the rest of the bench does not need it.
        drop(built);
        let shape = format!("{entries} entries x {rules} rules");
        self.case(
            &format!("{shape}, match at rule {rules}"),
            lo,
            &frames::tcp4(src, rule_port(rules)),
            XDP_DROP,
            Role::LargeMatch,
        )?;
        self.case(
            &format!("{shape}, in an entry, no rule matches"),
            lo,
            &frames::tcp4(src, 2000),
            XDP_PASS,
            Role::Other,
        )?;
        self.case(
            &format!("{shape}, source outside every entry"),
            lo,
            &frames::tcp4(Ipv4Addr::new(172, 16, 0, 1), rule_port(rules)),
            XDP_PASS,
            Role::Other,
        )?;
        Ok(large)
    }

    fn apply(&mut self, compiled: &CompiledFirewall) -> anyhow::Result<()> {
        let opts = ApplyOptions {
            source: "netwarden bench firewall".into(),
            ..Default::default()
        };
        self.fw
            .apply(compiled, &opts)
            .context("applying a bench rule set")?;
        Ok(())
    }

    fn check_stop(&self) -> anyhow::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        Ok(())
    }

    /// Measures `frame` arriving on `ifindex`: one warm-up, then `runs` test runs of `repeat`.
    /// The program's verdict must be `expect`, or the case would not measure what it says.
    fn case(
        &mut self,
        label: &str,
        ifindex: u32,
        frame: &[u8],
        expect: i32,
        role: Role,
    ) -> anyhow::Result<()> {
        self.check_stop()?;
        eprintln!("test run: {label}");
        self.fw.test_run(frame, ifindex, 1000)?;
        let mut ns = Vec::with_capacity(self.args.runs);
        for _ in 0..self.args.runs {
            let r = self.fw.test_run(frame, ifindex, self.args.repeat)?;
            if r.retval != expect {
                bail!(
                    "{label}: the program returned {} where {} was expected",
                    r.retval,
                    expect
                );
            }
            ns.push(r.duration_ns);
        }
        self.cases.push(Case {
            label: label.to_string(),
            verdict: if expect == XDP_DROP { "drop" } else { "pass" },
            ns,
            role,
        });
        Ok(())
    }
}

/// Builds `yaml` on a thread of its own, so Ctrl-C is heard while a large set compiles (minutes
/// at 1M rule identities); on interruption the thread is left to end with the process.
fn build_or_stop(yaml: String, stop: &AtomicBool) -> anyhow::Result<rules::Compiled> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(rules::build(&yaml));
    });
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(built) => return built,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) {
                    bail!("interrupted");
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                bail!("compiling the large rule set panicked")
            }
        }
    }
}

/// Kernel memory charged to the BPF maps this process holds open (`memlock` of each map fd).
fn bpf_map_memlock() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/fdinfo") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|info| info.contains("map_type:"))
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("memlock:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}
