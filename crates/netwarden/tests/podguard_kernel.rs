//! The pod guard on real traffic: a "node" namespace with two "pod" namespaces behind veths (routed
//! like Calico or Cilium: the route to each pod IP leaves by the host side of its veth) and an
//! "external" namespace beyond the node. `netwarden pods monitor` runs in the node namespace with
//! an inventory file naming the pods. Needs root.

mod common;

use netwarden_lab::{command_keep_mounts, unique_tag, Netns};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aya::programs::{SchedClassifier, TcAttachType};

const BIN: &str = env!("CARGO_BIN_EXE_netwarden");

const EXT4: &str = "203.0.113.2";
const EXT6: &str = "2001:db8:ff::2";
const CLUSTER: &str = "10.244.0.0/16,fd44::/16";

/// A pod: its namespace, host-side interface and addresses.
struct Pod {
    ns: Netns,
    host_if: String,
    ip4: String,
    ip6: String,
}

/// The node, its pods `a` (10.244.1.2) and `b` (10.244.2.2), the external host, and the inventory.
struct Cluster {
    tag: String,
    node: Netns,
    a: Pod,
    b: Pod,
    ext: Netns,
    inventory: PathBuf,
}

fn ns(name: String) -> Netns {
    Netns::create(name).unwrap_or_else(|e| panic!("{e}"))
}

