//! A simulated Kubernetes node on this machine: a bridge in the host namespace is the node, each
//! pod of an inventory that is not on the host network gets a network namespace with the addresses
//! its status reports, joined to the bridge by a veth pair, and echo servers on its container ports.
//!
//! ```text
//!   host namespace (the node)                   pod namespaces
//!   bridge nwb<tag>  10.244.1.1/24 fd00:10:244:1::1/64 10.244.2.1/24 ...
//!     ├─ nwv<tag>0 ══ veth ══ eth0  10.244.1.10 fd00:10:244:1::a   (netns nwp<tag>0)
//!     └─ nwv<tag>1 ══ veth ══ eth0  10.244.2.20                    (netns nwp<tag>1)
//! ```
//!
//! Every name a lab makes has its six-hex-digit tag, so several labs coexist. What a lab made is
//! recorded in a state file before it is made, so `netwarden lab down` from another process (or
//! after a crash half-way up) removes exactly that.

use crate::addressing::{self, Cidr, SubnetFull};
use crate::echo::{EchoServers, Listen};
use crate::spec::{LabSpec, Protocol};
use crate::state::{
    self, LabRecord, PodRecord, ServiceProcess, StateDir, StateError, DEFAULT_STATE_DIR,
};
use crate::{sys, LabError, Netns};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Interface names have at most 15 characters (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// The pod's interface inside its namespace, as in a real pod.
const POD_IF: &str = "eth0";
/// How long a service process has to bind its ports and say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a service process has to exit after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Why a lab could not be made, found, used or removed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("lab name {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("lab {name} already exists (state file {}); `netwarden lab down --name {name}` removes it", path.display())]
    Exists { name: String, path: PathBuf },
    #[error("no lab named {name} (no state file {})", path.display())]
    NotFound { name: String, path: PathBuf },
    #[error("lab {lab} has no pod {pod}")]
    NoPod { lab: String, pod: String },
    #[error(
        "lab {lab}: pod {pod} is on the host network: it is the node, with no namespace of its own"
    )]
    HostNetworkPod { lab: String, pod: String },
    #[error("pod subnet {subnet} is already in use on this machine: {route}")]
    SubnetInUse { subnet: Cidr, route: String },
    #[error(transparent)]
    SubnetFull(#[from] SubnetFull),
    #[error("{0} pods on the pod network: interface names allow at most 999999")]
    TooManyPods(usize),
    #[error("no unused lab tag found (interfaces or namespaces named nwb*/nwv*/nwp* everywhere?)")]
    NoTag,
    #[error(transparent)]
    Command(#[from] LabError),
    #[error("lab state: {0}")]
    State(#[from] StateError),
    #[error("service for pod {pod}: {reason}")]
    Service { pod: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("lab {name}: not removed: {}; its state file stays, so `netwarden lab down --name {name}` can try again", left.join("; "))]
    Leftovers { name: String, left: Vec<String> },
}

/// How a lab is made.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The lab's name (letters, digits, `-_.`); default `lab-<tag>`.
    pub name: Option<String>,
    /// Echo servers on the pods' container ports, and how they run. Default: threads.
    pub services: Services,
    /// Where the state file goes; default [`DEFAULT_STATE_DIR`]. Labs in different directories do
    /// not see each other's names (their interface names never collide either way).
    pub state_dir: PathBuf,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            name: None,
            services: Services::Threads,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

/// How the pods' container ports are served: every TCP connection and UDP datagram is echoed, on
/// each of the pod's addresses (SCTP ports are not served, and say so in the record's notes).
#[derive(Debug, Clone)]
pub enum Services {
    /// Nothing listens.
    None,
    /// Threads of this process, with sockets in the pod namespaces; they end when the lab is
    /// removed or this process exits. The choice for tests.
    Threads,
    /// One process per pod with ports, started detached (own session) in the pod's namespace and
    /// recorded by pid in the state file, so they outlive this process and `down` from any process
    /// ends them. The choice for `netwarden lab up`, which exits leaving the lab in place.
    Processes(ServiceCommand),
}

/// The program run as a pod's service process: `program args... LISTEN...`, each LISTEN a
/// [`Listen`] (`tcp:10.244.1.5:5201`). It must bind them all, print a line `ready` on stdout,
/// print nothing more there, and serve until SIGTERM. Its stderr goes to a log beside the state
/// file (removed with the lab).
#[derive(Debug, Clone)]
pub struct ServiceCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// A lab: made by [`Lab::up`] (removed when dropped, unless [`Lab::keep`] is called) or opened by
/// name from its state file with [`Lab::open`] (removed only by [`Lab::down`]).
#[derive(Debug)]
pub struct Lab {
    record: LabRecord,
    state: StateDir,
    servers: Vec<EchoServers>,
    children: Vec<Child>,
    /// Remove everything on drop.
    owned: bool,
}

impl Lab {
    /// Makes the lab: the bridge with a gateway address in every pod subnet, a namespace per
    /// pod-network pod with its addresses on `eth0` and default routes via the bridge, forwarding
    /// on the bridge (so pods in different subnets reach each other, without touching the
    /// machine's global forwarding settings), and the services. On failure whatever was made is
    /// removed again.
    ///
    /// Refused when a pod subnet is already routed on this machine (by another lab, say): the two
    /// would shadow each other.
    pub fn up(spec: &LabSpec, options: LabOptions) -> Result<Lab, NodeError> {
        let gateways = addressing::gateways(spec)?;
        let pod_count = spec.pods.iter().filter(|p| !p.host_network).count();
        if pod_count > 999_999 {
            return Err(NodeError::TooManyPods(pod_count));
        }
        let state = StateDir::new(&options.state_dir);
        // Held until the lab is made: two labs cannot take the same name, tag or subnet.
        let _lock = state.lock()?;
        let existing: Vec<LabRecord> = state.list()?.into_iter().filter_map(Result::ok).collect();
        let tag = free_tag(&existing)?;
        let name = options.name.clone().unwrap_or_else(|| format!("lab-{tag}"));
        state::check_name(&name).map_err(|reason| NodeError::BadName {
            name: name.clone(),
            reason,
        })?;
        if state.read(&name)?.is_some() {
            return Err(NodeError::Exists {
                path: state.path(&name),
                name,
            });
        }
        for gw in &gateways {
            check_subnet_free(&gw.subnet, &existing)?;
        }

        let record = plan(
            name,
            tag,
            spec,
            gateways,
            !matches!(options.services, Services::None),
        );
        // Recorded before anything is made: a lab that dies half-way up can still be removed.
        state.write(&record)?;
        let mut lab = Lab {
            record,
            state,
            servers: Vec::new(),
            children: Vec::new(),
            owned: true,
        };
        if let Err(e) = lab.make(&options.services) {
            // The lock is held here (Drop would wait for it forever), so remove without taking it
            // again; then Drop has nothing to do.
            let _ = lab.remove_locked();
            lab.owned = false;
            return Err(e);
        }
        Ok(lab)
    }

    /// The lab `name` recorded in `state_dir` (another process may have made it).
    pub fn open(name: &str, state_dir: impl AsRef<Path>) -> Result<Lab, NodeError> {
        let state = StateDir::new(state_dir.as_ref());
        match state.read(name)? {
            Some(record) => Ok(Lab {
                record,
                state,
                servers: Vec::new(),
                children: Vec::new(),
                owned: false,
            }),
            None => Err(NodeError::NotFound {
                name: name.to_string(),
                path: state.path(name),
            }),
        }
    }

    /// The record of every lab in `state_dir`, by name; a state file that cannot be read is
    /// returned as its error.
    pub fn list(
        state_dir: impl AsRef<Path>,
    ) -> Result<Vec<Result<LabRecord, StateError>>, NodeError> {
        Ok(StateDir::new(state_dir.as_ref()).list()?)
    }

    /// Removes everything the lab made: services, pod namespaces and veth pairs, the bridge, then
    /// its state file. Things already gone are fine; anything that could not be removed is named
    /// in the error and the state file stays for another try.
    pub fn down(mut self) -> Result<(), NodeError> {
        self.owned = false;
        let _lock = self.state.lock()?;
        self.remove_locked()
    }

    /// Leaves the lab in place and gives up ownership (dropping the handle no longer removes it).
    /// Threaded services keep serving until this process exits.
    pub fn keep(mut self) -> LabRecord {
        self.owned = false;
        for servers in self.servers.drain(..) {
            // Dropping them would stop them.
            std::mem::forget(servers);
        }
        self.record.clone()
    }

    /// What the lab is made of.
    pub fn record(&self) -> &LabRecord {
        &self.record
    }

    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// The path of the lab's state file.
    pub fn state_file(&self) -> PathBuf {
        self.state.path(&self.record.name)
    }

    /// The pod `namespace/name` (a bare name means namespace `default`).
    pub fn pod(&self, pod: &str) -> Result<&PodRecord, NodeError> {
        self.record.pod(pod).ok_or_else(|| NodeError::NoPod {
            lab: self.record.name.clone(),
            pod: pod.to_string(),
        })
    }

    /// The network namespace of pod `pod`.
    pub fn netns(&self, pod: &str) -> Result<&str, NodeError> {
        let record = self.pod(pod)?;
        record
            .netns
            .as_deref()
            .ok_or_else(|| NodeError::HostNetworkPod {
                lab: self.record.name.clone(),
                pod: record.key(),
            })
    }

    /// A `Command` running `program` in the pod's namespace (`ip netns exec`, so /sys and
    /// /etc/netns/NAME are the pod's as well).
    pub fn command(&self, pod: &str, program: impl AsRef<OsStr>) -> Result<Command, NodeError> {
        let netns = self.netns(pod)?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", netns]).arg(program);
        Ok(c)
    }

    /// Runs `argv` (program first) in the pod's namespace and returns what it printed and its
    /// status (a failing status is not an error here).
    pub fn exec<S: AsRef<OsStr>>(&self, pod: &str, argv: &[S]) -> Result<Output, NodeError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(NodeError::Io {
                context: format!("exec in pod {pod}"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"),
            });
        };
        let mut c = self.command(pod, program)?;
        c.args(args);
        c.output().map_err(|source| NodeError::Io {
            context: format!("exec in pod {pod}"),
            source,
        })
    }

    /// Runs `f` on a thread inside the pod's namespace and returns its result; sockets it makes
    /// belong to the pod.
    pub fn run<T: Send + 'static>(
        &self,
        pod: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NodeError> {
        Ok(netns_view(self.netns(pod)?).run(f)?)
    }

    /// Makes everything the record names, starts the services and records their processes.
    fn make(&mut self, services: &Services) -> Result<(), NodeError> {
        self.build()?;
        self.start_services(services)?;
        Ok(self.state.write(&self.record)?)
    }

    /// Makes the bridge and the pods (the record says what).
    fn build(&mut self) -> Result<(), NodeError> {
        let bridge = self.record.bridge.clone();
        let bridge = bridge.as_str();
        // Without STP a port forwards at once; forward_delay 0 makes sure of it.
        sys::run(&[
            "ip",
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "forward_delay",
            "0",
        ])?;
        // Its link-local address would otherwise be tentative for the first seconds, and IPv6
        // forwarded through the node waits for it (2 s on first contact, measured).
        let dad = format!("net/ipv6/conf/{bridge}/accept_dad");
        if sys::sysctl_exists(&dad) {
            sys::write_sysctl(&dad, "0").map_err(|source| NodeError::Io {
                context: format!("setting {dad}"),
                source,
            })?;
        }
        for gw in &self.record.gateways {
            let cidr = gw.address_cidr();
            let mut args = vec!["ip", "addr", "add", cidr.as_str(), "dev", bridge];
            if !gw.address.is_ipv4() {
                args.push("nodad");
            }
            sys::run(&args)?;
        }
        sys::run(&["ip", "link", "set", bridge, "up"])?;
        self.enable_forwarding()?;

        let gateways = self.record.gateways.clone();
        for pod in self.record.pods.clone() {
            let (Some(netns), Some(host_if)) = (&pod.netns, &pod.host_interface) else {
                continue;
            };
            let ns = ManuallyDrop::new(Netns::create(netns.as_str())?);
            let addrs: Vec<String> = pod
                .ips
                .iter()
                .map(|ip| format!("{ip}/{}", Cidr::pod_subnet(*ip).prefix_len()))
                .collect();
            let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
            ns.veth_from_host(host_if, &[], POD_IF, &addrs)?;
            sys::run(&["ip", "link", "set", host_if, "master", bridge])?;
            for ip in &pod.ips {
                let Some(gw) = gateways.iter().find(|g| g.subnet.contains(*ip)) else {
                    continue;
                };
                let family = if ip.is_ipv4() { "-4" } else { "-6" };
                let via = gw.address.to_string();
                ns.ip(&[
                    family, "route", "add", "default", "via", &via, "dev", POD_IF,
                ])?;
            }
        }
        Ok(())
    }

    /// Forwarding for packets arriving on the bridge only: pods in different subnets reach each
    /// other through the node, and the machine's own interfaces keep their settings (global IPv6
    /// forwarding would, for one, make them ignore router advertisements).
    fn enable_forwarding(&mut self) -> Result<(), NodeError> {
        let bridge = &self.record.bridge;
        let io = |key: String| {
            move |source| NodeError::Io {
                context: format!("setting {key}"),
                source,
            }
        };
        let v4 = format!("net/ipv4/conf/{bridge}/forwarding");
        sys::write_sysctl(&v4, "1").map_err(io(v4.clone()))?;
        // Routed pod traffic (and, with br_netfilter, bridged traffic too) meets the forward hook:
        // a chain there that drops by default (Docker sets one) silently cuts the pods off.
        for chain in sys::forward_drop_chains() {
            self.record.notes.push(format!(
                "nft chain {chain} drops forwarded packets unless a rule accepts them: pod \
                 traffic through the node (between subnets; with br_netfilter, within one too) \
                 must be accepted there"
            ));
        }
        let v6_subnets = self
            .record
            .gateways
            .iter()
            .filter(|g| !g.address.is_ipv4())
            .count();
        if v6_subnets > 0 {
            // force_forwarding (Linux 6.17+) is IPv6 forwarding for one interface.
            let v6 = format!("net/ipv6/conf/{bridge}/force_forwarding");
            if sys::sysctl_exists(&v6) {
                sys::write_sysctl(&v6, "1").map_err(io(v6.clone()))?;
            } else if v6_subnets > 1 {
                self.record.notes.push(
                    "IPv6 is not forwarded between pod subnets: that needs per-interface \
                     force_forwarding (Linux 6.17+), and global IPv6 forwarding is left alone"
                        .into(),
                );
            }
        }
        Ok(())
    }

    fn start_services(&mut self, services: &Services) -> Result<(), NodeError> {
        for pod in self.record.pods.clone() {
            let Some(netns) = &pod.netns else { continue };
            if pod.listen.is_empty() {
                continue;
            }
            let fail = |reason: String| NodeError::Service {
                pod: pod.key(),
                reason,
            };
            match services {
                Services::None => {}
                Services::Threads => {
                    let listen = pod.listen.clone();
                    let servers = netns_view(netns)
                        .run(move || EchoServers::start(&listen))?
                        .map_err(|e| fail(e.to_string()))?;
                    self.servers.push(servers);
                }
                Services::Processes(command) => {
                    let process = self.spawn_service(&pod, netns, command)?;
                    self.record.service_processes.push(process);
                    // Recorded at once: if a later pod fails, this process is still ended.
                    self.state.write(&self.record)?;
                }
            }
        }
        Ok(())
    }

    /// Starts `command` detached in `netns` and waits until it says it is ready.
    fn spawn_service(
        &mut self,
        pod: &PodRecord,
        netns: &str,
        command: &ServiceCommand,
    ) -> Result<ServiceProcess, NodeError> {
        let fail = |reason: String| NodeError::Service {
            pod: pod.key(),
            reason,
        };
        let log = self.state.log_path(&self.record.name, netns);
        let log_file = File::create(&log).map_err(|e| fail(format!("{}: {e}", log.display())))?;
        let ns_file = File::open(Path::new("/run/netns").join(netns))
            .map_err(|e| fail(format!("namespace {netns}: {e}")))?;
        let mut c = Command::new(&command.program);
        c.args(&command.args)
            .args(pod.listen.iter().map(Listen::to_string))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setns and setsid are async-signal-safe; ns_file stays open (moved into the
            // closure) until exec.
            unsafe {
                c.pre_exec(move || {
                    if libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // Its own session: no terminal hangup or Ctrl-C of whoever ran `up` reaches it.
                    libc::setsid();
                    Ok(())
                });
            }
        }
        let mut child = c
            .spawn()
            .map_err(|e| fail(format!("{}: {e}", command.program.display())))?;
        let pid = child.id() as i32;
        if let Err(reason) = wait_ready(&mut child) {
            let _ = child.kill();
            let _ = child.wait();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log_text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(fail(format!("{reason}; its log: {}", tail.join(" | "))));
        }
        let start_time =
            sys::start_time(pid).ok_or_else(|| fail("exited after starting".into()))?;
        self.children.push(child);
        Ok(ServiceProcess {
            pod: pod.key(),
            pid,
            start_time,
        })
    }

    /// Removes what the record names; the caller holds the state lock.
    fn remove_locked(&mut self) -> Result<(), NodeError> {
        let mut left = Vec::new();
        for servers in self.servers.drain(..) {
            servers.stop();
        }
        for p in &self.record.service_processes {
            if !sys::terminate(p.pid, p.start_time, STOP_GRACE) {
                left.push(format!("service process {} of pod {}", p.pid, p.pod));
            }
        }
        // terminate reaped them if they were our children.
        self.children.clear();
        for pod in &self.record.pods {
            // The host end first: deleting it deletes the pair at once, while a deleted
            // namespace's interfaces go away later, in the kernel's own time.
            if let Some(host_if) = &pod.host_interface {
                if sys::link_exists(host_if) {
                    if let Err(e) = sys::run(&["ip", "link", "del", host_if]) {
                        if sys::link_exists(host_if) {
                            left.push(e.to_string());
                        }
                    }
                }
            }
            if let Some(netns) = &pod.netns {
                if sys::netns_exists(netns) {
                    if let Err(e) = sys::run(&["ip", "netns", "del", netns]) {
                        left.push(e.to_string());
                    }
                }
                let _ = std::fs::remove_file(self.state.log_path(&self.record.name, netns));
            }
        }
        let bridge = &self.record.bridge;
        if sys::link_exists(bridge) {
            if let Err(e) = sys::run(&["ip", "link", "del", bridge]) {
                left.push(e.to_string());
            }
        }
        if !left.is_empty() {
            return Err(NodeError::Leftovers {
                name: self.record.name.clone(),
                left,
            });
        }
        self.state.remove(&self.record.name)?;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.owned {
            if let Ok(_lock) = self.state.lock() {
                let _ = self.remove_locked();
            }
        }
    }
}

/// A handle on a namespace the lab owns, for [`Netns`]'s helpers; dropping it deletes nothing.
fn netns_view(name: &str) -> ManuallyDrop<Netns> {
    ManuallyDrop::new(Netns {
        name: name.to_string(),
    })
}

/// The record of the lab to make: names, addresses and listening sockets for every pod.
fn plan(
    name: String,
    tag: String,
    spec: &LabSpec,
    gateways: Vec<addressing::Gateway>,
    serve: bool,
) -> LabRecord {
    let mut notes = Vec::new();
    let mut pods = Vec::with_capacity(spec.pods.len());
    let mut index = 0usize;
    for pod in &spec.pods {
        if pod.host_network {
            pods.push(PodRecord {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                netns: None,
                interface: None,
                host_interface: None,
                ips: pod.ips.clone(),
                listen: Vec::new(),
            });
            continue;
        }
        let mut listen = Vec::new();
        for port in pod.ports.iter().filter(|_| serve) {
            if port.protocol == Protocol::Sctp {
                notes.push(format!(
                    "pod {}: SCTP port {} is not served (TCP and UDP only)",
                    pod.key(),
                    port.port
                ));
                continue;
            }
            for ip in &pod.ips {
                listen.push(Listen {
                    protocol: port.protocol,
                    addr: std::net::SocketAddr::new(*ip, port.port),
                });
            }
        }
        pods.push(PodRecord {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            netns: Some(format!("nwp{tag}{index}")),
            interface: Some(POD_IF.into()),
            host_interface: Some(format!("nwv{tag}{index}")),
            ips: pod.ips.clone(),
            listen,
        });
        index += 1;
    }
    let created_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    LabRecord {
        name,
        bridge: format!("nwb{tag}"),
        tag,
        created_by_pid: std::process::id(),
        created_unix,
        gateways,
        pods,
        service_processes: Vec::new(),
        notes,
    }
}

/// Six hex digits no lab, interface or namespace of this machine uses in lab-style names. Fixed
/// width, so `nwv<tag><n>` of one lab can never be `nwv<tag'><n'>` of another.
fn free_tag(existing: &[LabRecord]) -> Result<String, NodeError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mix = std::process::id().wrapping_mul(0x9e37_79b9)
            ^ nanos.rotate_left(7)
            ^ n.wrapping_mul(0x85eb_ca6b);
        let tag = format!("{:06x}", mix & 0xff_ffff);
        debug_assert!(format!("nwv{tag}999999").len() <= IFNAME_MAX);
        let taken = existing.iter().any(|r| r.tag == tag)
            || ["nwb", "nwv", "nwp"]
                .iter()
                .any(|p| sys::name_in_use(&format!("{p}{tag}")));
        if !taken {
            return Ok(tag);
        }
    }
    Err(NodeError::NoTag)
}

