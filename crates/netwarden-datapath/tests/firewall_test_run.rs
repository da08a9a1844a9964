//! The XDP firewall program on crafted frames (BPF_PROG_TEST_RUN): each way a header can hide a
//! port, asserted down to the XDP action and the one counter the frame moves. Needs root.
//!
//! Every test runs whole inside its own network namespace with the rules on that namespace's `lo`
//! (interface 1 everywhere): test runs resolve the receiving interface, and XDP attaches, in the
//! calling thread's namespace, so the host's loopback is never touched and tests run in parallel.

mod frames;

use frames::*;
use netwarden_bpf::firewall_abi::FwEvent;
use netwarden_datapath::firewall::{
    self, ApplyOptions, Capacity, EventReader, Firewall, FirewallCounters, FirewallEvent,
    FirewallPaths, FirewallState,
};
use netwarden_lab::{unique_tag, Netns};
use netwarden_policy::firewall::{
    compile, load_yaml, select, CompiledFirewall, NodeIdentity, ProtectedService,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;
/// `lo` is interface 1 in every network namespace.
const LO: u32 = 1;

/// One object on `lo`: port and type rules for 10.1/16 and fd00::/64, a protocol-less Deny for
/// 10.2/16 and fd02::/64. No port here is a protected service except where a case says so.
const RULES: &str = r#"
apiVersion: netwarden.io/v1alpha1
kind: IngressNodeFirewall
metadata:
  name: tr
spec:
  interfaces: [lo]
  ingress:
  - sourceCIDRs: [10.1.0.0/16, fd00::/64]
    rules:
    - order: 10
      protocolConfig:
        protocol: TCP
        tcp:
          ports: "7000-7010"
      action: Deny
    - order: 20
      protocolConfig:
        protocol: UDP
        udp:
          ports: 9000
      action: Deny
    - order: 25
      protocolConfig:
        protocol: SCTP
        sctp:
          ports: 5000
      action: Deny
    - order: 30
      protocolConfig:
        protocol: ICMP
        icmp:
          icmpType: 8
      action: Deny
    - order: 31
      protocolConfig:
        protocol: ICMPv6
        icmpv6:
          icmpType: 128
      action: Deny
    - order: 40
      protocolConfig:
        protocol: UDP
      action: Allow
  - sourceCIDRs: [10.2.0.0/16, fd02::/64]
    rules:
    - order: 5
      action: Deny
"#;

/// Rules by source prefix (as compiled) and order.
type Rule = (&'static str, u32);
const A4: &str = "10.1.0.0/16";
const A6: &str = "fd00::/64";
const B4: &str = "10.2.0.0/16";
const B6: &str = "fd02::/64";

const SRC_A4: [u8; 4] = [10, 1, 0, 1];
const SRC_B4: [u8; 4] = [10, 2, 0, 1];
const SRC_OUT4: [u8; 4] = [10, 3, 0, 1];

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;
const GRE: u8 = 47;
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AH: u8 = 51;
const DST_OPTS: u8 = 60;

/// Ethernet + IPv4 header bytes in front of a transport header.
const V4_HEADERS: usize = 14 + 20;

fn compiled() -> CompiledFirewall {
    let loaded = load_yaml(RULES, "rules.yaml").expect("the test rules load");
    let node = NodeIdentity {
        name: "n".into(),
        labels: Default::default(),
    };
    let selected = select(&loaded.objects, &node);
    compile(&selected, &ProtectedService::defaults()).expect("the test rules compile")
}

/// What one run of a frame counts (and so whether it is reported).
#[derive(Debug, Clone, Copy)]
enum Counts {
    Allow(Rule),
    /// Denied by a rule: counted on it and reported as an event.
    Deny(Rule),
    /// Headers not walked: the region's unparsed decision (a Deny here), also counted as unparsed.
    UnparsedDeny(Rule),
    /// No rule's counters: `no_match_packets`, `failsafe_packets`, `always_pass_packets`, or
    /// `unparsed_packets` when there is no IP header to judge by.
    Global(&'static str),
}

use Counts::*;

struct Case {
    what: &'static str,
    frame: Vec<u8>,
    action: i32,
    counts: Counts,
}

fn v4(src: [u8; 4], proto: u8, l4: Vec<u8>) -> Vec<u8> {
    cat(&[eth(&[], ETH_IP), ipv4_from(src, proto, 0, 0, l4.len()), l4])
}

fn v6_frame(src: [u8; 16], proto: u8, l4: Vec<u8>) -> Vec<u8> {
    cat(&[eth(&[], ETH_IPV6), ipv6_from(src, proto, l4.len()), l4])
}

fn tcp4(src: [u8; 4], dport: u16) -> Vec<u8> {
    v4(src, TCP, tcp(40000, dport, 0x02))
}

fn tcp6(src: [u8; 16], dport: u16) -> Vec<u8> {
    v6_frame(src, TCP, tcp(40000, dport, 0x02))
}

/// IPv6 from fd00::1 with `n` extension headers (hop-by-hop, then destination options) before TCP.
fn ext_chain(n: usize, dport: u16) -> Vec<u8> {
    let mut exts: Vec<Vec<u8>> = (1..n).map(|_| ext8(DST_OPTS)).collect();
    exts.push(ext8(TCP));
    let l4 = tcp(40000, dport, 0x02);
    let payload = exts.len() * 8 + l4.len();
    let mut parts = vec![eth(&[], ETH_IPV6), ipv6(HOP_BY_HOP, payload)];
    parts.extend(exts);
    parts.push(l4);
    cat(&parts)
}

/// `frame` with its IPv4 header length field (in 4-byte words) replaced.
fn with_ihl(mut frame: Vec<u8>, ihl: u8) -> Vec<u8> {
    frame[14] = 0x40 | ihl;
    frame
}

fn cases() -> Vec<Case> {
    let c = |what, frame, action, counts| Case {
        what,
        frame,
        action,
        counts,
    };
    let a6 = v6(0xfd00, 1);
    let b6 = v6(0xfd02, 1);
    let no_match = Global("no_match_packets");
    let unparsed = Global("unparsed_packets");
    vec![
        // Ports and ranges.
        c("TCP 7005", tcp4(SRC_A4, 7005), XDP_DROP, Deny((A4, 10))),
        c(
            "TCP 7000: range start",
            tcp4(SRC_A4, 7000),
            XDP_DROP,
            Deny((A4, 10)),
        ),
        c(
            "TCP 7010: range end",
            tcp4(SRC_A4, 7010),
            XDP_DROP,
            Deny((A4, 10)),
        ),
        c(
            "TCP 6999: before the range",
            tcp4(SRC_A4, 6999),
            XDP_PASS,
            no_match,
        ),
        c(
            "TCP 7011: past the range",
            tcp4(SRC_A4, 7011),
            XDP_PASS,
            no_match,
        ),
        c(
            "UDP 9000",
            v4(SRC_A4, UDP, udp(40000, 9000, 20)),
            XDP_DROP,
            Deny((A4, 20)),
        ),
        c(
            "UDP 9001: the protocol-wide Allow",
            v4(SRC_A4, UDP, udp(40000, 9001, 20)),
            XDP_PASS,
            Allow((A4, 40)),
        ),
        c(
            "SCTP 5000",
            v4(SRC_A4, SCTP, sctp(40000, 5000)),
            XDP_DROP,
            Deny((A4, 25)),
        ),
        c(
            "SCTP 5001",
            v4(SRC_A4, SCTP, sctp(40000, 5001)),
            XDP_PASS,
            no_match,
        ),
        // Where the IPv4 transport header starts.
        c(
            "IPv4 with 40 bytes of options, TCP 7005",
            cat(&[
                eth(&[], ETH_IP),
                ipv4(TCP, 40, 0, 20),
                tcp(40000, 7005, 0x02),
            ]),
            XDP_DROP,
            Deny((A4, 10)),
        ),
        c(
            "IPv4 header length 4 words",
            with_ihl(tcp4(SRC_A4, 7011), 4),
            XDP_DROP,
            unparsed,
        ),
        c(
            "IPv4 header length past the frame",
            with_ihl(tcp4(SRC_A4, 7011), 15),
            XDP_DROP,
            unparsed,
        ),
        c("Ethernet header only", eth(&[], ETH_IP), XDP_DROP, unparsed),
        // VLAN tags.
        c(
            "802.1Q, TCP 7005",
            cat(&[
                eth(&[ETH_VLAN], ETH_IP),
                ipv4(TCP, 0, 0, 20),
                tcp(40000, 7005, 0x02),
            ]),
            XDP_DROP,
            Deny((A4, 10)),
        ),
        c(
            "802.1ad + 802.1Q, TCP 7005",
            cat(&[
                eth(&[ETH_QINQ, ETH_VLAN], ETH_IP),
                ipv4(TCP, 0, 0, 20),
                tcp(40000, 7005, 0x02),
            ]),
            XDP_DROP,
            Deny((A4, 10)),
        ),
        c(
            "three tags: no IP header to judge by",
            cat(&[
                eth(&[ETH_QINQ, ETH_VLAN, ETH_VLAN], ETH_IP),
                ipv4(TCP, 0, 0, 20),
                tcp(40000, 7011, 0x02),
            ]),
            XDP_DROP,
            unparsed,
        ),
        c(
            "VLAN tag cut short",
            cat(&[eth(&[], ETH_VLAN), vec![0, 100]]),
            XDP_DROP,
            unparsed,
        ),
        // IPv4 fragments: only the first carries ports; the others get the table's fragment
        // decision (the protocol's first rule without a port).
        c(
            "IPv4 non-first fragment of UDP 9000",
            cat(&[
                eth(&[], ETH_IP),
                ipv4(UDP, 0, 185, 28),
                udp(40000, 9000, 20),
            ]),
            XDP_PASS,
            Allow((A4, 40)),
        ),
        c(
            "IPv4 first fragment (MF) of UDP 9000",
            cat(&[
                eth(&[], ETH_IP),
                ipv4(UDP, 0, 0x2000, 28),
                udp(40000, 9000, 20),
            ]),
            XDP_DROP,
            Deny((A4, 20)),
        ),
        c(
            "IPv4 non-first fragment of TCP 7005: no port-free TCP rule",
            cat(&[
                eth(&[], ETH_IP),
                ipv4(TCP, 0, 185, 20),
                tcp(40000, 7005, 0x02),
            ]),
            XDP_PASS,
            no_match,
        ),
        c(
            "IPv4 non-first fragment under a protocol-less Deny",
            cat(&[
                eth(&[], ETH_IP),
                ipv4_from(SRC_B4, UDP, 0, 185, 28),
                udp(40000, 9001, 20),
            ]),
            XDP_DROP,
            Deny((B4, 5)),
        ),
        // Transport headers cut short: the fragment decision too.
        c(
            "TCP cut short",
            cut(tcp4(SRC_A4, 7005), V4_HEADERS + 2),
            XDP_PASS,
            no_match,
        ),
        c(
            "UDP cut short",
            cut(v4(SRC_A4, UDP, udp(40000, 9000, 20)), V4_HEADERS + 2),
            XDP_PASS,
            Allow((A4, 40)),
        ),
        c(
            "TCP cut short under a protocol-less Deny",
            cut(tcp4(SRC_B4, 22), V4_HEADERS + 2),
            XDP_DROP,
            Deny((B4, 5)),
        ),
        c(
            "ICMP cut short",
            cut(v4(SRC_A4, ICMP, icmp(8, 0)), V4_HEADERS + 1),
            XDP_PASS,
            no_match,
        ),
        // IPv6 and its extension headers.
        c("IPv6 TCP 7005", tcp6(a6, 7005), XDP_DROP, Deny((A6, 10))),
        c("IPv6 TCP 7011", tcp6(a6, 7011), XDP_PASS, no_match),
        c(
            "IPv6 hop-by-hop + destination options, TCP 7005",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6(HOP_BY_HOP, 36),
                ext8(DST_OPTS),
                ext8(TCP),
                tcp(40000, 7005, 0x02),
            ]),
            XDP_DROP,
            Deny((A6, 10)),
        ),
        c(
            "IPv6 routing + AH + first fragment, TCP 7005",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6(ROUTING, 8 + 12 + 8 + 20),
                ext8(AH),
                ah(FRAGMENT),
                frag6(TCP, 0, true),
                tcp(40000, 7005, 0x02),
            ]),
            XDP_DROP,
            Deny((A6, 10)),
        ),
        c(
            "IPv6 8 extension headers, TCP 7005",
            ext_chain(8, 7005),
            XDP_DROP,
            Deny((A6, 10)),
        ),
        c(
            "IPv6 8 extension headers, TCP 7011",
            ext_chain(8, 7011),
            XDP_PASS,
            no_match,
        ),
        // The region has no protocol-less rule: its first Deny (order 10) decides.
        c(
            "IPv6 9 extension headers",
            ext_chain(9, 7011),
            XDP_DROP,
            UnparsedDeny((A6, 10)),
        ),
        c(
            "IPv6 extension header cut short",
            cat(&[eth(&[], ETH_IPV6), ipv6(HOP_BY_HOP, 8), vec![TCP]]),
            XDP_DROP,
            UnparsedDeny((A6, 10)),
        ),
        c(
            "IPv6 non-first fragment of UDP 9000",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6(FRAGMENT, 36),
                frag6(UDP, 100, false),
                udp(40000, 9000, 20),
            ]),
            XDP_PASS,
            Allow((A6, 40)),
        ),
        c(
            "IPv6 non-first fragment under a protocol-less Deny",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6_from(b6, FRAGMENT, 28),
                frag6(TCP, 100, false),
                tcp(40000, 22, 0x02),
            ]),
            XDP_DROP,
            Deny((B6, 5)),
        ),
        // ICMP types.
        c(
            "ICMP echo request",
            v4(SRC_A4, ICMP, icmp(8, 0)),
            XDP_DROP,
            Deny((A4, 30)),
        ),
        c(
            "ICMP echo reply",
            v4(SRC_A4, ICMP, icmp(0, 0)),
            XDP_PASS,
            no_match,
        ),
        c(
            "ICMPv6 echo request",
            v6_frame(a6, ICMPV6, icmp(128, 0)),
            XDP_DROP,
            Deny((A6, 31)),
        ),
        c(
            "ICMPv6 echo reply",
            v6_frame(a6, ICMPV6, icmp(129, 0)),
            XDP_PASS,
            no_match,
        ),
        c(
            "ICMPv6 neighbour solicitation under a protocol-less Deny",
            v6_frame(b6, ICMPV6, neighbour_solicitation()),
            XDP_PASS,
            Global("always_pass_packets"),
        ),
        c(
            "ICMPv6 echo request under a protocol-less Deny",
            v6_frame(b6, ICMPV6, icmp(128, 0)),
            XDP_DROP,
            Deny((B6, 5)),
        ),
        c(
            "IPv4 protocol 58 is not neighbour discovery",
            v4(SRC_B4, ICMPV6, neighbour_solicitation()),
            XDP_DROP,
            Deny((B4, 5)),
        ),
        // Not IP.
        c(
            "ARP",
            cat(&[eth(&[], 0x0806), arp()]),
            XDP_PASS,
            Global("always_pass_packets"),
        ),
        c(
            "ARP behind an 802.1Q tag",
            cat(&[eth(&[ETH_VLAN], 0x0806), arp()]),
            XDP_PASS,
            Global("always_pass_packets"),
        ),
        c(
            "LLDP",
            cat(&[eth(&[], 0x88cc), vec![0; 32]]),
            XDP_PASS,
            Global("always_pass_packets"),
        ),
        // Protocols without a table: the region's `other` decision.
        c(
            "GRE under a protocol-less Deny",
            v4(SRC_B4, GRE, gre()),
            XDP_DROP,
            Deny((B4, 5)),
        ),
        c(
            "GRE from 10.1.0.1",
            v4(SRC_A4, GRE, gre()),
            XDP_PASS,
            no_match,
        ),
        // Sources and the fail-safe.
        c(
            "source in no CIDR",
            tcp4(SRC_OUT4, 7005),
            XDP_PASS,
            no_match,
        ),
        c(
            "IPv6 source in no CIDR",
            tcp6(v6(0xfd01, 1), 7005),
            XDP_PASS,
            no_match,
        ),
        c(
            "TCP 22 under a protocol-less Deny",
            tcp4(SRC_B4, 22),
            XDP_PASS,
            Global("failsafe_packets"),
        ),
        c(
            "TCP 23 under a protocol-less Deny",
            tcp4(SRC_B4, 23),
            XDP_DROP,
            Deny((B4, 5)),
        ),
        c(
            "UDP 67 under a protocol-less Deny",
            v4(SRC_B4, UDP, udp(68, 67, 20)),
            XDP_PASS,
            Global("failsafe_packets"),
        ),
        c(
            "IPv6 TCP 6443 under a protocol-less Deny",
            tcp6(b6, 6443),
            XDP_PASS,
            Global("failsafe_packets"),
        ),
    ]
}

