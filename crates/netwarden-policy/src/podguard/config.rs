//! The pod guard's configuration: the YAML form ([`PodGuardSpec`], the agent's `pod_guard`
//! section and `netwarden pods monitor --config`) and its checked form ([`PodGuardPolicy`]).
//!
//! ```yaml
//! selectors:                       # tried in order: the first that matches a pod decides
//! - selector: "app=web,tier in (a,b),!legacy"
//!   namespaces: [shop]             # default: every namespace
//!   mode: block-external           # monitor (default) | block-external | rules
//!   monitor: true                  # also report new connections (default true)
//!   windows:                       # blocking only inside these (default: always)
//!   - {days: Mon-Fri, hours: "09:00-18:00", time_zone: Europe/Paris}
//! - selector: "app=db"
//!   mode: rules
//!   rules:                         # first match by order wins; no match allows
//!   - {cidr: 10.96.0.10/32, protocol: UDP, ports: "53", action: Allow}
//!   - {cidr: 0.0.0.0/0, action: Deny}
//! cluster_cidrs: [10.244.0.0/16, 10.96.0.0/12, 192.168.0.0/24]   # block-external's "inside"
//! events_per_sec: 100              # blocked-packet events per pod per CPU per second
//! connection_idle_seconds: 120     # an idle connection is reported again when it resumes
//! ```

use std::fmt;

use serde::Deserialize;

use super::selector::Selector;
use super::window::TimeWindow;
use crate::firewall::model::{Action, Cidr, IcmpMatch, PortRange, ProtocolMatch};

/// The YAML form. Every field has a default; unknown fields are rejected.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PodGuardSpec {
    /// Tried in order; the first whose selector (and namespaces) match a pod decides its mode.
    pub selectors: Vec<SelectorSpec>,
    /// The cluster's pod, service and node ranges: block-external drops every other destination.
    pub cluster_cidrs: Vec<String>,
    /// Blocked-packet events per pod per CPU per second; beyond, suppressed and counted. Default 100.
    pub events_per_sec: u32,
    /// A connection idle this long is reported again when it resumes. Default 120.
    pub connection_idle_seconds: u64,
}

impl Default for PodGuardSpec {
    fn default() -> Self {
        Self {
            selectors: Vec::new(),
            cluster_cidrs: Vec::new(),
            events_per_sec: 100,
            connection_idle_seconds: 120,
        }
    }
}

/// One selector with its mode.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectorSpec {
    /// A label selector in text form (`app=web,tier in (a,b)`); empty matches every pod.
    pub selector: String,
    /// Namespaces the selector applies in; empty (the default): every namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// `monitor` (default), `block-external` or `rules`.
    #[serde(default)]
    pub mode: Mode,
    /// Report each new connection of the selected pods. Default true.
    #[serde(default = "yes")]
    pub monitor: bool,
    /// Destination rules for `mode: rules`.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// When blocking is in force; empty (the default): always.
    #[serde(default)]
    pub windows: Vec<WindowSpec>,
}

fn yes() -> bool {
    true
}

/// What a selector does with its pods.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Report each new connection; block nothing.
    #[default]
    Monitor,
    /// Drop packets to destinations outside the cluster CIDRs.
    BlockExternal,
    /// Judge destinations by the selector's rules.
    Rules,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Monitor => "monitor",
            Mode::BlockExternal => "block-external",
            Mode::Rules => "rules",
        })
    }
}

/// One destination rule as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Destination CIDR (host bits are cleared: `8.8.8.8/24` is `8.8.8.0/24`).
    pub cidr: String,
    /// `TCP`, `UDP`, `SCTP`, `ICMP`, `ICMPv6` (any case); absent: every protocol.
    #[serde(default)]
    pub protocol: Option<String>,
    /// TCP/UDP/SCTP destination port or range (`443`, `8000-8080`); absent: every port.
    #[serde(default)]
    pub ports: Option<String>,
    /// ICMP/ICMPv6 type; absent: every type.
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP/ICMPv6 code (needs `icmp_type`); absent: every code.
    #[serde(default)]
    pub icmp_code: Option<u8>,
    /// `Allow` or `Deny`.
    pub action: RuleAction,
}

/// A rule's action as written (`Allow`/`allow`, `Deny`/`deny`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum RuleAction {
    #[serde(alias = "allow")]
    Allow,
    #[serde(alias = "deny")]
    Deny,
}

impl From<RuleAction> for Action {
    fn from(a: RuleAction) -> Action {
        match a {
            RuleAction::Allow => Action::Allow,
            RuleAction::Deny => Action::Deny,
        }
    }
}