impl Cluster {
    fn new() -> Self {
        let tag = unique_tag();
        let node = ns(format!("nwt{tag}n"));
        node.sysctl("net.ipv4.ip_forward", "1").unwrap();
        node.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();
        let a = Self::pod(&tag, &node, "a", 1);
        let b = Self::pod(&tag, &node, "b", 2);
        let ext = ns(format!("nwt{tag}x"));
        node.veth_to(
            &format!("px{tag}"),
            &["203.0.113.1/24", "2001:db8:ff::1/64"],
            &ext,
            &format!("ex{tag}"),
            &[&format!("{EXT4}/24"), &format!("{EXT6}/64")],
        )
        .unwrap();
        ext.ip(&["route", "add", "10.244.0.0/16", "via", "203.0.113.1"])
            .unwrap();
        ext.ip(&["-6", "route", "add", "fd44::/16", "via", "2001:db8:ff::1"])
            .unwrap();
        let dir = std::env::temp_dir().join(format!("nwpg-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let c = Cluster {
            tag,
            node,
            a,
            b,
            ext,
            inventory: dir.join("inventory.yaml"),
        };
        c.write_inventory(&[("web-a", &c.a, "app: web"), ("db-b", &c.b, "app: db")]);
        c.warm_up(&[&c.a, &c.b]);
        c
    }

    /// Pod `n` of the node: 10.244.n.2 and fd44:n::2 behind host interface `p<letter><tag>`.
    fn pod(tag: &str, node: &Netns, letter: &str, n: u8) -> Pod {
        let pod_ns = ns(format!("nwt{tag}{letter}"));
        let host_if = format!("p{letter}{tag}");
        node.veth_to(
            &host_if,
            &[&format!("10.244.{n}.1/24"), &format!("fd44:{n}::1/64")],
            &pod_ns,
            &format!("e{letter}{tag}"),
            &[&format!("10.244.{n}.2/24"), &format!("fd44:{n}::2/64")],
        )
        .unwrap();
        pod_ns
            .ip(&["route", "add", "default", "via", &format!("10.244.{n}.1")])
            .unwrap();
        pod_ns
            .ip(&[
                "-6",
                "route",
                "add",
                "default",
                "via",
                &format!("fd44:{n}::1"),
            ])
            .unwrap();
        Pod {
            ns: pod_ns,
            host_if,
            ip4: format!("10.244.{n}.2"),
            ip6: format!("fd44:{n}::2"),
        }
    }

    /// Writes the inventory: (pod name, pod, labels as a YAML flow mapping body).
    fn write_inventory(&self, pods: &[(&str, &Pod, &str)]) {
        let mut text = String::new();
        for (name, pod, labels) in pods {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{namespace: default, name: {name}, \
                 labels: {{{labels}}}}}\nspec: {{nodeName: node-1}}\nstatus: {{phase: Running, \
                 hostIP: 192.0.2.10, podIPs: [{{ip: {}}}, {{ip: \"{}\"}}]}}\n",
                pod.ip4, pod.ip6
            ));
        }
        // Write beside and rename: the watcher never reads half a file.
        let tmp = self.inventory.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.inventory).unwrap();
    }

    fn write_config(&self, yaml: &str) -> String {
        let p = self.inventory.with_file_name("podguard.yaml");
        std::fs::write(&p, yaml).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// `netwarden pods monitor --inventory .. ARGS` in the node namespace, started.
    fn monitor(&self, args: &[&str], env: &[(&str, &str)]) -> Guard {
        let inventory = self.inventory.to_string_lossy().into_owned();
        let mut full = vec!["pods", "monitor", "--inventory", inventory.as_str()];
        full.extend_from_slice(args);
        self.netwarden(&full, env, "pod guard started")
    }

    /// `netwarden ARGS` in the node namespace (keeping this process's mounts), once `ready`
    /// shows on its stderr.
    fn netwarden(&self, args: &[&str], env: &[(&str, &str)], ready: &str) -> Guard {
        let mut cmd = command_keep_mounts(&self.node.name, BIN).unwrap();
        cmd.args(args)
            .env("NETWARDEN_LOG", "info")
            .env_remove("POD_SELECTOR")
            .env_remove("BLOCK_EXTERNAL")
            .env_remove("CLUSTER_CIDRS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut g = Guard::spawn(cmd);
        g.wait_stderr(ready, Duration::from_secs(20));
        g
    }

    /// Names of the tcx programs on `dev` (ingress then egress) in the node namespace; empty
    /// when the interface is gone.
    fn tcx_programs(&self, dev: &str) -> Vec<String> {
        let dev = dev.to_string();
        self.node
            .run(move || {
                let mut names = Vec::new();
                for t in [TcAttachType::Ingress, TcAttachType::Egress] {
                    if let Ok((_, progs)) = SchedClassifier::query_tcx(&dev, t) {
                        names.extend(
                            progs
                                .iter()
                                .map(|p| p.name_as_str().unwrap_or("?").to_string()),
                        );
                    }
                }
                names
            })
            .unwrap()
    }

    /// Pings every path once so that neighbours are resolved before a test counts packets
    /// (the first forwarded packet towards an unresolved IPv6 neighbour can be lost).
    fn warm_up(&self, pods: &[&Pod]) {
        let mut targets: Vec<String> = vec![EXT4.into(), EXT6.into()];
        for p in [&self.a, &self.b] {
            targets.push(p.ip4.clone());
            targets.push(p.ip6.clone());
        }
        for pod in pods {
            for t in &targets {
                let _ = pod
                    .ns
                    .command("ping")
                    .args(["-c", "2", "-i", "0.2", "-W", "1", "-q", t])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(dir) = self.inventory.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A running `netwarden pods monitor`: stdout and stderr lines as they come.
struct Guard {
    child: Option<Child>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    out_seen: Vec<String>,
    err_seen: Vec<String>,
}

fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Guard {
    fn spawn(mut cmd: std::process::Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netwarden");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Guard {
            child: Some(child),
            stdout,
            stderr,
            out_seen: Vec::new(),
            err_seen: Vec::new(),
        }
    }

    /// Waits until a stderr line contains `needle`; returns how long it took.
    fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.err_seen.iter().any(|l| l.contains(needle)) {
                return start.elapsed();
            }
            let left = timeout.saturating_sub(start.elapsed());
            match self
                .stderr
                .recv_timeout(left.min(Duration::from_millis(50)))
            {
                Ok(l) => self.err_seen.push(l),
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => panic!(
                    "no {needle:?} on stderr within {timeout:?}; saw:\n{}",
                    self.err_seen.join("\n")
                ),
            }
        }
    }

    /// SIGTERM, wait; returns (stdout lines, stderr lines).
    fn stop(mut self) -> (Vec<String>, Vec<String>) {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child (the pre_exec setns keeps the pid netwarden's).
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().expect("wait");
        // The readers end with the pipes.
        for l in self.stdout.iter() {
            self.out_seen.push(l);
        }
        for l in self.stderr.iter() {
            self.err_seen.push(l);
        }
        assert!(
            status.success(),
            "netwarden exited with {status}; stderr:\n{}",
            self.err_seen.join("\n")
        );
        (
            std::mem::take(&mut self.out_seen),
            std::mem::take(&mut self.err_seen),
        )
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn events(stdout: &[String]) -> Vec<Value> {
    stdout
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Events matching every (field, value) pair.
fn matching<'a>(all: &'a [Value], want: &[(&str, Value)]) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| want.iter().all(|(k, v)| &e[*k] == v))
        .collect()
}

fn dump(all: &[Value]) -> String {
    all.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A UDP receiver in `ns` on `addr`.
fn udp_server(ns: &Netns, addr: &str) -> UdpSocket {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = ns.run(move || UdpSocket::bind(addr).unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    s
}

/// A UDP socket in `ns`, bound to `src` (port 0: any).
fn udp_client(ns: &Netns, src: &str) -> UdpSocket {
    let src: SocketAddr = src.parse().unwrap();
    ns.run(move || UdpSocket::bind(src).unwrap()).unwrap()
}

/// Whether `server` receives `payload` sent by `client` to `dst`.
fn udp_delivered(client: &UdpSocket, server: &UdpSocket, dst: &str, payload: &[u8]) -> bool {
    client.send_to(payload, dst).unwrap();
    let mut buf = [0u8; 1500];
    loop {
        match server.recv_from(&mut buf) {
            Ok((n, _)) if &buf[..n] == payload => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// A TCP listener in `ns` accepting (and echoing one message) in the background.
fn tcp_server(ns: &Netns, addr: &str) {
    let addr: SocketAddr = addr.parse().unwrap();
    let l = ns.run(move || TcpListener::bind(addr).unwrap()).unwrap();
    std::thread::spawn(move || {
        for mut conn in l.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 64];
            if let Ok(n) = conn.read(&mut buf) {
                let _ = conn.write_all(&buf[..n]);
            }
        }
    });
}

/// Whether a TCP connection from `ns` to `dst` completes and echoes within a second.
fn tcp_works(ns: &Netns, dst: &str) -> bool {
    let dst: SocketAddr = dst.parse().unwrap();
    ns.run(move || {
        let Ok(mut s) = TcpStream::connect_timeout(&dst, Duration::from_secs(1)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 4];
        s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"ping"
    })
    .unwrap()
}

fn v6(addr: &str, port: u16) -> String {
    format!("[{addr}]:{port}")
}

fn v4(addr: &str, port: u16) -> String {
    format!("{addr}:{port}")
}

#[test]
fn monitor_reports_each_new_connection_once() {
    let c = Cluster::new();
    tcp_server(&c.ext, &v4(EXT4, 8080));
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    let udp_ext6 = udp_server(&c.ext, &v6(EXT6, 5353));
    let mut g = c.monitor(&["--selector", "app=web", "--json"], &[]);
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));

    // Pod a: one TCP connection with several packets each way.
    assert!(tcp_works(&c.a.ns, &v4(EXT4, 8080)));
    // Two UDP "connections" (source ports), the first with three datagrams.
    let u1 = udp_client(&c.a.ns, "0.0.0.0:40001");
    for i in 0..3u8 {
        assert!(udp_delivered(&u1, &udp_ext, &v4(EXT4, 5353), &[b'x', i]));
    }
    let u2 = udp_client(&c.a.ns, "0.0.0.0:40002");
    assert!(udp_delivered(&u2, &udp_ext, &v4(EXT4, 5353), b"y"));
    let u6 = udp_client(&c.a.ns, "[::]:40003");
    for _ in 0..2 {
        assert!(udp_delivered(&u6, &udp_ext6, &v6(EXT6, 5353), b"six"));
    }
    // Pod b is not selected.
    let ub = udp_client(&c.b.ns, "0.0.0.0:40004");
    assert!(udp_delivered(&ub, &udp_ext, &v4(EXT4, 5353), b"b"));
    std::thread::sleep(Duration::from_millis(300));
    let (out, err) = g.stop();
    let all = events(&out);

    let pod_a = [
        ("namespace", Value::from("default")),
        ("pod", Value::from("web-a")),
        ("verdict", Value::from("ALLOWED")),
        ("kind", Value::from("new-connection")),
    ];
    let with = |extra: &[(&str, Value)]| {
        let mut w = pod_a.to_vec();
        w.extend_from_slice(extra);
        matching(&all, &w).len()
    };
    let to_ext = ("dstAddr", Value::from(EXT4));
    assert_eq!(
        with(&[
            to_ext.clone(),
            ("protocol", "TCP".into()),
            ("dstPort", 8080.into())
        ]),
        1,
        "one TCP connection:\n{}",
        dump(&all)
    );
    for port in [40001, 40002] {
        assert_eq!(
            with(&[
                to_ext.clone(),
                ("protocol", "UDP".into()),
                ("srcPort", port.into()),
                ("dstPort", 5353.into()),
                ("srcAddr", c.a.ip4.clone().into()),
            ]),
            1,
            "one UDP connection from port {port}:\n{}",
            dump(&all)
        );
    }
    assert_eq!(
        with(&[
            ("dstAddr", EXT6.into()),
            ("srcAddr", c.a.ip6.clone().into()),
            ("protocol", "UDP".into()),
            ("srcPort", 40003.into()),
        ]),
        1,
        "one IPv6 UDP connection:\n{}",
        dump(&all)
    );
    // Replies of the external host (the SYN-ACK...) are not connections of the pod; pod b is
    // not watched.
    assert!(
        matching(&all, &[("pod", "db-b".into())]).is_empty(),
        "{}",
        dump(&all)
    );
    assert!(
        matching(&all, &[("srcAddr", EXT4.into())]).is_empty(),
        "{}",
        dump(&all)
    );
    assert!(
        err.iter()
            .any(|l| l.contains("pod totals") && l.contains("default/web-a")),
        "{}",
        err.join("\n")
    );
    // Detached on exit.
    assert!(
        c.tcx_programs(&c.a.host_if).is_empty(),
        "{:?}",
        c.tcx_programs(&c.a.host_if)
    );
}

#[test]
fn block_external_drops_outside_destinations_and_passes_the_cluster() {
    let c = Cluster::new();
    tcp_server(&c.ext, &v4(EXT4, 8080));
    tcp_server(&c.b.ns, &v4(&c.b.ip4, 8080));
    tcp_server(&c.a.ns, "0.0.0.0:9090");
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    let udp_ext6 = udp_server(&c.ext, &v6(EXT6, 5353));
    let udp_b = udp_server(&c.b.ns, &v4(&c.b.ip4, 5353));
    let udp_b6 = udp_server(&c.b.ns, &v6(&c.b.ip6, 5353));
    let mut g = c.monitor(
        &[
            "--selector",
            "app=web",
            "--block-external",
            "--cluster-cidrs",
            CLUSTER,
            "--json",
        ],
        &[],
    );
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));
    // Both programs, first in their chains; the unselected pod's interface is untouched.
    assert_eq!(
        c.tcx_programs(&c.a.host_if),
        ["nw_pg_ingress", "nw_pg_egress"]
    );
    assert!(c.tcx_programs(&c.b.host_if).is_empty());

    let a = udp_client(&c.a.ns, "0.0.0.0:41001");
    let a6 = udp_client(&c.a.ns, "[::]:41002");
    assert!(!udp_delivered(&a, &udp_ext, &v4(EXT4, 5353), b"out"));
    assert!(!udp_delivered(&a6, &udp_ext6, &v6(EXT6, 5353), b"out6"));
    assert!(!tcp_works(&c.a.ns, &v4(EXT4, 8080)));
    // In-cluster destinations pass, both families.
    assert!(udp_delivered(&a, &udp_b, &v4(&c.b.ip4, 5353), b"in"));
    assert!(udp_delivered(&a6, &udp_b6, &v6(&c.b.ip6, 5353), b"in6"));
    assert!(tcp_works(&c.a.ns, &v4(&c.b.ip4, 8080)));
    // Pod b is not selected: it reaches the outside.
    let b = udp_client(&c.b.ns, "0.0.0.0:41003");
    assert!(udp_delivered(&b, &udp_ext, &v4(EXT4, 5353), b"b-out"));
    // Connections opened from outside towards pod a get their replies.
    assert!(tcp_works(&c.ext, &v4(&c.a.ip4, 9090)));
    std::thread::sleep(Duration::from_millis(300));
    let (out, err) = g.stop();
    let all = events(&out);

    let blocked = |dst: &str, proto: &str| {
        matching(
            &all,
            &[
                ("pod", "web-a".into()),
                ("verdict", "BLOCKED".into()),
                ("reason", "external".into()),
                ("dstAddr", dst.into()),
                ("protocol", proto.into()),
            ],
        )
        .len()
    };
    assert!(blocked(EXT4, "UDP") >= 1, "{}", dump(&all));
    assert!(blocked(EXT6, "UDP") >= 1, "{}", dump(&all));
    // The SYN and its retransmissions: every dropped packet is reported.
    assert!(blocked(EXT4, "TCP") >= 1, "{}", dump(&all));
    assert_eq!(
        matching(
            &all,
            &[
                ("verdict", "BLOCKED".into()),
                ("dstAddr", c.b.ip4.clone().into())
            ]
        )
        .len(),
        0,
        "{}",
        dump(&all)
    );
    // Allowed in-cluster connections are still reported (monitor goes on in blocking modes).
    assert_eq!(
        matching(
            &all,
            &[
                ("verdict", "ALLOWED".into()),
                ("dstAddr", c.b.ip4.clone().into()),
                ("protocol", "UDP".into())
            ]
        )
        .len(),
        1,
        "{}",
        dump(&all)
    );
    // Replies to the inbound connection are neither blocked nor reported as the pod's own.
    assert!(
        matching(&all, &[("srcPort", 9090.into())]).is_empty(),
        "{}",
        dump(&all)
    );
    let totals = err
        .iter()
        .find(|l| l.contains("pod totals") && l.contains("default/web-a"))
        .unwrap_or_else(|| panic!("{}", err.join("\n")));
    assert!(!totals.contains("blocked_packets=0"), "{totals}");
}

#[test]
fn text_lines_and_environment_variables() {
    let c = Cluster::new();
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 53));
    let udp_b = udp_server(&c.b.ns, &v4(&c.b.ip4, 53));
    let mut g = c.monitor(
        &["--cluster-cidrs", CLUSTER],
        &[
            ("POD_SELECTOR", "app=web,tier notin (x),!legacy"),
            ("BLOCK_EXTERNAL", "true"),
        ],
    );
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));
    let a = udp_client(&c.a.ns, "0.0.0.0:45678");
    assert!(!udp_delivered(&a, &udp_ext, &v4(EXT4, 53), b"q"));
    assert!(udp_delivered(&a, &udp_b, &v4(&c.b.ip4, 53), b"q"));
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = g.stop();
    let want_blocked = format!(
        "TRAFFIC: {}:45678 -> {EXT4}:53 (UDP) [BLOCKED] [pod: default/web-a]",
        c.a.ip4
    );
    let want_allowed = format!(
        "TRAFFIC: {}:45678 -> {}:53 (UDP) [ALLOWED] [pod: default/web-a]",
        c.a.ip4, c.b.ip4
    );
    assert!(out.contains(&want_blocked), "{}", out.join("\n"));
    assert!(out.contains(&want_allowed), "{}", out.join("\n"));
}

#[test]
fn rules_allow_and_deny_by_destination_and_port() {
    let c = Cluster::new();
    tcp_server(&c.ext, &v4(EXT4, 8080));
    tcp_server(&c.ext, &v4(EXT4, 8081));
    tcp_server(&c.ext, &v6(EXT6, 8080));
    let udp_5353 = udp_server(&c.ext, &v4(EXT4, 5353));
    let udp_5354 = udp_server(&c.ext, &v4(EXT4, 5354));
    let udp6_5353 = udp_server(&c.ext, &v6(EXT6, 5353));
    let config = c.write_config(&format!(
        r#"
selectors:
- selector: app=web
  mode: rules
  rules:
  - {{cidr: {EXT4}/32, protocol: TCP, ports: "8080", action: Allow}}
  - {{cidr: 203.0.113.0/24, protocol: TCP, action: Deny}}
  - {{cidr: 0.0.0.0/0, protocol: UDP, ports: "5353", action: Deny}}
  - {{cidr: "2001:db8:ff::/64", protocol: UDP, action: Deny}}
"#
    ));
    let mut g = c.monitor(&["--config", &config, "--json"], &[]);
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));

    assert!(tcp_works(&c.a.ns, &v4(EXT4, 8080)), "allowed by rule 1");
    assert!(!tcp_works(&c.a.ns, &v4(EXT4, 8081)), "denied by rule 2");
    let a = udp_client(&c.a.ns, "0.0.0.0:42001");
    assert!(
        !udp_delivered(&a, &udp_5353, &v4(EXT4, 5353), b"d"),
        "rule 3"
    );
    assert!(
        udp_delivered(&a, &udp_5354, &v4(EXT4, 5354), b"p"),
        "no rule"
    );
    let a6 = udp_client(&c.a.ns, "[::]:42002");
    assert!(
        !udp_delivered(&a6, &udp6_5353, &v6(EXT6, 5353), b"d6"),
        "rule 4"
    );
    assert!(tcp_works(&c.a.ns, &v6(EXT6, 8080)), "no IPv6 TCP rule");
    // Pod b has no rules.
    let b = udp_client(&c.b.ns, "0.0.0.0:42003");
    assert!(udp_delivered(&b, &udp_5353, &v4(EXT4, 5353), b"b"));
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = g.stop();
    let all = events(&out);
    let rule_of = |port: u64, verdict: &str| -> Vec<String> {
        matching(
            &all,
            &[
                ("pod", "web-a".into()),
                ("dstPort", port.into()),
                ("verdict", verdict.into()),
            ],
        )
        .iter()
        .map(|e| e["rule"].as_str().unwrap_or("").to_string())
        .collect()
    };
    assert_eq!(
        rule_of(8080, "ALLOWED").first().map(String::as_str),
        Some("selectors[0].rules[0]: Allow 203.0.113.2/32 TCP 8080"),
        "{}",
        dump(&all)
    );
    assert!(
        rule_of(8081, "BLOCKED")
            .iter()
            .all(|r| r == "selectors[0].rules[1]: Deny 203.0.113.0/24 TCP"),
        "{}",
        dump(&all)
    );
    assert!(!rule_of(8081, "BLOCKED").is_empty(), "{}", dump(&all));
    assert!(!rule_of(5353, "BLOCKED").is_empty(), "{}", dump(&all));
    assert_eq!(rule_of(5354, "ALLOWED").len(), 1, "{}", dump(&all));
}

