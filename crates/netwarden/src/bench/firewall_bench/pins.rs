//! A bench firewall's pin and state directories, unique to this run and removed on drop (links,
//! maps and state), whether the bench ends normally, fails or is interrupted.

use netwarden_datapath::firewall::{self, FirewallPaths};
use std::path::PathBuf;

pub struct Pins {
    pub paths: FirewallPaths,
}

impl Pins {
    /// Directories named after `tag` (/sys/fs/bpf/nwbench-TAG, $TMPDIR/nwbench-TAG); nothing is
    /// created until the firewall is opened on them.
    pub fn new(tag: &str) -> Self {
        Self {
            paths: FirewallPaths {
                pin_dir: PathBuf::from(format!("/sys/fs/bpf/nwbench-{tag}")),
                state_dir: std::env::temp_dir().join(format!("nwbench-{tag}")),
            },
        }
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        if let Err(e) = firewall::detach(&self.paths) {
            eprintln!(
                "removing the bench firewall in {}: {e}",
                self.paths.pin_dir.display()
            );
        }
        // detach leaves what it does not know (a half-made pin directory, a temporary state file).
        let _ = std::fs::remove_dir_all(&self.paths.pin_dir);
        let _ = std::fs::remove_dir_all(&self.paths.state_dir);
    }
}