/// A time window as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// `Mon-Fri`, `Sat,Sun`, `*`. Default `*`.
    #[serde(default = "every_day")]
    pub days: String,
    /// `HH:MM-HH:MM`, end exclusive, `24:00` allowed; an end before the start runs past midnight.
    pub hours: String,
    /// IANA name, `UTC` or a fixed offset (`+02:00`). Default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn every_day() -> String {
    "*".to_string()
}

fn utc() -> String {
    "UTC".to_string()
}

/// A destination rule, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRule {
    pub cidr: Cidr,
    pub protocol: ProtocolMatch,
    pub action: Action,
}

impl fmt::Display for DestinationRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Allow => "Allow",
            Action::Deny => "Deny",
        };
        write!(f, "{action} {}", self.cidr)?;
        if let Some(name) = self.protocol.name() {
            write!(f, " {name}")?;
        }
        if let Some(sel) = self.protocol.selector_text() {
            write!(f, " {sel}")?;
        }
        Ok(())
    }
}

/// A selector, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSelector {
    /// As written, for messages.
    pub text: String,
    pub selector: Selector,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    pub mode: Mode,
    pub monitor: bool,
    /// In order (`rules` mode only).
    pub rules: Vec<DestinationRule>,
    /// Empty: blocking always in force.
    pub windows: Vec<TimeWindow>,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PodGuardPolicy {
    pub selectors: Vec<PodSelector>,
    pub cluster_cidrs: Vec<Cidr>,
    pub events_per_sec: u32,
    pub connection_idle_seconds: u64,
}

/// A problem in the configuration: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigProblem {
    /// E.g. `selectors[1].rules[0].ports`.
    pub location: String,
    pub message: String,
}

fn problem(location: impl Into<String>, message: impl fmt::Display) -> ConfigProblem {
    ConfigProblem {
        location: location.into(),
        message: message.to_string(),
    }
}

