//! `Lab` on the real kernel (needs root): pods from an inventory become namespaces on a bridge,
//! talk to each other and to the node over TCP and UDP in both families, serve their container
//! ports, and leave nothing behind when the lab goes down, from its own handle or another one.
//!
//! The tests take turns (one lock): each checks that no interface, namespace or process of a lab
//! is left, which another test's lab in the middle of going up would confuse. Each uses its own
//! subnets (10.23N.x.0/24, fd00:23N:x::/64) and lab names.

use netwarden_lab::echo::{EchoServers, Listen};
use netwarden_lab::{Lab, LabOptions, LabSpec, NodeError, ServiceCommand, Services};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A lab name no other test run uses.
fn lab_name(what: &str) -> String {
    format!("t-{what}-{}", netwarden_lab::unique_tag())
}

/// Interfaces and namespaces with lab-style names, right now.
fn lab_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in ["/sys/class/net", "/run/netns"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if ["nwb", "nwv", "nwp"].iter().any(|p| n.starts_with(p)) {
                    names.insert(n);
                }
            }
        }
    }
    names
}

/// What `ip netns list` and `ip link` say about the lab's names (the commands a user would run).
fn ip_mentions(names: &[&str]) -> Vec<String> {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(&["netns", "list"]) + &run(&["-o", "link"]);
    names
        .iter()
        .filter(|n| text.contains(*n))
        .map(|n| n.to_string())
        .collect()
}

/// Every interface and namespace name the lab record holds.
fn record_names(lab: &Lab) -> Vec<String> {
    let r = lab.record();
    let mut names = vec![r.bridge.clone()];
    for p in &r.pods {
        names.extend(p.netns.clone());
        names.extend(p.host_interface.clone());
    }
    names
}

/// Two namespaces, two subnets per family. `alpha/server` serves TCP 7000 and UDP 7001,
/// `beta/squatter` has the subnet's usual gateway address, `kube-system/node-agent` is on the
/// host network.
fn inventory(n: u8) -> String {
    format!(
        "
apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: alpha, labels: {{app: server}}}}
spec:
  containers:
  - name: echo
    ports: [{{containerPort: 7000}}, {{containerPort: 7001, protocol: UDP}}]
status:
  podIP: 10.23{n}.1.10
  podIPs: [{{ip: 10.23{n}.1.10}}, {{ip: 'fd00:23{n}:1::a'}}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {{name: client, namespace: alpha}}
  spec: {{containers: [{{name: c}}]}}
  status:
    podIPs: [{{ip: 10.23{n}.1.11}}, {{ip: 'fd00:23{n}:1::b'}}]
- apiVersion: v1
  kind: Pod
  metadata: {{name: web, namespace: beta}}
  spec:
    containers: [{{name: web, ports: [{{containerPort: 8080}}]}}]
  status:
    podIPs: [{{ip: 10.23{n}.2.20}}, {{ip: 'fd00:23{n}:2::14'}}]
- apiVersion: v1
  kind: Pod
  metadata: {{name: squatter, namespace: beta}}
  status:
    podIPs: [{{ip: 10.23{n}.2.1}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: node-agent, namespace: kube-system}}
spec: {{hostNetwork: true}}
status: {{podIP: 192.0.2.2, hostIP: 192.0.2.2}}
---
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: alpha}}
spec: {{clusterIP: 10.96.0.20, ports: [{{port: 7000}}]}}
"
    )
}

fn up(n: u8, name: &str, services: Services) -> Lab {
    let spec = LabSpec::from_yaml(&inventory(n)).unwrap();
    Lab::up(
        &spec,
        LabOptions {
            name: Some(name.into()),
            services,
            ..LabOptions::default()
        },
    )
    .unwrap()
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// Sends `msg` over TCP from `pod` to `to` and returns what comes back.
fn tcp_echo(lab: &Lab, pod: &str, to: SocketAddr, msg: &'static [u8]) -> std::io::Result<Vec<u8>> {
    let mut s = lab
        .run(pod, move || TcpStream::connect_timeout(&to, TIMEOUT))
        .unwrap()?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got)?;
    Ok(got)
}