#[test]
fn relabelled_and_new_pods_are_followed_within_a_second() {
    let c = Cluster::new();
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    let mut g = c.monitor(
        &[
            "--selector",
            "app=web",
            "--block-external",
            "--cluster-cidrs",
            CLUSTER,
        ],
        &[],
    );
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));
    let a = udp_client(&c.a.ns, "0.0.0.0:43001");
    let b = udp_client(&c.b.ns, "0.0.0.0:43002");
    assert!(!udp_delivered(&a, &udp_ext, &v4(EXT4, 5353), b"a0"));
    assert!(udp_delivered(&b, &udp_ext, &v4(EXT4, 5353), b"b0"));

    // Swap the labels: a is released, b is guarded; nothing else is reattached.
    c.write_inventory(&[("web-a", &c.a, "app: db"), ("db-b", &c.b, "app: web")]);
    let took = g.wait_stderr("guarding pod default/db-b", Duration::from_secs(2));
    assert!(
        took < Duration::from_secs(1),
        "relabelling followed after {took:?}"
    );
    let took = g.wait_stderr("released pod default/web-a", Duration::from_secs(2));
    assert!(
        took < Duration::from_secs(1),
        "relabelling followed after {took:?}"
    );
    assert!(udp_delivered(&a, &udp_ext, &v4(EXT4, 5353), b"a1"));
    assert!(!udp_delivered(&b, &udp_ext, &v4(EXT4, 5353), b"b1"));

    // A pod that starts: its namespace and interface appear, then the inventory names it.
    let tag = &c.tag;
    let fresh = Cluster::pod(tag, &c.node, "c", 3);
    c.warm_up(&[&fresh]);
    c.write_inventory(&[
        ("web-a", &c.a, "app: db"),
        ("db-b", &c.b, "app: web"),
        ("web-c", &fresh, "app: web"),
    ]);
    let took = g.wait_stderr("guarding pod default/web-c", Duration::from_secs(2));
    assert!(
        took < Duration::from_secs(1),
        "new pod guarded after {took:?}"
    );
    let cl = udp_client(&fresh.ns, "0.0.0.0:43003");
    assert!(!udp_delivered(&cl, &udp_ext, &v4(EXT4, 5353), b"c"));
    // The pod stops: its interface goes; it is released when the inventory drops it.
    drop(cl);
    let fresh_if = fresh.host_if.clone();
    drop(fresh);
    c.write_inventory(&[("web-a", &c.a, "app: db"), ("db-b", &c.b, "app: web")]);
    g.wait_stderr("released pod default/web-c", Duration::from_secs(2));
    assert!(c.tcx_programs(&fresh_if).is_empty());
    // Pod a was detached when released; pod b kept its attachment through all of it.
    assert!(c.tcx_programs(&c.a.host_if).is_empty());
    assert_eq!(c.tcx_programs(&c.b.host_if).len(), 2);
    let (_, err) = g.stop();
    let attaches_b = err
        .iter()
        .filter(|l| l.contains("guarding pod default/db-b"))
        .count();
    assert_eq!(attaches_b, 1, "{}", err.join("\n"));
}