/// Removes a test's pinned objects and state however the test ends.
struct Cleanup(FirewallPaths);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = firewall::detach(&self.0);
        let _ = std::fs::remove_dir_all(&self.0.pin_dir);
        let _ = std::fs::remove_dir_all(&self.0.state_dir);
    }
}

/// A firewall enforcing [`RULES`] on `lo` of the namespace the test runs in.
struct Lab {
    fw: Firewall,
    paths: FirewallPaths,
    compiled: CompiledFirewall,
    events: EventReader,
}

impl Lab {
    fn apply(&mut self, audit: bool) {
        let opts = ApplyOptions {
            audit,
            // Above what any test sends: every deny is reported.
            events_per_sec: 10_000,
            source: "firewall_test_run".into(),
        };
        let report = self.fw.apply(&self.compiled, &opts).expect("apply");
        assert_eq!(
            report.attached.keys().collect::<Vec<_>>(),
            ["lo"],
            "{report:?}"
        );
    }

    fn state(&self) -> FirewallState {
        FirewallState::read(&self.paths.state_dir)
            .expect("state readable")
            .expect("state written by apply")
    }

    fn counters(&self) -> FirewallCounters {
        FirewallCounters::read(&self.paths, &self.state()).expect("counters")
    }

    fn slot(&self, (cidr, order): Rule) -> u32 {
        let state = self.state();
        let rule = state
            .rules
            .iter()
            .find(|r| r.cidr == cidr && r.order == order);
        rule.unwrap_or_else(|| panic!("no rule {cidr} order {order}"))
            .slot
    }

