//! nftables in a bench namespace: the comparison point for the XDP firewall's drop rate. Tables
//! live in the namespace, so they go when it is deleted.

use anyhow::{bail, Context};
use netwarden_lab::Netns;
use std::io::Write;
use std::process::Stdio;

/// The table the bench creates.
pub const TABLE: &str = "nw";

/// Whether the `nft` command runs.
pub fn available() -> bool {
    std::process::Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The ruleset equivalent to one Deny rule for UDP `port` from `cidr`: dropped at prerouting with
/// raw priority (-300), the earliest point netfilter can drop an IP packet, with a counter.
pub fn udp_deny_ruleset(cidr: &str, port: u16) -> String {
    format!(
        "table inet {TABLE} {{\n  chain input {{\n    type filter hook prerouting priority -300;\n    \
         ip saddr {cidr} udp dport {port} counter drop\n  }}\n}}\n"
    )
}

/// Loads `ruleset` (nft syntax) into `ns`.
pub fn load(ns: &Netns, ruleset: &str) -> anyhow::Result<()> {
    let mut child = ns
        .command("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (install nftables with scripts/setup.sh)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(ruleset.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft -f: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Removes the bench table from `ns`.
pub fn delete_table(ns: &Netns) -> anyhow::Result<()> {
    let out = ns
        .command("nft")
        .args(["delete", "table", "inet", TABLE])
        .output()
        .context("running nft")?;
    if !out.status.success() {
        bail!(
            "nft delete table: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Packets counted by every `counter` of the bench table in `ns`.
pub fn counted_packets(ns: &Netns) -> anyhow::Result<u64> {
    let out = ns
        .command("nft")
        .args(["-j", "list", "table", "inet", TABLE])
        .output()
        .context("running nft")?;
    if !out.status.success() {
        bail!(
            "nft list table: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("nft -j printed no JSON")?;
    Ok(counter_packets(&json))
}

/// Sum of `{"counter": {"packets": N, ...}}` anywhere in nft's JSON.
fn counter_packets(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match (k.as_str(), v["packets"].as_u64()) {
                ("counter", Some(n)) => n,
                _ => counter_packets(v),
            })
            .sum(),
        serde_json::Value::Array(a) => a.iter().map(counter_packets).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_found_in_nft_json() {
        let json = serde_json::json!({"nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"rule": {"family": "inet", "table": "nw", "chain": "input", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 9000}},
                {"counter": {"packets": 12, "bytes": 720}},
                {"drop": null}
            ]}}
        ]});
        assert_eq!(counter_packets(&json), 12);
        assert!(udp_deny_ruleset("192.168.95.0/24", 9000).contains("priority -300"));
    }
}