#[test]
fn bridged_pods_are_guarded_on_their_bridge_port() {
    let c = Cluster::new();
    // A bridge CNI: the route to the pod leads to the bridge; the pod is behind one of its ports.
    let br = format!("br{}", c.tag);
    c.node.ip(&["link", "add", &br, "type", "bridge"]).unwrap();
    c.node
        .ip(&["addr", "add", "10.244.5.1/24", "dev", &br])
        .unwrap();
    c.node.ip(&["link", "set", &br, "up"]).unwrap();
    let pod_ns = ns(format!("nwt{}d", c.tag));
    let port = format!("pd{}", c.tag);
    c.node
        .veth_to(
            &port,
            &[],
            &pod_ns,
            &format!("ed{}", c.tag),
            &["10.244.5.2/24"],
        )
        .unwrap();
    c.node.ip(&["link", "set", &port, "master", &br]).unwrap();
    pod_ns
        .ip(&["route", "add", "default", "via", "10.244.5.1"])
        .unwrap();
    let d = Pod {
        ns: pod_ns,
        host_if: port.clone(),
        ip4: "10.244.5.2".into(),
        ip6: "fd44:5::2".into(),
    };
    // The node learns the pod's MAC from its first packets.
    c.warm_up(&[&d]);
    c.write_inventory(&[
        ("web-a", &c.a, "app: db"),
        ("db-b", &c.b, "app: db"),
        ("web-d", &d, "app: web"),
    ]);
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    let udp_b = udp_server(&c.b.ns, &v4(&c.b.ip4, 5353));
    let mut g = c.monitor(
        &[
            "--selector",
            "app=web",
            "--block-external",
            "--cluster-cidrs",
            CLUSTER,
            "--json",
        ],
        &[],
    );
    g.wait_stderr(
        &format!("guarding pod default/web-d on {port} "),
        Duration::from_secs(5),
    );
    assert_eq!(c.tcx_programs(&port), ["nw_pg_ingress", "nw_pg_egress"]);
    assert!(c.tcx_programs(&br).is_empty());
    let s = udp_client(&d.ns, "0.0.0.0:44001");
    assert!(!udp_delivered(&s, &udp_ext, &v4(EXT4, 5353), b"out"));
    assert!(udp_delivered(&s, &udp_b, &v4(&c.b.ip4, 5353), b"in"));
    let (out, _) = g.stop();
    let all = events(&out);
    assert!(
        !matching(
            &all,
            &[
                ("pod", "web-d".into()),
                ("verdict", "BLOCKED".into()),
                ("interface", port.clone().into())
            ]
        )
        .is_empty(),
        "{}",
        dump(&all)
    );
}

