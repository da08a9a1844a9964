//! `netwarden`: one binary, one subcommand per role. This file only parses arguments and dispatches;
//! the work lives in the library crates.

mod agent;
mod api;
mod api_client;
mod bench;
mod capture;
mod decisions;
mod demo;
mod dns_names;
mod enrichment;
mod flows_cli;
mod fw;
mod lab;
mod output;
mod pods;
mod policy;
mod run_loop;
mod serve;
mod whatif;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "netwarden",
    version,
    about = "eBPF network observability and node firewall"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a tracing filter; logs go to stderr.
    #[arg(long, global = true, default_value = "info", env = "NETWARDEN_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture flows on this machine's interfaces and print them (one-shot).
    Capture(capture::CaptureArgs),
    /// Capture on this machine with a lab pod and traffic that shows every capture feature.
    Demo(demo::DemoArgs),
    /// Run the long-lived node agent from a YAML config.
    Agent(agent::AgentArgs),
    /// The XDP ingress node firewall (IngressNodeFirewall objects).
    #[command(subcommand)]
    Fw(fw::FwCommand),
    /// Measure netwarden's overhead; prints figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// A simulated Kubernetes node: pods from an inventory file as network namespaces.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// The pod network access monitor: new connections and blocked packets of selected pods.
    #[command(subcommand)]
    Pods(pods::PodsCommand),
    /// Network-policy engine: explain a connection's verdict, or validate policy files.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The flow store's API and web console (no capture).
    Serve(serve::ServeArgs),
    /// Query stored flows through the API: a page of flows, or a top table.
    Flows(flows_cli::FlowsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Capture(args) => capture::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Fw(cmd) => fw::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Lab(cmd) => lab::run(cmd),
        Command::Pods(cmd) => pods::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Flows(args) => flows_cli::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line naming the cause, as the whole chain.
            eprintln!("netwarden: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