/// Sends `msg` over UDP from `pod` to `to` and returns the reply.
fn udp_echo(lab: &Lab, pod: &str, to: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let any: SocketAddr = if to.is_ipv4() {
        addr("0.0.0.0", 0)
    } else {
        addr("::", 0)
    };
    let s = lab.run(pod, move || UdpSocket::bind(any)).unwrap()?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.send_to(msg, to)?;
    let mut buf = [0u8; 1500];
    let (n, from) = s.recv_from(&mut buf)?;
    assert_eq!(from, to, "reply from the address asked");
    Ok(buf[..n].to_vec())
}

/// Accepts one TCP connection on the node (host namespace) at `at` from `pod` and returns the
/// address the node saw it come from.
fn connect_to_node(lab: &Lab, pod: &str, at: SocketAddr) -> IpAddr {
    let listener = TcpListener::bind(at).unwrap();
    let at = listener.local_addr().unwrap();
    let client = lab
        .run(pod, move || TcpStream::connect_timeout(&at, TIMEOUT))
        .unwrap()
        .unwrap();
    let (_conn, peer) = listener.accept().unwrap();
    drop(client);
    peer.ip()
}

fn exec_stdout(lab: &Lab, pod: &str, argv: &[&str]) -> String {
    let out = lab.exec(pod, argv).unwrap();
    assert!(out.status.success(), "{argv:?} in {pod}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pods_reach_each_other_and_the_node_then_down_leaves_nothing() {
    let _turn = serial();
    let before = lab_names();
    let name = lab_name("net");
    let lab = up(1, &name, Services::Threads);
    let r = lab.record().clone();

    // The record: three namespaces, the host-network pod without one, gateways where asked.
    assert_eq!(r.name, name);
    assert!(r.bridge.starts_with("nwb") && r.bridge.len() <= 15);
    let netns: Vec<_> = r.pods.iter().map(|p| p.netns.is_some()).collect();
    assert_eq!(netns, [true, true, true, true, false]);
    for p in &r.pods {
        for n in [&p.netns, &p.host_interface].into_iter().flatten() {
            assert!(n.len() <= 15, "{n}");
        }
    }
    let gateways: Vec<(String, String, Option<String>)> = r
        .gateways
        .iter()
        .map(|g| {
            (
                g.subnet.to_string(),
                g.address.to_string(),
                g.usual_address_taken_by.clone(),
            )
        })
        .collect();
    assert_eq!(
        gateways,
        [
            ("10.231.1.0/24".into(), "10.231.1.1".into(), None),
            (
                "10.231.2.0/24".into(),
                "10.231.2.2".into(),
                Some("beta/squatter".into())
            ),
            ("fd00:231:1::/64".into(), "fd00:231:1::1".into(), None),
            ("fd00:231:2::/64".into(), "fd00:231:2::1".into(), None),
        ]
    );
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert!(Path::new(&lab.state_file()).exists());

    // Same subnet, both families, TCP and UDP: the service ports answer.
    for ip in ["10.231.1.10", "fd00:231:1::a"] {
        assert_eq!(
            tcp_echo(&lab, "alpha/client", addr(ip, 7000), b"tcp").unwrap(),
            b"tcp"
        );
        assert_eq!(
            udp_echo(&lab, "alpha/client", addr(ip, 7001), b"udp").unwrap(),
            b"udp"
        );
    }
    // Another subnet, through the node (forwarding on the bridge).
    for ip in ["10.231.2.20", "fd00:231:2::14"] {
        assert_eq!(
            tcp_echo(&lab, "alpha/client", addr(ip, 8080), b"x").unwrap(),
            b"x"
        );
    }
    for ip in ["10.231.1.10", "fd00:231:1::a"] {
        assert_eq!(
            udp_echo(&lab, "beta/web", addr(ip, 7001), b"back").unwrap(),
            b"back"
        );
    }
    // A port nobody serves is refused, not silently dropped.
    let refused = tcp_echo(&lab, "alpha/client", addr("10.231.1.10", 7999), b"x").unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The pods reach the node at its bridge addresses, from their own addresses; the pod on the
    // moved gateway's subnet too.
    assert_eq!(
        connect_to_node(&lab, "alpha/client", addr("10.231.1.1", 0)).to_string(),
        "10.231.1.11"
    );
    assert_eq!(
        connect_to_node(&lab, "beta/web", addr("fd00:231:2::1", 0)).to_string(),
        "fd00:231:2::14"
    );
    assert_eq!(
        connect_to_node(&lab, "beta/squatter", addr("10.231.2.2", 0)).to_string(),
        "10.231.2.1"
    );
    let node_udp = UdpSocket::bind(addr("fd00:231:1::1", 0)).unwrap();
    let node_at = node_udp.local_addr().unwrap();
    let pod_udp = lab
        .run("alpha/server", move || UdpSocket::bind(addr("::", 0)))
        .unwrap()
        .unwrap();
    pod_udp.send_to(b"to node", node_at).unwrap();
    node_udp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = node_udp.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from.ip().to_string().as_str()),
        (&b"to node"[..], "fd00:231:1::a")
    );

    // exec runs in the pod's own namespace.
    let addrs = exec_stdout(
        &lab,
        "alpha/client",
        &["ip", "-o", "addr", "show", "dev", "eth0"],
    );
    assert!(
        addrs.contains("inet 10.231.1.11/24") && addrs.contains("inet6 fd00:231:1::b/64"),
        "{addrs}"
    );
    assert!(!addrs.contains("10.231.1.10"), "{addrs}");
    let routes = exec_stdout(&lab, "beta/squatter", &["ip", "route"]);
    assert!(
        routes.contains("default via 10.231.2.2 dev eth0"),
        "{routes}"
    );
    let failed = lab.exec("alpha/client", &["sh", "-c", "exit 3"]).unwrap();
    assert_eq!(failed.status.code(), Some(3));
    assert!(matches!(
        lab.exec("kube-system/node-agent", &["true"]),
        Err(NodeError::HostNetworkPod { .. })
    ));
    assert!(matches!(
        lab.exec("alpha/nobody", &["true"]),
        Err(NodeError::NoPod { .. })
    ));

    // Down: nothing of it is left.
    let names = record_names(&lab);
    let state_file = lab.state_file();
    lab.down().unwrap();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(ip_mentions(&names), Vec::<String>::new());
    assert!(!state_file.exists());
    assert_eq!(lab_names(), before);
    // Nothing listens on its addresses any more either: they are gone from the machine.
    assert!(TcpListener::bind(addr("10.231.1.1", 0)).is_err());
}