#[test]
fn time_windows_switch_blocking_but_not_monitoring() {
    let c = Cluster::new();
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    // A day three days from today (UTC): never inside, whatever the hour.
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    // 1970-01-01 was a Thursday.
    let elsewhen = names[((days + 3 + 3) % 7) as usize];
    let config = c.write_config(&format!(
        r#"
selectors:
- selector: app=web
  mode: block-external
  windows: [{{days: {elsewhen}, hours: "00:00-24:00", time_zone: UTC}}]
- selector: app=db
  mode: block-external
  windows: [{{days: "*", hours: "00:00-24:00", time_zone: "+05:30"}}]
cluster_cidrs: [10.244.0.0/16, "fd44::/16"]
"#
    ));
    let mut g = c.monitor(&["--config", &config, "--json"], &[]);
    g.wait_stderr("pod default/web-a on", Duration::from_secs(5));
    g.wait_stderr("guarding pod default/db-b", Duration::from_secs(5));
    assert!(
        g.err_seen
            .iter()
            .any(|l| l.contains("web-a") && l.contains("blocking off outside its windows")),
        "{}",
        g.err_seen.join("\n")
    );
    let a = udp_client(&c.a.ns, "0.0.0.0:46001");
    let b = udp_client(&c.b.ns, "0.0.0.0:46002");
    assert!(
        udp_delivered(&a, &udp_ext, &v4(EXT4, 5353), b"a"),
        "outside its window"
    );
    assert!(
        !udp_delivered(&b, &udp_ext, &v4(EXT4, 5353), b"b"),
        "inside its window"
    );
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = g.stop();
    let all = events(&out);
    assert_eq!(
        matching(
            &all,
            &[("pod", "web-a".into()), ("verdict", "ALLOWED".into())]
        )
        .len(),
        1,
        "still monitored:\n{}",
        dump(&all)
    );
    assert!(
        !matching(
            &all,
            &[("pod", "db-b".into()), ("verdict", "BLOCKED".into())]
        )
        .is_empty(),
        "{}",
        dump(&all)
    );
}