    /// The XDP action for `frame` arriving on `lo`, run `repeat` times.
    fn run(&mut self, frame: &[u8], repeat: u32) -> i32 {
        self.fw
            .test_run(frame, LO, repeat)
            .expect("test run")
            .retval
    }

    /// Every event in the ring (the program submits before the test run returns).
    fn events(&mut self) -> Vec<FwEvent> {
        self.events.poll(Duration::ZERO)
    }

    fn decode(&self, e: &FwEvent) -> FirewallEvent {
        let names = HashMap::from([(LO, "lo".to_string())]);
        FirewallEvent::decode(e, Some(&self.state()), &names)
    }
}

/// Runs `test` in a fresh network namespace with [`RULES`] applied to its `lo`.
fn in_lab<T: Send + 'static>(test: impl FnOnce(&mut Lab) -> T + Send + 'static) -> T {
    let tag = unique_tag();
    let ns = Netns::create(format!("nwtr{tag}")).expect("network namespace (run as root)");
    ns.run(move || {
        let paths = FirewallPaths {
            pin_dir: format!("/sys/fs/bpf/nwtr-{tag}").into(),
            state_dir: std::env::temp_dir().join(format!("nwtr-{tag}")),
        };
        let _cleanup = Cleanup(paths.clone());
        // Small maps: a dozen rules, and per-CPU arrays are allocated in full.
        let capacity = Capacity {
            rules: 64,
            prefixes: 64,
            tables: 64,
        };
        let fw = Firewall::open(&paths, capacity).expect("firewall loads (run as root)");
        let events = EventReader::open(&paths).expect("event ring");
        let mut lab = Lab {
            fw,
            paths,
            compiled: compiled(),
            events,
        };
        lab.apply(false);
        test(&mut lab)
    })
    .expect("enter the namespace")
}