impl PodGuardSpec {
    /// Parses YAML (the section's content, not wrapped in `pod_guard:`).
    pub fn from_yaml(text: &str) -> Result<PodGuardSpec, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// Checks everything, reporting every problem found.
    pub fn check(&self) -> Result<PodGuardPolicy, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut cluster_cidrs = Vec::new();
        for (i, text) in self.cluster_cidrs.iter().enumerate() {
            match Cidr::parse(text) {
                Ok(c) => cluster_cidrs.push(c),
                Err(e) => problems.push(problem(format!("cluster_cidrs[{i}] {text:?}"), e)),
            }
        }
        let mut selectors = Vec::new();
        for (i, s) in self.selectors.iter().enumerate() {
            if let Some(sel) = check_selector(s, &format!("selectors[{i}]"), &mut problems) {
                selectors.push(sel);
            }
        }
        let blocks_external = selectors.iter().any(|s| s.mode == Mode::BlockExternal);
        if blocks_external && cluster_cidrs.is_empty() {
            problems.push(problem(
                "cluster_cidrs",
                "block-external needs the cluster's pod, service and node CIDRs \
                 (without them every destination is external)",
            ));
        }
        if self.events_per_sec == 0 {
            problems.push(problem("events_per_sec", "must be at least 1"));
        }
        if self.connection_idle_seconds == 0 {
            problems.push(problem("connection_idle_seconds", "must be at least 1"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(PodGuardPolicy {
            selectors,
            cluster_cidrs,
            events_per_sec: self.events_per_sec,
            connection_idle_seconds: self.connection_idle_seconds,
        })
    }
}

fn check_selector(
    s: &SelectorSpec,
    at: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<PodSelector> {
    let before = problems.len();
    let selector = Selector::parse(&s.selector)
        .map_err(|e| problems.push(problem(format!("{at}.selector"), e)))
        .ok();
    if s.mode == Mode::Monitor && !s.monitor {
        problems.push(problem(
            format!("{at}.monitor"),
            "mode monitor with monitor: false does nothing",
        ));
    }
    match s.mode {
        Mode::Rules if s.rules.is_empty() => {
            problems.push(problem(format!("{at}.rules"), "mode rules needs rules"));
        }
        Mode::Monitor | Mode::BlockExternal if !s.rules.is_empty() => problems.push(problem(
            format!("{at}.rules"),
            format!(
                "rules only apply in mode rules (this selector's mode is {})",
                s.mode
            ),
        )),
        _ => {}
    }
    if s.mode == Mode::Monitor && !s.windows.is_empty() {
        problems.push(problem(
            format!("{at}.windows"),
            "windows limit blocking; mode monitor blocks nothing (monitoring never stops)",
        ));
    }
    let mut rules = Vec::new();
    for (r, spec) in s.rules.iter().enumerate() {
        match check_rule(spec) {
            Ok(rule) => rules.push(rule),
            Err((field, message)) => {
                problems.push(problem(format!("{at}.rules[{r}].{field}"), message))
            }
        }
    }
    let mut windows = Vec::new();
    for (w, spec) in s.windows.iter().enumerate() {
        match TimeWindow::parse(&spec.days, &spec.hours, &spec.time_zone) {
            Ok(window) => windows.push(window),
            Err(e) => problems.push(problem(format!("{at}.windows[{w}]"), e)),
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(PodSelector {
        text: s.selector.clone(),
        selector: selector?,
        namespaces: s.namespaces.clone(),
        mode: s.mode,
        monitor: s.monitor,
        rules,
        windows,
    })
}

/// Parses `80` or `100-200` into a range of valid ports (1-65535).
fn parse_ports(text: &str) -> Result<PortRange, String> {
    let number = |part: &str| -> Result<u16, String> {
        let part = part.trim();
        match part.parse::<u16>() {
            Ok(0) => Err("port 0 is not a port (ports are 1-65535)".to_string()),
            Ok(p) if part.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
            _ => Err(format!(
                "{part:?} is not a port number (expected 1-65535 or FIRST-LAST)"
            )),
        }
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let p = number(text)?;
            (p, p)
        }
    };
    if first > last {
        return Err(format!("range start {first} is after its end {last}"));
    }
    Ok(PortRange { first, last })
}

fn check_rule(spec: &RuleSpec) -> Result<DestinationRule, (&'static str, String)> {
    let cidr = Cidr::parse(&spec.cidr).map_err(|e| ("cidr", format!("{:?}: {e}", spec.cidr)))?;
    let ports = spec
        .ports
        .as_deref()
        .map(parse_ports)
        .transpose()
        .map_err(|e| ("ports", e))?;
    let icmp = match (spec.icmp_type, spec.icmp_code) {
        (None, Some(_)) => return Err(("icmp_code", "needs icmp_type".to_string())),
        (Some(t), code) => Some(IcmpMatch {
            icmp_type: t,
            icmp_code: code,
        }),
        (None, None) => None,
    };
    let protocol = match spec.protocol.as_deref().map(str::to_ascii_lowercase) {
        None => ProtocolMatch::Any,
        Some(p) => match p.as_str() {
            "tcp" => ProtocolMatch::Tcp(ports),
            "udp" => ProtocolMatch::Udp(ports),
            "sctp" => ProtocolMatch::Sctp(ports),
            "icmp" => ProtocolMatch::Icmp(icmp),
            "icmpv6" => ProtocolMatch::Icmpv6(icmp),
            _ => {
                return Err((
                    "protocol",
                    format!("unknown protocol {p:?} (expected TCP, UDP, SCTP, ICMP or ICMPv6)"),
                ))
            }
        },
    };
    match protocol {
        ProtocolMatch::Any if ports.is_some() || icmp.is_some() => {
            return Err((
                "protocol",
                "ports and ICMP types need a protocol (TCP, UDP, SCTP, ICMP or ICMPv6)".into(),
            ))
        }
        ProtocolMatch::Tcp(_) | ProtocolMatch::Udp(_) | ProtocolMatch::Sctp(_)
            if icmp.is_some() =>
        {
            return Err(("icmp_type", "only ICMP and ICMPv6 rules have types".into()))
        }
        ProtocolMatch::Icmp(_) | ProtocolMatch::Icmpv6(_) if ports.is_some() => {
            return Err(("ports", "ICMP has no ports (use icmp_type)".into()))
        }
        _ => {}
    }
    if !protocol.fits_family(cidr.is_ipv4()) {
        let message = if cidr.is_ipv4() {
            "ICMPv6 never matches an IPv4 destination (use ICMP)"
        } else {
            "ICMP never matches an IPv6 destination (use ICMPv6)"
        };
        return Err(("protocol", message.into()));
    }
    Ok(DestinationRule {
        cidr,
        protocol,
        action: spec.action.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let spec = PodGuardSpec::from_yaml(yaml).expect("yaml");
        match spec.check() {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_full_config_checks() {
        let spec = PodGuardSpec::from_yaml(
            r#"
selectors:
- selector: "app=web,tier in (a,b),!legacy"
  namespaces: [shop]
  mode: block-external
  windows:
  - {days: Mon-Fri, hours: "09:00-18:00", time_zone: Europe/Paris}
- selector: "app=db"
  mode: rules
  monitor: false
  rules:
  - {cidr: 10.96.0.10/32, protocol: udp, ports: "53", action: Allow}
  - {cidr: 8.8.8.8/24, protocol: ICMP, icmp_type: 8, action: Deny}
  - {cidr: "fd00::/8", protocol: TCP, ports: "8000-8080", action: Deny}
  - {cidr: 0.0.0.0/0, action: Deny}
- selector: ""
cluster_cidrs: [10.244.0.0/16, 10.96.0.0/12]
events_per_sec: 5
"#,
        )
        .expect("yaml");
        let policy = spec.check().expect("valid");
        assert_eq!(policy.selectors.len(), 3);
        assert_eq!(policy.selectors[0].mode, Mode::BlockExternal);
        assert!(policy.selectors[0].monitor);
        assert_eq!(policy.selectors[0].windows.len(), 1);
        assert_eq!(policy.selectors[2].mode, Mode::Monitor);
        let rules: Vec<String> = policy.selectors[1]
            .rules
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            rules,
            [
                "Allow 10.96.0.10/32 UDP 53",
                "Deny 8.8.8.0/24 ICMP 8/*",
                "Deny fd00::/8 TCP 8000-8080",
                "Deny 0.0.0.0/0",
            ]
        );
        assert_eq!(policy.connection_idle_seconds, 120);
        assert_eq!(policy.events_per_sec, 5);
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let cases: &[(&str, &[&str])] = &[
            ("selectors: [{selector: 'app=', mode: monitor}]", &[]),
            (
                "selectors: [{selector: 'app web'}]",
                &["selectors[0].selector: label selector \"app web\", at 4"],
            ),
            (
                "selectors: [{selector: a, mode: block-external}]",
                &["cluster_cidrs: block-external needs"],
            ),
            (
                "{selectors: [{selector: a, mode: rules}], cluster_cidrs: [10.0.0.0/33]}",
                &[
                    "cluster_cidrs[0] \"10.0.0.0/33\": prefix length 33",
                    "selectors[0].rules: mode rules needs rules",
                ],
            ),
            (
                "selectors: [{selector: a, monitor: false}]",
                &["selectors[0].monitor: mode monitor with monitor: false does nothing"],
            ),
            (
                "selectors: [{selector: a, windows: [{hours: '09:00-10:00'}]}]",
                &["selectors[0].windows: windows limit blocking"],
            ),
            (
                "selectors: [{selector: a, mode: rules, windows: [{hours: '9-10'}], rules: [{cidr: 1.1.1.1/32, action: Deny}]}]",
                &["selectors[0].windows[0]: hours \"9-10\""],
            ),
            (
                "selectors: [{selector: a, rules: [{cidr: 1.1.1.1/32, action: Deny}]}]",
                &["selectors[0].rules: rules only apply in mode rules"],
            ),
            (
                r#"selectors: [{selector: a, mode: rules, rules: [
                    {cidr: 1.1.1.1, action: Deny},
                    {cidr: 1.1.1.1/32, protocol: tcp, ports: "90-80", action: Deny},
                    {cidr: 1.1.1.1/32, protocol: gre, action: Deny},
                    {cidr: 1.1.1.1/32, ports: "80", action: Deny},
                    {cidr: 1.1.1.1/32, protocol: icmp, ports: "80", action: Deny},
                    {cidr: 1.1.1.1/32, protocol: icmpv6, action: Deny},
                    {cidr: 1.1.1.1/32, protocol: icmp, icmp_code: 1, action: Deny},
                    {cidr: 1.1.1.1/32, protocol: udp, ports: "0", action: Deny}]}]"#,
                &[
                    "selectors[0].rules[0].cidr: \"1.1.1.1\": a CIDR needs a prefix length",
                    "selectors[0].rules[1].ports: range start 90 is after its end 80",
                    "selectors[0].rules[2].protocol: unknown protocol \"gre\"",
                    "selectors[0].rules[3].protocol: ports and ICMP types need a protocol",
                    "selectors[0].rules[4].ports: ICMP has no ports",
                    "selectors[0].rules[5].protocol: ICMPv6 never matches an IPv4",
                    "selectors[0].rules[6].icmp_code: needs icmp_type",
                    "selectors[0].rules[7].ports: port 0 is not a port",
                ],
            ),
            ("events_per_sec: 0", &["events_per_sec: must be at least 1"]),
        ];
        for (yaml, want) in cases {
            let got = problems(yaml);
            assert_eq!(got.len(), want.len(), "{yaml}: {got:#?}");
            for (g, w) in got.iter().zip(*want) {
                assert!(g.starts_with(w), "{yaml}:\n got {g}\nwant {w}...");
            }
        }
    }

    #[test]
    fn unknown_fields_and_modes_are_rejected() {
        assert!(PodGuardSpec::from_yaml("selector: [a]").is_err());
        assert!(PodGuardSpec::from_yaml("selectors: [{selector: a, mode: block}]").is_err());
        assert!(PodGuardSpec::from_yaml("selectors: [{selector: a, mdoe: rules}]").is_err());
        assert!(PodGuardSpec::from_yaml(
            "selectors: [{selector: a, mode: rules, rules: [{cidr: 1.1.1.1/32, action: Drop}]}]"
        )
        .is_err());
    }
}