#[test]
fn the_agent_guards_pods_from_its_config() {
    let c = Cluster::new();
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    let dir = c.inventory.parent().unwrap().to_path_buf();
    let events_file = dir.join("pod-events.jsonl");
    let config = dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
capture:
  interfaces: "^nothing-here$"
sink:
  jsonl:
    path: {flows}
metrics:
  address: 127.0.0.1:9400
inventory:
  file: {inventory}
pod_guard:
  enabled: true
  selectors:
  - selector: app=web
    mode: block-external
  cluster_cidrs: [10.244.0.0/16, "fd44::/16"]
  events_jsonl: {events}
"#,
            flows = dir.join("flows.jsonl").display(),
            inventory = c.inventory.display(),
            events = events_file.display(),
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let mut g = c.netwarden(&["agent", "-c", &config], &[], "agent started");
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));
    let a = udp_client(&c.a.ns, "0.0.0.0:47001");
    assert!(!udp_delivered(&a, &udp_ext, &v4(EXT4, 5353), b"x"));
    let line = format!(
        "TRAFFIC: {}:47001 -> {EXT4}:5353 (UDP) [BLOCKED] [pod: default/web-a]",
        c.a.ip4
    );
    g.wait_stderr(&line, Duration::from_secs(2));
    // Per-pod counters in the metrics (refreshed every second; port 9400 of the node namespace).
    let blocked = "netwarden_podguard_blocked_packets_total{namespace=\"default\",pod=\"web-a\"} 1";
    let mut text = String::new();
    for _ in 0..30 {
        text = common::scrape(&c.node, "127.0.0.1:9400".into());
        if text.contains(blocked) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(text.contains(blocked), "{text}");
    let (_, err) = g.stop();
    assert!(
        err.iter()
            .any(|l| l.contains("pod totals") && l.contains("default/web-a")),
        "{}",
        err.join("\n")
    );
    let written = std::fs::read_to_string(&events_file).unwrap();
    let all = events(&written.lines().map(str::to_string).collect::<Vec<_>>());
    assert!(
        !matching(
            &all,
            &[
                ("pod", "web-a".into()),
                ("verdict", "BLOCKED".into()),
                ("srcPort", 47001.into())
            ]
        )
        .is_empty(),
        "{written}"
    );
    // Detached when the agent stopped.
    assert!(c.tcx_programs(&c.a.host_if).is_empty());
}