/// Refuses a subnet this machine already routes (see [`sys::routes_within`]), naming the lab that
/// has it when it is a lab's bridge.
fn check_subnet_free(subnet: &Cidr, existing: &[LabRecord]) -> Result<(), NodeError> {
    let routes = sys::routes_within(subnet)?;
    let Some(route) = routes.first() else {
        return Ok(());
    };
    let mut text = route.prefix.to_string();
    if let Some(dev) = &route.dev {
        text.push_str(&format!(" dev {dev}"));
        if let Some(lab) = existing.iter().find(|r| &r.bridge == dev) {
            text.push_str(&format!(" (the bridge of lab {})", lab.name));
        }
    }
    if let Some(table) = &route.table {
        text.push_str(&format!(" table {table}"));
    }
    Err(NodeError::SubnetInUse {
        subnet: *subnet,
        route: text,
    })
}

/// Reads the child's stdout until a line `ready`; an error if it closes stdout, exits or takes
/// longer than [`READY_TIMEOUT`].
fn wait_ready(child: &mut Child) -> Result<(), String> {
    let Some(mut out) = child.stdout.take() else {
        return Err("no stdout".into());
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if seen
            .split(|b| *b == b'\n')
            .any(|line| line.trim_ascii() == b"ready")
        {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("not ready after {} s", READY_TIMEOUT.as_secs()));
        }
        let mut p = libc::pollfd {
            fd: out.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, left.as_millis().min(1000) as libc::c_int) };
        if n <= 0 {
            continue;
        }
        match out.read(&mut buf) {
            Ok(0) => {
                let status = child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                return Err(format!("exited before it was ready ({status})"));
            }
            Ok(k) => seen.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading its stdout: {e}")),
        }
    }
}
