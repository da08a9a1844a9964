//! `netwarden fw`: the XDP ingress node firewall from IngressNodeFirewall objects.

pub mod rules;
mod show;

pub use rules::{NodeArgs, RuleSource};

use anyhow::Context;
use netwarden_datapath::firewall::{self, ApplyOptions, Capacity, Firewall, FirewallPaths};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum FwCommand {
    /// Check IngressNodeFirewall objects: one line per problem, non-zero exit on errors.
    Validate(ValidateArgs),
    /// Put the objects selected for this node in force (atomically; the same rules again change nothing).
    Apply(ApplyArgs),
    /// What is in force: rules, interfaces, mode.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        paths: PathArgs,
    },
    /// Per-rule packet and byte counters.
    Stats {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        paths: PathArgs,
    },
    /// Drop events (denied packets); --follow waits for more.
    Events {
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        paths: PathArgs,
    },
    /// Remove the firewall from every interface and delete its pinned maps and state.
    Detach {
        #[command(flatten)]
        paths: PathArgs,
    },
}

/// Where the firewall's pinned objects and state live (change them only to run several firewalls,
/// as tests do).
#[derive(clap::Args, Debug, Clone)]
pub struct PathArgs {
    /// bpffs directory for the pinned program links and maps.
    #[arg(
        long,
        env = "NETWARDEN_FW_PIN_DIR",
        default_value = "/sys/fs/bpf/netwarden/fw"
    )]
    pin_dir: PathBuf,
    /// Directory of the state file naming the rules in force.
    #[arg(
        long,
        env = "NETWARDEN_FW_STATE_DIR",
        default_value = "/run/netwarden/fw"
    )]
    state_dir: PathBuf,
}

impl PathArgs {
    pub fn paths(&self) -> FirewallPaths {
        FirewallPaths {
            pin_dir: self.pin_dir.clone(),
            state_dir: self.state_dir.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    source: RuleSource,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    source: RuleSource,
    #[command(flatten)]
    node: NodeArgs,
    /// Deny rules count and report but let packets pass.
    #[arg(long)]
    audit: bool,
    /// Drop events per rule per CPU per second (beyond: suppressed and counted).
    #[arg(long, default_value_t = 100)]
    events_per_sec: u32,
    #[command(flatten)]
    paths: PathArgs,
}

pub fn run(cmd: FwCommand) -> anyhow::Result<()> {
    match cmd {
        FwCommand::Validate(a) => validate(a),
        FwCommand::Apply(a) => apply(a),
        FwCommand::Status { json, paths } => show::status(&paths, json),
        FwCommand::Stats { json, paths } => show::stats(&paths, json),
        FwCommand::Events {
            follow,
            json,
            paths,
        } => show::events(&paths, follow, json),
        FwCommand::Detach { paths } => detach(&paths),
    }
}

fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    let built = rules::build(&a.source, &a.node)?;
    built.print_problems();
    built.require_valid()?;
    println!("{}", built.summary());
    Ok(())
}

fn apply(a: ApplyArgs) -> anyhow::Result<()> {
    let built = rules::build(&a.source, &a.node)?;
    built.print_problems();
    let compiled = built.require_valid()?;
    let mut fw = Firewall::open(&a.paths.paths(), Capacity::default())?;
    let report = fw
        .apply(
            compiled,
            &ApplyOptions {
                audit: a.audit,
                events_per_sec: a.events_per_sec,
                source: a.source.describe(),
            },
        )
        .context("applying the firewall rules (the rules in force are unchanged)")?;
    println!("{}", built.summary());
    if !report.changed {
        println!("unchanged: these rules are already in force");
    }
    for (name, mode) in &report.attached {
        println!(
            "enforcing on {name} ({mode} XDP){}",
            if a.audit { ", audit mode" } else { "" }
        );
    }
    for name in &report.absent {
        println!(
            "{name}: not on this node; its rules are kept and the agent attaches when it appears"
        );
    }
    for name in &report.detached {
        println!("{name}: no longer named by the rules, detached");
    }
    Ok(())
}

fn detach(paths: &PathArgs) -> anyhow::Result<()> {
    let report = firewall::detach(&paths.paths())?;
    if report.interfaces.is_empty() && report.maps.is_empty() {
        println!("nothing to detach");
    }
    for name in &report.interfaces {
        println!("detached from {name}");
    }
    if !report.maps.is_empty() {
        println!("removed {} pinned maps and the state", report.maps.len());
    }
    Ok(())
}