/// Not a test: the service process of `service_processes_outlive_their_handle`, run by the lab
/// as `<this test binary> serve_helper --exact --ignored ... LISTEN...`, following the
/// `ServiceCommand` contract (bind, print `ready`, serve until SIGTERM).
#[test]
#[ignore = "a helper process, started by another test"]
fn serve_helper() {
    let listen: Vec<Listen> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    if listen.is_empty() {
        return; // run by hand (`--ignored`): nothing to serve
    }
    let _servers = EchoServers::start(&listen).expect("binding");
    println!("ready");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn helper_command() -> ServiceCommand {
    ServiceCommand {
        program: std::env::current_exe().unwrap(),
        args: [
            "serve_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ]
        .map(Into::into)
        .to_vec(),
    }
}

fn netns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn service_processes_outlive_their_handle() {
    let _turn = serial();
    let before = lab_names();
    let name = lab_name("proc");
    let lab = up(2, &name, Services::Processes(helper_command()));
    let procs = lab.record().service_processes.clone();
    let pods: Vec<&str> = procs.iter().map(|p| p.pod.as_str()).collect();
    assert_eq!(pods, ["alpha/server", "beta/web"]);
    for p in &procs {
        // Each runs inside its pod's namespace.
        let netns = lab.netns(&p.pod).unwrap();
        assert_eq!(
            netns_inode(&format!("/proc/{}/ns/net", p.pid)),
            netns_inode(&format!("/run/netns/{netns}"))
        );
    }
    // The handle lets go; the lab and its services stay.
    let record = lab.keep();
    let lab = Lab::open(&name, netwarden_lab::DEFAULT_STATE_DIR).unwrap();
    assert_eq!(lab.record(), &record);
    assert_eq!(
        udp_echo(&lab, "alpha/client", addr("fd00:232:1::a", 7001), b"u").unwrap(),
        b"u"
    );
    assert_eq!(
        tcp_echo(&lab, "alpha/client", addr("10.232.2.20", 8080), b"t").unwrap(),
        b"t"
    );
    // Dropping an opened handle removes nothing.
    drop(lab);
    assert!(Path::new(&format!("/proc/{}", procs[0].pid)).exists());

    // Down from a second handle, made from the state file alone.
    let lab = Lab::open(&name, netwarden_lab::DEFAULT_STATE_DIR).unwrap();
    let names = record_names(&lab);
    lab.down().unwrap();
    for p in &procs {
        assert!(
            !Path::new(&format!("/proc/{}", p.pid)).exists(),
            "process {} left",
            p.pid
        );
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(ip_mentions(&names), Vec::<String>::new());
    assert_eq!(lab_names(), before);
    assert!(matches!(
        Lab::open(&name, netwarden_lab::DEFAULT_STATE_DIR),
        Err(NodeError::NotFound { .. })
    ));
}

#[test]
fn two_labs_coexist_and_a_clash_is_refused() {
    let _turn = serial();
    let before = lab_names();
    let (name3, name4) = (lab_name("a"), lab_name("b"));
    let a = up(3, &name3, Services::Threads);
    let b = up(4, &name4, Services::Threads);
    let (ra, rb) = (a.record(), b.record());
    assert_ne!(ra.tag, rb.tag);
    let names_a: BTreeSet<String> = record_names(&a).into_iter().collect();
    let names_b: BTreeSet<String> = record_names(&b).into_iter().collect();
    assert!(names_a.is_disjoint(&names_b));
    // Both work at once; the same pod name lives in each.
    assert_eq!(
        tcp_echo(&a, "alpha/client", addr("10.233.1.10", 7000), b"a").unwrap(),
        b"a"
    );
    assert_eq!(
        tcp_echo(&b, "alpha/client", addr("10.234.1.10", 7000), b"b").unwrap(),
        b"b"
    );
    // Labs are isolated from each other only by routing, not by namespaces: a's pod reaches b's
    // through the node. What matters here is that each lab's names and subnets are its own.
    let listed: Vec<String> = Lab::list(netwarden_lab::DEFAULT_STATE_DIR)
        .unwrap()
        .into_iter()
        .filter_map(Result::ok)
        .map(|r| r.name)
        .collect();
    assert!(listed.contains(&name3) && listed.contains(&name4));

    // A third lab on a's subnets is refused, naming a; a name in use is refused.
    let spec = LabSpec::from_yaml(&inventory(3)).unwrap();
    let err = Lab::up(
        &spec,
        LabOptions {
            name: Some(lab_name("c")),
            ..LabOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "pod subnet 10.233.1.0/24 is already in use on this machine: 10.233.1.0/24 dev nwb"
        ) && err.contains(&format!("(the bridge of lab {name3})")),
        "{err}"
    );
    let spec5 = LabSpec::from_yaml(&inventory(5)).unwrap();
    let err = Lab::up(
        &spec5,
        LabOptions {
            name: Some(name4.clone()),
            ..LabOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, NodeError::Exists { .. }), "{err}");
    // Neither refusal made anything.
    let mut now = lab_names();
    now.retain(|n| !names_a.contains(n) && !names_b.contains(n));
    assert_eq!(now, before);

    // Dropping the handles removes both.
    drop(a);
    drop(b);
    assert_eq!(lab_names(), before);
}

#[test]
fn a_failed_up_leaves_nothing() {
    let _turn = serial();
    let before = lab_names();
    let name = lab_name("fail");
    let spec = LabSpec::from_yaml(&inventory(6)).unwrap();
    // The service program does not exist: the pods are made, then the first service fails.
    let err = Lab::up(
        &spec,
        LabOptions {
            name: Some(name.clone()),
            services: Services::Processes(ServiceCommand {
                program: "/nonexistent/netwarden".into(),
                args: Vec::new(),
            }),
            ..LabOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("service for pod alpha/server: /nonexistent/netwarden: No such file"),
        "{err}"
    );
    assert_eq!(lab_names(), before);
    assert!(matches!(
        Lab::open(&name, netwarden_lab::DEFAULT_STATE_DIR),
        Err(NodeError::NotFound { .. })
    ));
    // A helper that exits without saying `ready` fails the same way, with its log in the error.
    let err = Lab::up(
        &spec,
        LabOptions {
            name: Some(name.clone()),
            services: Services::Processes(ServiceCommand {
                program: "sh".into(),
                args: ["-c", "echo cannot bind >&2; exit 4", "sh"]
                    .map(Into::into)
                    .to_vec(),
            }),
            ..LabOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("exited before it was ready (exit status: 4); its log: cannot bind"),
        "{err}"
    );
    assert_eq!(lab_names(), before);
}
