//! The host side of the machine as the lab sees it: commands, interfaces, namespaces, processes,
//! and the routes already in place.

use crate::addressing::Cidr;
use crate::LabError;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `args` (program first) and fails with its stderr if it fails.
pub(crate) fn run(args: &[&str]) -> Result<String, LabError> {
    let command = args.join(" ");
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| LabError::Command {
            command: command.clone(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        let reason = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(LabError::Command { command, reason });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the host namespace has interface `name`.
pub(crate) fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether named network namespace `name` exists.
pub(crate) fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Whether any host interface or named namespace starts with `prefix`.
pub(crate) fn name_in_use(prefix: &str) -> bool {
    ["/sys/class/net", "/run/netns"].iter().any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    })
}

/// Writes a sysctl under /proc/sys (`key` with `/` separators, so interface names with dots work).
pub(crate) fn write_sysctl(key: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(Path::new("/proc/sys").join(key), value)
}

/// Whether the sysctl exists on this kernel.
pub(crate) fn sysctl_exists(key: &str) -> bool {
    Path::new("/proc/sys").join(key).exists()
}

/// A process's state letter (`R`, `S`, `Z`...) and start time (/proc/PID/stat fields 3 and 22),
/// `None` if there is no such process.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field 22 is at index 19.
    let state = fields.first()?.chars().next()?;
    Some((state, fields.get(19)?.parse().ok()?))
}

/// A running process's start time: with the pid, it names the process (a later one that reuses the
/// pid has another). `None` if there is no such process or it has exited.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid)
        .filter(|(state, _)| *state != 'Z')
        .map(|(_, started)| started)
}

/// Ends process `pid` if it is still the one that started at `started`: SIGTERM, then SIGKILL
/// after `grace`. Returns whether it is gone: no longer in /proc, or an exited process of another
/// parent (which reaps it). A child of this process is reaped here, which for a multi-threaded
/// one waits until all its threads are done.
pub(crate) fn terminate(pid: i32, started: u64, grace: Duration) -> bool {
    let gone = || {
        // SAFETY: WNOHANG never blocks; for a pid that is not our child it fails with ECHILD.
        let waited = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        match proc_stat(pid) {
            None => true,
            Some((_, other)) if other != started => true,
            Some((state, _)) => state == 'Z' && waited == -1,
        }
    };
    if start_time(pid) != Some(started) && gone() {
        return true;
    }
    for (signal, wait) in [
        (libc::SIGTERM, grace),
        (libc::SIGKILL, Duration::from_secs(2)),
    ] {
        // SAFETY: signalling a pid checked to be ours a moment ago (pid reuse within microseconds
        // is not a practical concern).
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + wait;
        loop {
            if gone() {
                return true;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    false
}

/// `FAMILY TABLE NAME` of every nftables chain (iptables-nft's included) on the IPv4/IPv6 forward
/// hook whose policy is drop. Empty when nft is missing or fails: this only feeds a warning.
pub(crate) fn forward_drop_chains() -> Vec<String> {
    let Ok(out) = Command::new("nft").args(["-j", "list", "chains"]).output() else {
        return Vec::new();
    };
    parse_forward_drop_chains(&String::from_utf8_lossy(&out.stdout))
}

fn parse_forward_drop_chains(json: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let items = v.get("nftables").and_then(|n| n.as_array());
    items
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let c = item.get("chain")?;
            let text = |k: &str| c.get(k).and_then(|x| x.as_str());
            let family = text("family")?;
            let forward_drop = text("hook") == Some("forward") && text("policy") == Some("drop");
            if !(forward_drop && matches!(family, "ip" | "ip6" | "inet")) {
                return None;
            }
            Some(format!("{family} {} {}", text("table")?, text("name")?))
        })
        .collect()
}

/// A route or local address of this machine that shares addresses with a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteInUse {
    pub prefix: Cidr,
    pub dev: Option<String>,
    pub table: Option<String>,
}

/// Routes (any table) whose prefix lies within `subnet` or equals it: a lab subnet there would
/// be shadowed or would shadow them. Broader routes (a default, a 10.0.0.0/8 via a VPN) are not
/// conflicts: the subnet's own route is more specific.
pub(crate) fn routes_within(subnet: &Cidr) -> Result<Vec<RouteInUse>, LabError> {
    let family = if subnet.network().is_ipv4() {
        "-4"
    } else {
        "-6"
    };
    let text = run(&["ip", family, "-j", "route", "show", "table", "all"])?;
    Ok(parse_routes(&text, subnet))
}

fn parse_routes(json: &str, subnet: &Cidr) -> Vec<RouteInUse> {
    let routes: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    routes
        .iter()
        .filter_map(|r| {
            let dst = r.get("dst")?.as_str()?;
            let prefix: Cidr = dst.parse().ok()?;
            // Multicast routes in the local table name groups, not destinations anyone owns.
            if r.get("type").and_then(|t| t.as_str()) == Some("multicast") {
                return None;
            }
            if !(subnet.overlaps(&prefix) && prefix.prefix_len() >= subnet.prefix_len()) {
                return None;
            }
            let text = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
            Some(RouteInUse {
                prefix,
                dev: text("dev"),
                table: text("table"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_in_the_way() {
        let json = r#"[
            {"dst":"default","gateway":"192.0.2.1","dev":"eth0"},
            {"dst":"10.0.0.0/8","dev":"tun0"},
            {"dst":"10.244.1.0/24","dev":"nwb123456","protocol":"kernel"},
            {"type":"local","dst":"10.244.1.1","table":"local","dev":"nwb123456"},
            {"dst":"10.244.2.0/25","dev":"eth1"},
            {"type":"multicast","dst":"ff00::/8","table":"local","dev":"eth0"}
        ]"#;
        let got = |s: &str| {
            parse_routes(json, &s.parse().unwrap())
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.prefix,
                        r.dev.as_deref().unwrap_or("-"),
                        r.table.as_deref().unwrap_or("main")
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got("10.244.1.0/24"),
            [
                "10.244.1.0/24 nwb123456 main",
                "10.244.1.1/32 nwb123456 local"
            ]
        );
        assert_eq!(got("10.244.2.0/24"), ["10.244.2.0/25 eth1 main"]);
        assert!(got("10.244.3.0/24").is_empty());
        assert!(got("ff00::/64").is_empty());
    }

    #[test]
    fn forward_chains_that_drop() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "hook": "forward", "policy": "drop"}},
            {"chain": {"family": "inet", "table": "fw", "name": "fwd", "hook": "forward", "policy": "accept"}},
            {"chain": {"family": "inet", "table": "fw", "name": "in", "hook": "input", "policy": "drop"}},
            {"chain": {"family": "bridge", "table": "b", "name": "f", "hook": "forward", "policy": "drop"}},
            {"chain": {"family": "ip6", "table": "t", "name": "user"}}]}"#;
        assert_eq!(parse_forward_drop_chains(json), ["ip filter FORWARD"]);
        assert!(parse_forward_drop_chains("").is_empty());
    }

    #[test]
    fn start_time_of_this_process() {
        let me = std::process::id() as i32;
        let started = start_time(me).unwrap();
        // Another start time means another process: it is not signalled, and counts as gone.
        assert!(terminate(me, started + 1, Duration::ZERO));
        assert_eq!(start_time(me), Some(started));
    }
}
