//! `netwarden bench`: overhead figures, printed.

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Throughput with and without capture, and the agent's CPU and memory at 1k and 100k flows.
    Capture,
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Capture => anyhow::bail!("bench capture: not built yet"),
    }
}
