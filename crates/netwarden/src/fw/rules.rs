//! From files to a compiled rule set for this node: load, select by node, validate, compile.

use anyhow::{bail, Context};
use netwarden_policy::firewall::{
    compile, load_yaml, select, validate, CompiledFirewall, IngressNodeFirewall, NodeIdentity,
    Problem, ProtectedService, Severity,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where IngressNodeFirewall objects come from.
#[derive(clap::Args, Debug, Clone)]
pub struct RuleSource {
    /// YAML file(s) of IngressNodeFirewall objects (multi-document; repeat -f for more files).
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

impl RuleSource {
    pub fn describe(&self) -> String {
        self.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Which node this is, for the objects' nodeSelectors, and what stays open whatever the rules say.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NodeArgs {
    /// This node's name (default: the host name); also its kubernetes.io/hostname label.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// This node's labels, k=v,k2=v2.
    #[arg(long, value_name = "K=V,...")]
    pub node_labels: Option<String>,
    /// Services never dropped (fail-safe), e.g. tcp:22,tcp:6443,udp:67-68 (default: SSH, the
    /// Kubernetes API, etcd, kubelet, controller-manager, scheduler, DHCP v4/v6).
    #[arg(long, value_name = "PROTO:PORTS,...")]
    pub protected: Option<String>,
}

impl NodeArgs {
    pub fn identity(&self) -> anyhow::Result<NodeIdentity> {
        let name = match &self.node_name {
            Some(n) => n.clone(),
            None => host_name()?,
        };
        let mut labels = BTreeMap::new();
        if let Some(text) = &self.node_labels {
            for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let Some((k, v)) = item.split_once('=') else {
                    bail!("--node-labels {item:?}: expected key=value");
                };
                if k.trim().is_empty() {
                    bail!("--node-labels {item:?}: the key is empty");
                }
                labels.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        Ok(NodeIdentity { name, labels })
    }

    pub fn protected(&self) -> anyhow::Result<Vec<ProtectedService>> {
        match &self.protected {
            None => Ok(ProtectedService::defaults()),
            Some(text) => ProtectedService::parse_list(text)
                .map_err(|e| anyhow::anyhow!("--protected {text:?}: {e}")),
        }
    }
}

/// This machine's host name, the default node name.
pub fn host_name() -> anyhow::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .context("reading the host name (or name the node explicitly)")
}

/// The outcome of reading and compiling.
pub struct Built {
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    pub compiled: Option<CompiledFirewall>,
    pub objects_total: usize,
    pub objects_selected: usize,
    pub node: String,
}

impl Built {
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// Problems on stderr, one line each, errors first.
    pub fn print_problems(&self) {
        for note in &self.notes {
            eprintln!("note: {note}");
        }
        let mut sorted: Vec<&Problem> = self.problems.iter().collect();
        sorted.sort_by_key(|p| p.severity);
        for p in sorted {
            eprintln!("{}: {p}", p.severity);
        }
    }

    /// The compiled rules, or an error counting the problems (already printed).
    pub fn require_valid(&self) -> anyhow::Result<&CompiledFirewall> {
        match &self.compiled {
            Some(c) if self.errors() == 0 => Ok(c),
            _ => bail!(
                "{} error(s) in the firewall objects; nothing was applied",
                self.errors().max(1)
            ),
        }
    }

    pub fn summary(&self) -> String {
        let rules = self.compiled.as_ref().map_or(0, |c| c.rules.len());
        let ifaces = self
            .compiled
            .as_ref()
            .map(|c| c.interfaces.join(", "))
            .unwrap_or_default();
        format!(
            "{} of {} IngressNodeFirewall objects select node {}: {rules} rules on [{ifaces}]",
            self.objects_selected, self.objects_total, self.node
        )
    }
}

/// [`build_for`] with the node and protected services from the command line.
pub fn build(source: &RuleSource, node: &NodeArgs) -> anyhow::Result<Built> {
    build_for(&source.files, &node.identity()?, &node.protected()?)
}

/// Reads every file, selects the objects for this node, validates and compiles them. Problems are
/// collected, not returned as errors; I/O errors are.
pub fn build_for(
    files: &[PathBuf],
    identity: &NodeIdentity,
    protected: &[ProtectedService],
) -> anyhow::Result<Built> {
    let mut objects: Vec<IngressNodeFirewall> = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let name = file.display().to_string();
        match load_yaml(&text, &name) {
            Ok(loaded) => {
                objects.extend(loaded.objects);
                problems.extend(loaded.warnings);
                notes.extend(loaded.notes);
            }
            Err(found) => problems.extend(found),
        }
    }
    let objects_total = objects.len();
    let selected = select(&objects, identity);
    let objects_selected = selected.len();
    problems.extend(validate(&selected, protected));
    let compiled = if problems.iter().any(|p| p.severity == Severity::Error) {
        None
    } else {
        match compile(&selected, protected) {
            Ok(c) => Some(c),
            Err(errors) => {
                problems.extend(errors);
                None
            }
        }
    };
    problems.dedup();
    Ok(Built {
        problems,
        notes,
        compiled,
        objects_total,
        objects_selected,
        node: identity.name.clone(),
    })
}
