//! Every problem the loader reports, with its exact one-line message.

mod common;

use common::{doc, docs, load_errors, SOURCE};
use netwarden_policy::firewall::load_yaml;

/// A valid entry, to wrap single bad fields in.
const ENTRY: &str = "\
ingress:
- sourceCIDRs: [10.0.0.0/8]
  rules:
  - order: 10
    action: Allow";

/// A spec with interface eth0 and one entry with one rule made of `rule` (indented from column 0).
fn with_rule(rule: &str) -> String {
    let rule: String = rule
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("  - {l}\n")
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    doc(
        "fw-1",
        &format!("interfaces: [eth0]\ningress:\n- sourceCIDRs: [10.0.0.0/8]\n  rules:\n{rule}"),
    )
}

fn prefix(location: &str) -> String {
    format!("{SOURCE}: IngressNodeFirewall fw-1: {location}")
}

#[test]
fn spec_field_errors() {
    let cases: &[(&str, String, &str)] = &[
        (
            "spec missing",
            "apiVersion: netwarden.io/v1alpha1\nkind: IngressNodeFirewall\nmetadata: {name: fw-1}\n"
                .to_string(),
            "rules.yaml: IngressNodeFirewall fw-1: spec: missing",
        ),
        (
            "name missing",
            "apiVersion: netwarden.io/v1alpha1\nkind: IngressNodeFirewall\nmetadata: {}\n\
             spec: {interfaces: [eth0]}\n"
                .to_string(),
            "rules.yaml: IngressNodeFirewall in document 0: metadata: name: missing",
        ),
        (
            "spec not a mapping",
            "apiVersion: netwarden.io/v1alpha1\nkind: IngressNodeFirewall\nmetadata: {name: fw-1}\n\
             spec: [eth0]\n"
                .to_string(),
            "rules.yaml: IngressNodeFirewall fw-1: spec: expected a mapping, found a list",
        ),
        (
            "unknown spec field",
            doc("fw-1", &format!("interfaces: [eth0]\negress: []\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec.egress: unknown field (expected one of: \
             nodeSelector, interfaces, ingress)",
        ),
        (
            "interfaces missing",
            doc("fw-1", ENTRY),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces: is empty: list at least one \
             interface the rules apply on",
        ),
        (
            "interfaces empty",
            doc("fw-1", &format!("interfaces: []\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces: is empty: list at least one \
             interface the rules apply on",
        ),
        (
            "interface not a string",
            doc("fw-1", &format!("interfaces: [eth0, 7]\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[1] 7: expected a string, found \
             a number (quote it: \"7\")",
        ),
        (
            "interface too long",
            doc("fw-1", &format!("interfaces: [abcdefghijklmnop]\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[0] \"abcdefghijklmnop\": is 16 \
             bytes long; Linux interface names have at most 15",
        ),
        (
            "interface with a slash",
            doc("fw-1", &format!("interfaces: [eth/0]\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[0] \"eth/0\": contains '/', \
             which Linux does not allow in interface names",
        ),
        (
            "interface with a colon",
            doc("fw-1", &format!("interfaces: ['eth0:1']\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[0] \"eth0:1\": contains ':', \
             which Linux does not allow in interface names",
        ),
        (
            "interface with whitespace",
            doc("fw-1", &format!("interfaces: ['eth 0']\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[0] \"eth 0\": contains \
             whitespace, which Linux does not allow in interface names",
        ),
        (
            "interface dot",
            doc("fw-1", &format!("interfaces: ['..']\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[0] \"..\": is not a valid \
             interface name",
        ),
        (
            "interface empty name",
            doc("fw-1", &format!("interfaces: ['']\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[0] \"\": an interface name \
             cannot be empty",
        ),
        (
            "interface twice",
            doc("fw-1", &format!("interfaces: [eth0, eth1, eth0]\n{ENTRY}")),
            "rules.yaml: IngressNodeFirewall fw-1: spec: interfaces[2] \"eth0\": listed twice \
             (also interfaces[0])",
        ),
        (
            "ingress not a list",
            doc("fw-1", "interfaces: [eth0]\ningress: {sourceCIDRs: []}"),
            "rules.yaml: IngressNodeFirewall fw-1: spec: ingress: expected a list, found a mapping",
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(load_errors(text), [*want], "{name}");
    }
}

#[test]
fn node_selector_errors() {
    let with_selector = |selector: &str| {
        let selector: String = selector.lines().map(|l| format!("  {l}\n")).collect();
        doc(
            "fw-1",
            &format!("interfaces: [eth0]\nnodeSelector:\n{selector}{ENTRY}"),
        )
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown field",
            "matchLabel: {a: b}",
            "spec: nodeSelector.matchLabel: unknown field (expected one of: matchLabels, \
             matchExpressions)",
        ),
        (
            "unquoted boolean label value",
            "matchLabels: {do-firewall: true}",
            "spec: nodeSelector.matchLabels.do-firewall true: expected a string, found a boolean \
             (quote it: \"true\")",
        ),
        (
            "unknown operator",
            "matchExpressions: [{key: zone, operator: in, values: [a]}]",
            "spec: nodeSelector.matchExpressions[0].operator \"in\": unknown operator (expected \
             In, NotIn, Exists or DoesNotExist)",
        ),
        (
            "In without values",
            "matchExpressions: [{key: zone, operator: In}]",
            "spec: nodeSelector.matchExpressions[0].values: operator In needs at least one value",
        ),
        (
            "NotIn with empty values",
            "matchExpressions: [{key: zone, operator: NotIn, values: []}]",
            "spec: nodeSelector.matchExpressions[0].values: operator NotIn needs at least one \
             value",
        ),
        (
            "Exists with values",
            "matchExpressions: [{key: zone, operator: Exists, values: [a]}]",
            "spec: nodeSelector.matchExpressions[0].values: operator Exists takes no values \
             (found 1)",
        ),
        (
            "DoesNotExist with values",
            "matchExpressions: [{key: zone, operator: DoesNotExist, values: [a, b]}]",
            "spec: nodeSelector.matchExpressions[0].values: operator DoesNotExist takes no values \
             (found 2)",
        ),
        (
            "key missing",
            "matchExpressions: [{operator: Exists}]",
            "spec: nodeSelector.matchExpressions[0].key: missing",
        ),
        (
            "operator missing",
            "matchExpressions: [{key: zone}]",
            "spec: nodeSelector.matchExpressions[0].operator: missing",
        ),
    ];
    for (name, selector, want) in cases {
        let want = format!("{SOURCE}: IngressNodeFirewall fw-1: {want}");
        assert_eq!(load_errors(&with_selector(selector)), [want], "{name}");
    }
}

#[test]
fn entry_errors() {
    let with_entry = |entry: &str| doc("fw-1", &format!("interfaces: [eth0]\ningress:\n{entry}"));
    let rules = "  rules: [{order: 10, action: Allow}]";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown field",
            format!("- sourceCIDR: [10.0.0.0/8]\n  sourceCIDRs: [10.0.0.0/8]\n{rules}"),
            "spec.ingress[0]: sourceCIDR: unknown field (expected one of: sourceCIDRs, rules)",
        ),
        (
            "sourceCIDRs missing",
            format!("- {}", rules.trim_start()),
            "spec.ingress[0]: sourceCIDRs: is empty: list at least one source CIDR",
        ),
        (
            "sourceCIDRs empty",
            format!("- sourceCIDRs: []\n{rules}"),
            "spec.ingress[0]: sourceCIDRs: is empty: list at least one source CIDR",
        ),
        (
            "bare address",
            format!("- sourceCIDRs: [10.0.0.1]\n{rules}"),
            "spec.ingress[0]: sourceCIDRs[0] \"10.0.0.1\": a CIDR needs a prefix length, e.g. \
             10.0.0.0/8 or 10.1.2.3/32",
        ),
        (
            "bad address",
            format!("- sourceCIDRs: [10.0.0/8]\n{rules}"),
            "spec.ingress[0]: sourceCIDRs[0] \"10.0.0/8\": \"10.0.0\" is not an IPv4 or IPv6 \
             address",
        ),
        (
            "bad prefix length",
            format!("- sourceCIDRs: [10.0.0.0/x]\n{rules}"),
            "spec.ingress[0]: sourceCIDRs[0] \"10.0.0.0/x\": prefix length \"x\" is not a number",
        ),
        (
            "IPv4 prefix too long",
            format!("- sourceCIDRs: [10.0.0.0/33]\n{rules}"),
            "spec.ingress[0]: sourceCIDRs[0] \"10.0.0.0/33\": prefix length 33 is out of range \
             0-32 for IPv4",
        ),
        (
            "IPv6 prefix too long",
            format!("- sourceCIDRs: ['fd00::/129']\n{rules}"),
            "spec.ingress[0]: sourceCIDRs[0] \"fd00::/129\": prefix length 129 is out of range \
             0-128 for IPv6",
        ),
        (
            "same CIDR twice after normalising",
            format!("- sourceCIDRs: [10.1.1.1/24, 10.1.1.7/24]\n{rules}"),
            "spec.ingress[0]: sourceCIDRs[1] \"10.1.1.7/24\": is 10.1.1.0/24, already listed as \
             sourceCIDRs[0]",
        ),
        (
            "rules missing",
            "- sourceCIDRs: [10.0.0.0/8]".to_string(),
            "spec.ingress[0]: rules: is empty: list at least one rule",
        ),
        (
            "rules empty",
            "- sourceCIDRs: [10.0.0.0/8]\n  rules: []".to_string(),
            "spec.ingress[0]: rules: is empty: list at least one rule",
        ),
        (
            "rule not a mapping",
            "- sourceCIDRs: [10.0.0.0/8]\n  rules: [Allow]".to_string(),
            "spec.ingress[0].rules[0]: \"Allow\": expected a mapping, found a string",
        ),
    ];
    for (name, entry, want) in cases {
        let want = format!("{SOURCE}: IngressNodeFirewall fw-1: {want}");
        assert_eq!(load_errors(&with_entry(&entry)), [want], "{name}");
    }
}

#[test]
fn rule_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown rule field",
            "order: 10\naction: Allow\nprotocol: TCP",
            "spec.ingress[0].rules[0] (order 10): protocol: unknown field (expected one of: \
             order, protocolConfig, action)",
        ),
        (
            "order missing",
            "action: Allow",
            "spec.ingress[0].rules[0]: order: missing: must be an integer from 1 to 4294967295",
        ),
        (
            "order zero",
            "order: 0\naction: Allow",
            "spec.ingress[0].rules[0] (order 0): order 0: must be an integer from 1 to 4294967295",
        ),
        (
            "order negative",
            "order: -3\naction: Allow",
            "spec.ingress[0].rules[0] (order -3): order -3: must be an integer from 1 to \
             4294967295",
        ),
        (
            "order too large",
            "order: 4294967296\naction: Allow",
            "spec.ingress[0].rules[0] (order 4294967296): order 4294967296: must be an integer \
             from 1 to 4294967295",
        ),
        (
            "order not an integer",
            "order: 1.5\naction: Allow",
            "spec.ingress[0].rules[0]: order 1.5: must be an integer from 1 to 4294967295",
        ),
        (
            "order a string",
            "order: '10'\naction: Allow",
            "spec.ingress[0].rules[0]: order \"10\": must be an integer from 1 to 4294967295",
        ),
        (
            "action missing",
            "order: 10",
            "spec.ingress[0].rules[0] (order 10): action: missing: expected Allow or Deny",
        ),
        (
            "action lower case",
            "order: 10\naction: allow",
            "spec.ingress[0].rules[0] (order 10): action \"allow\": expected Allow or Deny",
        ),
        (
            "protocol unknown",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: tcp}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.protocol \"tcp\": unknown \
             protocol (expected TCP, UDP, SCTP, ICMP or ICMPv6)",
        ),
        (
            "unknown protocolConfig field",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, ports: 80}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.ports: unknown field (expected \
             one of: protocol, tcp, udp, sctp, icmp, icmpv6)",
        ),
        (
            "block without protocol",
            "order: 10\naction: Allow\nprotocolConfig: {tcp: {ports: 80}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp: a tcp block needs \
             protocol: TCP",
        ),
        (
            "block of another protocol",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, udp: {ports: 80}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.udp: does not apply to protocol \
             TCP (its block is tcp)",
        ),
        (
            "icmp block with ICMPv6",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: ICMPv6, icmp: {icmpType: 128}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.icmp: does not apply to protocol \
             ICMPv6 (its block is icmpv6)",
        ),
        (
            "two blocks",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {ports: 80}, udp: {ports: 80}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig: has 2 protocol blocks (tcp, \
             udp): a rule takes at most one",
        ),
        (
            "port zero",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {ports: 0}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.ports 0: port 0 is not a \
             port (ports are 1-65535)",
        ),
        (
            "port too large",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: UDP, udp: {ports: 70000}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.udp.ports 70000: port 70000 is \
             out of range 1-65535",
        ),
        (
            "range reversed",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {ports: '300-200'}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.ports \"300-200\": range \
             start 300 is after its end 200",
        ),
        (
            "range starting at zero",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: SCTP, sctp: {ports: '0-10'}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.sctp.ports \"0-10\": port 0 is \
             not a port (ports are 1-65535)",
        ),
        (
            "port name",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {ports: http}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.ports \"http\": \"http\" is \
             not a port number (expected 1-65535 or FIRST-LAST)",
        ),
        (
            "negative port",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {ports: -1}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.ports -1: -1 is not a port \
             number (expected 1-65535)",
        ),
        (
            "ports a list",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {ports: [80]}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.ports: expected a port \
             number or a \"FIRST-LAST\" string, found a list",
        ),
        (
            "ports missing in block",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.ports: missing: give a port \
             or a FIRST-LAST range (leave out the block for every port)",
        ),
        (
            "unknown port block field",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: TCP, tcp: {port: 80, ports: 80}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.tcp.port: unknown field \
             (expected ports)",
        ),
        (
            "icmpType missing",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: ICMP, icmp: {icmpCode: 1}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.icmp.icmpType: missing: an ICMP \
             block needs icmpType (leave out the block for every type)",
        ),
        (
            "icmpType too large",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: ICMP, icmp: {icmpType: 256}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.icmp.icmpType 256: must be an \
             integer from 0 to 255",
        ),
        (
            "icmpCode negative",
            "order: 10\naction: Allow\nprotocolConfig: {protocol: ICMPv6, icmpv6: {icmpType: 1, icmpCode: -1}}",
            "spec.ingress[0].rules[0] (order 10): protocolConfig.icmpv6.icmpCode -1: must be an \
             integer from 0 to 255",
        ),
    ];
    for (name, rule, want) in cases {
        let want = prefix(want);
        assert_eq!(load_errors(&with_rule(rule)), [want], "{name}");
    }
}

#[test]
fn document_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "not a mapping",
            "- a\n- b\n",
            "rules.yaml: document 0: expected a mapping with apiVersion and kind, found a list",
        ),
        (
            "List items not a list",
            "apiVersion: v1\nkind: List\nitems: {a: b}\n",
            "rules.yaml: document 0: items: expected a list, found a mapping",
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(load_errors(text), [*want], "{name}");
    }
    let broken = load_errors("apiVersion: v1\nkind: [\n");
    assert_eq!(broken.len(), 1);
    assert!(
        broken[0].starts_with("rules.yaml: document 0: not valid YAML: "),
        "{broken:?}"
    );
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let text = docs(&[
        with_rule("order: 0\naction: allow\nprotocolConfig: {protocol: TCP, tcp: {ports: '9-8'}}"),
        doc(
            "fw-2",
            "interfaces: [eth/0]\ningress:\n- sourceCIDRs: [10.0.0.1]\n  rules: []",
        ),
    ]);
    assert_eq!(
        load_errors(&text),
        [
            "rules.yaml: IngressNodeFirewall fw-1: spec.ingress[0].rules[0] (order 0): order 0: \
             must be an integer from 1 to 4294967295",
            "rules.yaml: IngressNodeFirewall fw-1: spec.ingress[0].rules[0] (order 0): \
             protocolConfig.tcp.ports \"9-8\": range start 9 is after its end 8",
            "rules.yaml: IngressNodeFirewall fw-1: spec.ingress[0].rules[0] (order 0): action \
             \"allow\": expected Allow or Deny",
            "rules.yaml: IngressNodeFirewall fw-2: spec: interfaces[0] \"eth/0\": contains '/', \
             which Linux does not allow in interface names",
            "rules.yaml: IngressNodeFirewall fw-2: spec.ingress[0]: sourceCIDRs[0] \"10.0.0.1\": \
             a CIDR needs a prefix length, e.g. 10.0.0.0/8 or 10.1.2.3/32",
            "rules.yaml: IngressNodeFirewall fw-2: spec.ingress[0]: rules: is empty: list at \
             least one rule",
        ]
    );
}

#[test]
fn kinds_and_versions() {
    let config = "apiVersion: ingressnodefirewall.openshift.io/v1alpha1\n\
                  kind: IngressNodeFirewallConfig\nmetadata: {name: cfg}\nspec: {nodeSelector: {a: b}}\n";
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n";
    let wrong_version =
        "apiVersion: ingressnodefirewall.openshift.io/v1\nkind: IngressNodeFirewall\n\
                         metadata: {name: fw-9}\n";
    let netwarden = doc("fw-2", &format!("interfaces: [eth0]\n{ENTRY}"))
        .replace("ingressnodefirewall.openshift.io", "netwarden.io");
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}",
        doc("fw-3", &format!("interfaces: [eth0]\n{ENTRY}"))
            .trim_end()
            .replace('\n', "\n  ")
    );
    let text = docs(&[
        config.to_string(),
        "# only a comment\n".to_string(),
        other.to_string(),
        wrong_version.to_string(),
        netwarden,
        list + "\n",
        doc("fw-1", &format!("interfaces: [eth0]\n{ENTRY}"))
            .replace("metadata:\n", "metadata:\n  labels: {a: b}\n  uid: x\n")
            + "status: {syncStatus: Synchronized}\n",
    ]);
    let loaded = load_yaml(&text, SOURCE).expect("loads");
    let names: Vec<&str> = loaded.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["fw-2", "fw-3", "fw-1"]);
    assert_eq!(
        loaded.notes,
        ["rules.yaml: document 0: IngressNodeFirewallConfig cfg ignored: it tells the OpenShift \
          operator where to run its daemons, which netwarden does not need"]
    );
    assert_eq!(
        common::lines(&loaded.warnings),
        [
            "rules.yaml: document 2: skipped: apiVersion \"v1\", kind \"ConfigMap\" is not an \
             IngressNodeFirewall (accepted apiVersions: ingressnodefirewall.openshift.io/v1alpha1, \
             netwarden.io/v1alpha1)",
            "rules.yaml: document 3: skipped: apiVersion \"ingressnodefirewall.openshift.io/v1\", \
             kind \"IngressNodeFirewall\" is not an IngressNodeFirewall (accepted apiVersions: \
             ingressnodefirewall.openshift.io/v1alpha1, netwarden.io/v1alpha1)",
        ]
    );
}