/// `counters` after `n` packets of `len` bytes counted as `counts`.
fn expect(
    lab: &Lab,
    mut counters: FirewallCounters,
    counts: Counts,
    n: u64,
    len: u64,
) -> FirewallCounters {
    match counts {
        Allow(r) => {
            let c = counters.rules.get_mut(&lab.slot(r)).expect("every rule");
            c.allow_packets += n;
            c.allow_bytes += n * len;
        }
        Deny(r) | UnparsedDeny(r) => {
            let c = counters.rules.get_mut(&lab.slot(r)).expect("every rule");
            c.deny_packets += n;
            c.deny_bytes += n * len;
        }
        Global(_) => {}
    }
    let global = match counts {
        UnparsedDeny(_) => Some("unparsed_packets"),
        Global(name) => Some(name),
        _ => None,
    };
    if let Some(name) = global {
        *counters.global.get_mut(name).expect("a global counter") += n;
    }
    counters
}

/// The counters that differ, one per line.
fn diff(got: &FirewallCounters, want: &FirewallCounters) -> String {
    let mut out = String::new();
    for (slot, w) in &want.rules {
        let g = got.rules.get(slot);
        if g != Some(w) {
            out.push_str(&format!("\n  slot {slot}: got {g:?}, want {w:?}"));
        }
    }
    for (name, w) in &want.global {
        let g = got.global.get(name);
        if g != Some(w) {
            out.push_str(&format!("\n  {name}: got {g:?}, want {w}"));
        }
    }
    out
}

