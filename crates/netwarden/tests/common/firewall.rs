//! A firewall under test: `netwarden fw ...` run in a test namespace with its own pin and state
//! directories (so tests run in parallel), removed on drop.

use super::{Netns, BIN};
use netwarden_lab::command_keep_mounts;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

pub struct Fw {
    pub pin_dir: PathBuf,
    pub state_dir: PathBuf,
    pub rules_dir: PathBuf,
    netns: String,
}

impl Fw {
    pub fn new(tag: &str, ns: &Netns) -> Self {
        let rules_dir = std::env::temp_dir().join(format!("nwfw-{tag}"));
        std::fs::create_dir_all(&rules_dir).unwrap();
        Self {
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/nwtest-{tag}")),
            state_dir: rules_dir.join("state"),
            rules_dir,
            netns: ns.name.clone(),
        }
    }

    /// Writes `yaml` to a file named `name` and returns its path.
    pub fn rules(&self, name: &str, yaml: &str) -> String {
        let p = self.rules_dir.join(name);
        std::fs::write(&p, yaml).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// `netwarden fw ARGS --pin-dir .. --state-dir ..` in the namespace, keeping the host's bpffs.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = command_keep_mounts(&self.netns, BIN)
            .unwrap()
            .arg("fw")
            .args(args)
            .env("NETWARDEN_FW_PIN_DIR", &self.pin_dir)
            .env("NETWARDEN_FW_STATE_DIR", &self.state_dir)
            .env("NETWARDEN_LOG", "warn")
            .output()
            .unwrap();
        out
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "netwarden fw {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn apply(&self, file: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", file, "--node-name", "node-1"];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    pub fn stats(&self) -> Value {
        serde_json::from_str(&self.ok(&["stats", "--json"])).unwrap()
    }

    /// (allow packets, allow bytes, deny packets, deny bytes) of the rule with this order.
    pub fn rule_counts(&self, order: u64) -> (u64, u64, u64, u64) {
        let s = self.stats();
        let rules = s["rules"].as_array().unwrap();
        let mut t = (0, 0, 0, 0);
        for r in rules.iter().filter(|r| r["order"].as_u64() == Some(order)) {
            t.0 += r["allowPackets"].as_u64().unwrap();
            t.1 += r["allowBytes"].as_u64().unwrap();
            t.2 += r["denyPackets"].as_u64().unwrap();
            t.3 += r["denyBytes"].as_u64().unwrap();
        }
        t
    }

    /// Every event queued, as JSON.
    pub fn events(&self) -> Vec<Value> {
        self.ok(&["events", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Fw {
    fn drop(&mut self) {
        let _ = self.run(&["detach"]);
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_dir_all(&self.rules_dir);
    }
}
