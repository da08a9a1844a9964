//! The capture program's parser on crafted frames (BPF_PROG_TEST_RUN): encapsulations and headers
//! real traffic in a test rarely produces. Needs root.

use netwarden_datapath::interfaces::InterfaceSelector;
use netwarden_datapath::{Capture, CaptureConfig};
use netwarden_model::FlowRecord;
use regex::Regex;

mod frames;

use frames::*;

struct Expect {
    what: &'static str,
    frame: Vec<u8>,
    /// (proto, src port, dst port) of the one record, or None for "not a flow".
    flow: Option<(u8, Option<u16>, Option<u16>)>,
    /// TCP flags expected on the record.
    flags: Option<u16>,
}

fn cases() -> Vec<Expect> {
    let e = |what, frame, flow, flags| Expect {
        what,
        frame,
        flow,
        flags,
    };
    vec![
        e(
            "plain IPv4 UDP",
            cat(&[eth(&[], ETH_IP), ipv4(17, 0, 0, 28), udp(1000, 53, 20)]),
            Some((17, Some(1000), Some(53))),
            None,
        ),
        e(
            "802.1Q IPv4 UDP",
            cat(&[
                eth(&[ETH_VLAN], ETH_IP),
                ipv4(17, 0, 0, 28),
                udp(1001, 54, 20),
            ]),
            Some((17, Some(1001), Some(54))),
            None,
        ),
        e(
            "802.1ad+802.1Q IPv4 TCP",
            cat(&[
                eth(&[ETH_QINQ, ETH_VLAN], ETH_IP),
                ipv4(6, 0, 0, 20),
                tcp(1002, 80, 0x02),
            ]),
            Some((6, Some(1002), Some(80))),
            Some(0x02),
        ),
        e(
            "IPv4 with 12 bytes of options",
            cat(&[eth(&[], ETH_IP), ipv4(17, 12, 0, 28), udp(1003, 55, 20)]),
            Some((17, Some(1003), Some(55))),
            None,
        ),
        e(
            "IPv4 non-first fragment: payload is not read as ports",
            cat(&[eth(&[], ETH_IP), ipv4(17, 0, 185, 28), udp(1004, 56, 20)]),
            Some((17, Some(0), Some(0))),
            None,
        ),
        e(
            "IPv4 first fragment (MF) has ports",
            cat(&[eth(&[], ETH_IP), ipv4(17, 0, 0x2000, 28), udp(1005, 57, 20)]),
            Some((17, Some(1005), Some(57))),
            None,
        ),
        e(
            "IPv6 hop-by-hop + destination options + TCP",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6(0, 36),
                ext8(60),
                ext8(6),
                tcp(1006, 443, 0x12),
            ]),
            Some((6, Some(1006), Some(443))),
            Some(0x112),
        ),
        e(
            "IPv6 first fragment + UDP",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6(44, 36),
                frag6(17, 0, true),
                udp(1007, 58, 20),
            ]),
            Some((17, Some(1007), Some(58))),
            None,
        ),
        e(
            "IPv6 non-first fragment",
            cat(&[
                eth(&[], ETH_IPV6),
                ipv6(44, 36),
                frag6(17, 100, false),
                udp(1008, 59, 20),
            ]),
            Some((17, Some(0), Some(0))),
            None,
        ),
        e(
            "SCTP ports",
            cat(&[eth(&[], ETH_IP), ipv4(132, 0, 0, 12), udp(1009, 38412, 4)]),
            Some((132, Some(1009), Some(38412))),
            None,
        ),
        e(
            "GRE keyed by protocol number",
            cat(&[eth(&[], ETH_IP), ipv4(47, 0, 0, 8), vec![0u8; 8]]),
            Some((47, None, None)),
            None,
        ),
        e(
            "ARP is not a flow",
            cat(&[eth(&[], 0x0806), vec![0u8; 28]]),
            None,
            None,
        ),
        // (The kernel itself refuses test frames shorter than an IP header, so truncation is
        // exercised where only our parser can catch it.)
        e(
            "truncated VLAN tag",
            cat(&[eth(&[], ETH_VLAN), vec![0, 100]]),
            None,
            None,
        ),
        e(
            "truncated IPv6 extension header",
            cat(&[eth(&[], ETH_IPV6), ipv6(0, 8), vec![6]]),
            None,
            None,
        ),
        e(
            "truncated TCP header",
            cat(&[
                eth(&[], ETH_IP),
                ipv4(6, 0, 0, 20),
                tcp(1, 2, 0)[..10].to_vec(),
            ]),
            None,
            None,
        ),
    ]
}

#[test]
fn parser_table() {
    let cfg = CaptureConfig {
        // Attach to nothing: frames come from BPF_PROG_TEST_RUN only.
        interfaces: InterfaceSelector::new(Some(Regex::new("^$").unwrap()), None),
        drops_enabled: false,
        ..Default::default()
    };
    let mut capture = Capture::start(&cfg).expect("capture starts (run as root)");
    let mut truncated = 0;
    for case in cases() {
        let run = capture
            .test_run(false, &case.frame, 1)
            .unwrap_or_else(|e| panic!("{}: {e}", case.what));
        assert_eq!(
            run.retval, -1,
            "{}: observer must return TC_ACT_UNSPEC",
            case.what
        );
        let mut recs: Vec<FlowRecord> = Vec::new();
        capture.evict(|r| recs.push(r)).unwrap();
        match case.flow {
            None => {
                assert!(recs.is_empty(), "{}: {recs:?}", case.what);
                if case.what.starts_with("truncated") {
                    truncated += 1;
                }
            }
            Some((proto, sport, dport)) => {
                assert_eq!(recs.len(), 1, "{}: {recs:?}", case.what);
                let r = &recs[0];
                assert_eq!(
                    (r.proto, r.src_port, r.dst_port),
                    (proto, sport, dport),
                    "{}",
                    case.what
                );
                assert_eq!(
                    (r.packets, r.bytes),
                    (1, case.frame.len() as u64),
                    "{}",
                    case.what
                );
                assert_eq!(r.flags, case.flags, "{}", case.what);
                assert_eq!(r.interfaces, vec!["lo".to_string()], "{}", case.what);
            }
        }
    }
    assert_eq!(capture.loss_counters().parse_errors, truncated);
}

#[test]
fn dscp_and_macs_come_from_the_frame() {
    let cfg = CaptureConfig {
        interfaces: InterfaceSelector::new(Some(Regex::new("^$").unwrap()), None),
        drops_enabled: false,
        ..Default::default()
    };
    let mut capture = Capture::start(&cfg).unwrap();
    let frame = cat(&[eth(&[], ETH_IP), ipv4(17, 0, 0, 28), udp(5, 6, 20)]);
    capture.test_run(true, &frame, 3).unwrap();
    let mut recs = Vec::new();
    capture.evict(|r| recs.push(r)).unwrap();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    // TOS 0xb8 is DSCP 46 (EF).
    assert_eq!((r.dscp, r.packets), (46, 3));
    assert_eq!(
        (r.src_mac.as_deref(), r.dst_mac.as_deref()),
        (Some("02:00:00:00:00:AA"), Some("02:00:00:00:00:BB"))
    );
    assert_eq!(r.if_directions, vec![netwarden_model::Direction::Egress]);
}
