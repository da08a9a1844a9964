//! What the last apply left in force, kept on disk next to the pinned maps' lifetime (/run by
//! default: both are gone after a reboot), so another process (`fw status`, a restarted agent) can
//! name rules by slot and tell whether an apply changes anything.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One enforced rule and its counter slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub slot: u32,
    pub object: String,
    pub interface: String,
    pub cidr: String,
    pub order: u32,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

impl RuleRecord {
    /// The rule's identity as text: object, interface, CIDR, order (its counters follow it).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.object, self.interface, self.cidr, self.order
        )
    }
}

/// An interface the program is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub ifindex: u32,
    /// `native` (driver) or `generic` (skb).
    pub mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallState {
    /// Identifies the rule set, options and interface indexes last applied.
    pub digest: String,
    pub generation: u32,
    pub audit: bool,
    pub events_per_sec: u32,
    /// Where the rules came from (a file name, "agent").
    pub source: String,
    pub applied_at_unix: u64,
    pub rules: Vec<RuleRecord>,
    pub attached: BTreeMap<String, Attachment>,
    /// Interfaces named by the rules but not present on this node.
    pub absent: Vec<String>,
    pub prefix_entries: usize,
    pub table_entries: usize,
}

impl FirewallState {
    pub const FILE: &'static str = "state.json";

    /// The state in `dir`, or `None` when nothing was applied.
    pub fn read(dir: &Path) -> std::io::Result<Option<Self>> {
        let path = dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes atomically (temporary file, then rename).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{}.tmp", Self::FILE));
        std::fs::write(
            &tmp,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, dir.join(Self::FILE))
    }

    /// Slots by [`RuleRecord::key`].
    pub fn slots(&self) -> BTreeMap<String, u32> {
        self.rules.iter().map(|r| (r.key(), r.slot)).collect()
    }

    pub fn rule_by_slot(&self, slot: u32) -> Option<&RuleRecord> {
        self.rules.iter().find(|r| r.slot == slot)
    }
}