#[test]
fn blocked_traffic_shows_on_the_pods_flows_as_a_netwarden_drop() {
    let c = Cluster::new();
    let udp_ext = udp_server(&c.ext, &v4(EXT4, 5353));
    let iface = format!("^{}$", c.a.host_if);
    let capture = c.netwarden(
        &[
            "capture",
            "--interfaces",
            &iface,
            "--eviction",
            "60",
            "--format",
            "json",
        ],
        &[],
        "capture started",
    );
    let mut g = c.monitor(
        &[
            "--selector",
            "app=web",
            "--block-external",
            "--cluster-cidrs",
            CLUSTER,
        ],
        &[],
    );
    g.wait_stderr("guarding pod default/web-a", Duration::from_secs(5));
    let a = udp_client(&c.a.ns, "0.0.0.0:41501");
    for _ in 0..3 {
        assert!(!udp_delivered(&a, &udp_ext, &v4(EXT4, 5353), b"out"));
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = g.stop();
    let (out, _) = capture.stop();
    let records: Vec<Value> = out
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flow = records
        .iter()
        .find(|r| r["SrcPort"] == 41501 && r["DstAddr"] == EXT4)
        .unwrap_or_else(|| panic!("no record of the blocked flow in {records:?}"));
    assert_eq!(flow["PktDropPackets"], 3, "{flow}");
    assert_eq!(
        flow["PktDropLatestDropCause"], "NETWARDEN_POD_GUARD_BLOCKED",
        "{flow}"
    );
}

#[test]
fn lab_pods_are_monitored_and_blocked_on_their_bridge_ports() {
    let octet = 100 + (std::process::id() % 100) as u8;
    let inventory = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{namespace: shop, name: web, labels: {{app: web}}}}
status: {{phase: Running, podIP: 10.236.{octet}.10, podIPs: [{{ip: 10.236.{octet}.10}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{namespace: shop, name: db, labels: {{app: db}}}}
spec: {{containers: [{{name: c, ports: [{{containerPort: 5432, protocol: TCP}}]}}]}}
status: {{phase: Running, podIP: 10.236.{octet}.11, podIPs: [{{ip: 10.236.{octet}.11}}]}}
"#
    );
    let node = common::LabNode::up("guard", &inventory);
    let lab = &node.lab;
    let db = format!("10.236.{octet}.11");
    let reach = |dst: String| {
        lab.run("shop/web", move || {
            TcpStream::connect_timeout(
                &format!("{dst}:5432").parse().unwrap(),
                Duration::from_millis(500),
            )
            .is_ok()
        })
        .unwrap()
    };
    assert!(reach(db.clone()));
    // The node learns a bridged pod's MAC from traffic with it (bridge CNIs are found that way).
    let pinged = lab
        .command("shop/web", "ping")
        .unwrap()
        .args(["-c", "1", "-W", "1", &format!("10.236.{octet}.1")])
        .status()
        .unwrap();
    assert!(pinged.success());
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "pods",
        "monitor",
        "--inventory",
        node.inventory_arg(),
        "--selector",
        "app=web",
        "--block-external",
        "--cluster-cidrs",
        &format!("10.236.{octet}.0/24"),
        "--json",
    ])
    .env("NETWARDEN_LOG", "info");
    let mut g = Guard::spawn(cmd);
    g.wait_stderr("guarding pod shop/web", Duration::from_secs(10));
    assert!(reach(db.clone()), "in-cluster traffic passes");
    let outside = lab.run("shop/web", || {
        let u = UdpSocket::bind("0.0.0.0:42001").unwrap();
        // TTL 1: were it not dropped, it would die at the node anyway.
        u.set_ttl(1).unwrap();
        u.send_to(b"out", "203.0.113.7:53").unwrap();
    });
    outside.unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = g.stop();
    let all = events(&out);
    assert_eq!(
        matching(
            &all,
            &[
                ("pod", "web".into()),
                ("kind", "new-connection".into()),
                ("dstPort", 5432.into())
            ]
        )
        .len(),
        1,
        "{}",
        dump(&all)
    );
    assert_eq!(
        matching(
            &all,
            &[
                ("pod", "web".into()),
                ("verdict", "BLOCKED".into()),
                ("dstAddr", "203.0.113.7".into())
            ]
        )
        .len(),
        1,
        "{}",
        dump(&all)
    );
}