#[test]
fn every_frame_gets_its_action_and_moves_exactly_its_counter() {
    let failures = in_lab(|lab| {
        let mut failures = Vec::new();
        for case in cases() {
            let before = lab.counters();
            let action = lab.run(&case.frame, 1);
            if action != case.action {
                failures.push(format!(
                    "{}: action {action}, want {}",
                    case.what, case.action
                ));
            }
            let len = case.frame.len() as u64;
            let want = expect(lab, before, case.counts, 1, len);
            let got = lab.counters();
            if got != want {
                failures.push(format!("{}: counters{}", case.what, diff(&got, &want)));
            }
            let events = lab.events();
            let want_event = match case.counts {
                Deny(r) | UnparsedDeny(r) => Some(lab.slot(r)),
                _ => None,
            };
            let got_event = match events.as_slice() {
                [] => None,
                [e] if (e.pkt_len, e.ifindex, e.verdict, e.audit) == (len as u32, LO, 2, 0) => {
                    Some(e.rule_slot)
                }
                _ => {
                    failures.push(format!("{}: events {events:?}", case.what));
                    continue;
                }
            };
            if got_event != want_event {
                failures.push(format!(
                    "{}: event for slot {got_event:?}, want {want_event:?}",
                    case.what
                ));
            }
        }
        failures
    });
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn repeated_runs_count_every_packet_and_events_name_the_packet() {
    in_lab(|lab| {
        let frame = v4(SRC_A4, UDP, udp(40000, 9000, 20));
        let len = frame.len() as u64;
        let before = lab.counters();
        assert_eq!(lab.run(&frame, 3), XDP_DROP);
        let slot = lab.slot((A4, 20));
        let got = lab.counters().rules[&slot];
        assert_eq!(
            (got.deny_packets, got.deny_bytes, got.allow_packets),
            (3, 3 * len, 0)
        );
        assert_eq!(lab.counters(), expect(lab, before, Deny((A4, 20)), 3, len));
        let events = lab.events();
        assert_eq!(events.len(), 3, "{events:?}");
        let e = &events[0];
        assert_eq!(
            (
                e.rule_slot,
                e.family,
                e.proto,
                e.src_port,
                e.dst_port,
                e.flags
            ),
            (slot, 4, UDP, 40000, 9000, 0)
        );
        assert_eq!(
            (&e.src_addr[..4], &e.dst_addr[..4]),
            (&[10, 1, 0, 1][..], &[10, 1, 0, 2][..])
        );

        // Decoded as `fw events` shows them.
        let addr = |s: &str| s.parse::<IpAddr>().unwrap();
        let event = |rule: Rule, frame: &[u8], src: &str, protocol: &str| FirewallEvent {
            monotonic_ns: 0,
            action: "Drop",
            rule_id: Some(rule.1),
            object: Some("tr".into()),
            cidr: Some(rule.0.into()),
            interface: "lo".into(),
            len: frame.len() as u32,
            src_addr: addr(src),
            dst_addr: addr(if src.contains(':') {
                "fd00::2"
            } else {
                "10.1.0.2"
            }),
            protocol: protocol.into(),
            src_port: None,
            dst_port: None,
            icmp_type: None,
            icmp_code: None,
            fragment: false,
            unparsed: false,
            truncated: false,
            suppressed: 0,
        };
        let mut cases: Vec<(&str, Vec<u8>, FirewallEvent)> = Vec::new();
        let f = tcp6(v6(0xfd00, 1), 7005);
        let mut ev = event((A6, 10), &f, "fd00::1", "tcp");
        (ev.src_port, ev.dst_port) = (Some(40000), Some(7005));
        cases.push(("IPv6 TCP", f, ev));
        let f = v4(SRC_A4, ICMP, icmp(8, 0));
        let mut ev = event((A4, 30), &f, "10.1.0.1", "icmpv4");
        (ev.icmp_type, ev.icmp_code) = (Some(8), Some(0));
        cases.push(("ICMP echo request", f, ev));
        let f = ext_chain(9, 7011);
        let mut ev = event((A6, 10), &f, "fd00::1", "60");
        ev.unparsed = true;
        cases.push(("9 extension headers", f, ev));
        let f = cat(&[eth(&[], ETH_IPV6), ipv6(HOP_BY_HOP, 8), vec![TCP]]);
        // The protocol is the header that could not be read: hop-by-hop.
        let mut ev = event((A6, 10), &f, "fd00::1", "0");
        ev.unparsed = true;
        cases.push(("extension header cut short", f, ev));
        let f = cat(&[
            eth(&[], ETH_IP),
            ipv4_from(SRC_B4, UDP, 0, 185, 28),
            udp(40000, 9001, 20),
        ]);
        let mut ev = event((B4, 5), &f, "10.2.0.1", "udp");
        ev.fragment = true;
        cases.push(("non-first fragment", f, ev));
        let f = cut(tcp4(SRC_B4, 7005), V4_HEADERS + 2);
        let mut ev = event((B4, 5), &f, "10.2.0.1", "tcp");
        ev.truncated = true;
        cases.push(("TCP cut short", f, ev));
        for (what, frame, mut want) in cases {
            assert_eq!(lab.run(&frame, 1), XDP_DROP, "{what}");
            let events = lab.events();
            assert_eq!(events.len(), 1, "{what}: {events:?}");
            let got = lab.decode(&events[0]);
            want.monotonic_ns = got.monotonic_ns;
            assert_eq!(got, want, "{what}");
        }
    });
}

#[test]
fn audit_mode_passes_denied_packets_but_counts_and_reports_them() {
    in_lab(|lab| {
        let udp9000 = v4(SRC_A4, UDP, udp(40000, 9000, 20));
        let three_tags = cat(&[
            eth(&[ETH_QINQ, ETH_VLAN, ETH_VLAN], ETH_IP),
            ipv4(TCP, 0, 0, 20),
            tcp(40000, 7005, 0x02),
        ]);
        let nine_exts = ext_chain(9, 7011);
        let udp9001 = v4(SRC_A4, UDP, udp(40000, 9001, 20));
        let table: [(&str, &Vec<u8>, i32, Counts); 4] = [
            ("UDP 9000", &udp9000, XDP_DROP, Deny((A4, 20))),
            (
                "three tags",
                &three_tags,
                XDP_DROP,
                Global("unparsed_packets"),
            ),
            (
                "9 extension headers",
                &nine_exts,
                XDP_DROP,
                UnparsedDeny((A6, 10)),
            ),
            ("UDP 9001", &udp9001, XDP_PASS, Allow((A4, 40))),
        ];
        let slots_before = lab.state().slots();
        for (audit, pass_all) in [(false, false), (true, true), (false, false)] {
            if audit != lab.state().audit {
                lab.apply(audit);
            }
            assert_eq!(
                lab.state().slots(),
                slots_before,
                "rules keep their counters"
            );
            for (what, frame, action, counts) in &table {
                let before = lab.counters();
                let want_action = if pass_all { XDP_PASS } else { *action };
                assert_eq!(lab.run(frame, 1), want_action, "{what}, audit {audit}");
                let len = frame.len() as u64;
                assert_eq!(
                    lab.counters(),
                    expect(lab, before, *counts, 1, len),
                    "{what}, audit {audit}"
                );
                let events = lab.events();
                match counts {
                    Deny(_) | UnparsedDeny(_) => {
                        assert_eq!(events.len(), 1, "{what}, audit {audit}: {events:?}");
                        let e = lab.decode(&events[0]);
                        assert_eq!(e.action, if audit { "Audit" } else { "Drop" }, "{what}");
                    }
                    _ => assert!(events.is_empty(), "{what}, audit {audit}: {events:?}"),
                }
            }
        }
    });
}
