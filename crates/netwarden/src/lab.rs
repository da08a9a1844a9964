//! `netwarden lab`: a simulated Kubernetes node on this machine, built from an inventory file. `up`
//! makes it and exits, leaving it in place (its echo servers run as detached `lab serve`
//! processes); `down` removes it from any process; `exec` runs commands in a pod; `list` shows
//! the labs. The work is in `netwarden_lab::Lab`.

use anyhow::{bail, Context};
use netwarden_lab::echo::{EchoServers, Listen};
use netwarden_lab::{
    Lab, LabOptions, LabRecord, LabSpec, ServiceCommand, Services, DEFAULT_STATE_DIR,
};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum LabCommand {
    /// Make a lab from an inventory file and leave it in place: a bridge (the node), a network
    /// namespace per pod with the pod's IPs, echo servers on the pods' container ports.
    Up {
        /// Inventory: YAML documents or Lists; Pods are used, other kinds skipped.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The lab's name (default: lab-TAG).
        #[arg(long)]
        name: Option<String>,
        /// Start no echo servers.
        #[arg(long)]
        no_services: bool,
        /// Print the lab's record as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Remove a lab, or every lab, with everything it made (service processes included).
    Down {
        /// The lab to remove.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Remove every lab.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Run a command in a pod's network namespace; its exit code is passed through.
    Exec {
        /// NAMESPACE/POD (a bare POD means namespace default).
        pod: String,
        /// The lab (needed only when several labs have the pod).
        #[arg(long)]
        name: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// The labs on this machine.
    List {
        /// One JSON record per lab, as an array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Echo every TCP connection and UDP datagram on PROTO:ADDR:PORT until SIGTERM (what `up`
    /// runs inside each pod's namespace).
    #[command(hide = true)]
    Serve {
        #[arg(required = true)]
        listen: Vec<Listen>,
    },
}

/// Where lab state files are.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// Directory of the lab state files (one JSON file per lab).
    #[arg(long, env = "NETWARDEN_LAB_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
}

pub fn run(cmd: LabCommand) -> anyhow::Result<()> {
    match cmd {
        LabCommand::Up {
            file,
            name,
            no_services,
            json,
            state,
        } => up(&file, name, no_services, json, &state.state_dir),
        LabCommand::Down { name, all, state } => down(name.as_deref(), all, &state.state_dir),
        LabCommand::Exec {
            pod,
            name,
            command,
            state,
        } => exec(&pod, name.as_deref(), &command, &state.state_dir),
        LabCommand::List { json, state } => list(json, &state.state_dir),
        LabCommand::Serve { listen } => serve(&listen),
    }
}

fn up(
    file: &Path,
    name: Option<String>,
    no_services: bool,
    json: bool,
    state_dir: &Path,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let spec = LabSpec::from_yaml(&text).with_context(|| file.display().to_string())?;
    if spec.pods.is_empty() {
        bail!("{}: no Pods", file.display());
    }
    let services = if no_services {
        Services::None
    } else {
        let program = std::env::current_exe().context("finding this program for `lab serve`")?;
        Services::Processes(ServiceCommand {
            program,
            args: vec!["lab".into(), "serve".into()],
        })
    };
    let lab = Lab::up(
        &spec,
        LabOptions {
            name,
            services,
            state_dir: state_dir.to_path_buf(),
        },
    )?;
    let state_file = lab.state_file();
    let record = lab.keep();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &record)?;
        writeln!(out)?;
    } else {
        print_lab(&mut out, &record, &state_file)?;
    }
    Ok(())
}

/// The human-readable account of a lab that `up` prints.
fn print_lab(out: &mut impl Write, r: &LabRecord, state_file: &Path) -> std::io::Result<()> {
    writeln!(out, "lab {} is up (state {})", r.name, state_file.display())?;
    let gateways: Vec<String> = r.gateways.iter().map(|g| g.address_cidr()).collect();
    writeln!(out, "node: bridge {}  {}", r.bridge, gateways.join("  "))?;
    for g in &r.gateways {
        if let Some(pod) = &g.usual_address_taken_by {
            writeln!(
                out,
                "  gateway of {} is {} ({} has the first address)",
                g.subnet, g.address, pod
            )?;
        }
    }
    let pids: Vec<(String, i32)> = r
        .service_processes
        .iter()
        .map(|p| (p.pod.clone(), p.pid))
        .collect();
    let rows: Vec<[String; 4]> = r
        .pods
        .iter()
        .map(|p| {
            let ips: Vec<String> = p.ips.iter().map(|ip| ip.to_string()).collect();
            let ports: BTreeSet<String> = p
                .listen
                .iter()
                .map(|l| format!("{}/{}", l.protocol, l.addr.port()))
                .collect();
            let mut serving = ports.into_iter().collect::<Vec<_>>().join(",");
            if let Some((_, pid)) = pids.iter().find(|(pod, _)| *pod == p.key()) {
                serving.push_str(&format!(" (pid {pid})"));
            }
            let where_ = match (&p.netns, &p.interface, &p.host_interface) {
                (Some(ns), Some(ifname), Some(host_if)) => {
                    format!("netns {ns}  {ifname} <-> {host_if}")
                }
                _ => "host network (the node)".to_string(),
            };
            [
                p.key(),
                where_,
                ips.join(" "),
                if serving.is_empty() {
                    "-".into()
                } else {
                    serving
                },
            ]
        })
        .collect();
    let header = ["POD", "NETNS AND INTERFACES", "IPS", "SERVING"].map(String::from);
    write_table(out, &header, &rows)?;
    for note in &r.notes {
        writeln!(out, "note: {note}")?;
    }
    if let Some(pod) = r.pods.iter().find(|p| p.netns.is_some()) {
        writeln!(out, "try:  netwarden lab exec {} -- ip -o addr", pod.key())?;
    }
    writeln!(out, "down: netwarden lab down --name {}", r.name)
}

/// Columns padded to their widest cell.
fn write_table<const N: usize>(
    out: &mut impl Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

fn down(name: Option<&str>, all: bool, state_dir: &Path) -> anyhow::Result<()> {
    if !all {
        let name = name.context("--name or --all")?;
        Lab::open(name, state_dir)?.down()?;
        println!("lab {name} is down");
        return Ok(());
    }
    let mut names = Vec::new();
    for record in Lab::list(state_dir)? {
        match record {
            Ok(r) => names.push(r.name),
            // Not ours to guess at: say so and carry on with the others.
            Err(e) => eprintln!("netwarden: skipping unreadable state file: {e}"),
        }
    }
    if names.is_empty() {
        println!("no labs");
    }
    let mut failed = 0;
    for name in &names {
        match Lab::open(name, state_dir).and_then(Lab::down) {
            Ok(()) => println!("lab {name} is down"),
            Err(e) => {
                eprintln!("netwarden: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} labs not removed", names.len());
    }
    Ok(())
}

/// Replaces this process with the command, in the pod's namespace: exit code and signals are the
/// command's own.
fn exec(
    pod: &str,
    name: Option<&str>,
    command: &[OsString],
    state_dir: &Path,
) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let lab = match name {
        Some(name) => Lab::open(name, state_dir)?,
        None => {
            let having: Vec<String> = Lab::list(state_dir)?
                .into_iter()
                .filter_map(Result::ok)
                .filter(|r| r.pod(pod).is_some())
                .map(|r| r.name)
                .collect();
            match having.as_slice() {
                [] => bail!("no lab has pod {pod} (`netwarden lab list` shows the labs)"),
                [one] => Lab::open(one, state_dir)?,
                many => bail!(
                    "labs {} all have pod {pod}: choose one with --name",
                    many.join(", ")
                ),
            }
        }
    };
    let Some((program, args)) = command.split_first() else {
        bail!("no command given (after --)");
    };
    let mut c = lab.command(pod, program)?;
    c.args(args);
    let err = c.exec();
    Err(err).context(format!(
        "running {} in pod {pod}",
        program.to_string_lossy()
    ))
}

fn list(json: bool, state_dir: &Path) -> anyhow::Result<()> {
    let records = Lab::list(state_dir)?;
    let mut out = std::io::stdout().lock();
    if json {
        let ok: Vec<&LabRecord> = records.iter().filter_map(|r| r.as_ref().ok()).collect();
        serde_json::to_writer_pretty(&mut out, &ok)?;
        writeln!(out)?;
    } else if records.is_empty() {
        writeln!(out, "no labs")?;
    } else {
        let rows: Vec<[String; 5]> = records
            .iter()
            .map(|r| match r {
                Ok(r) => {
                    let netns = r.pods.iter().filter(|p| p.netns.is_some()).count();
                    [
                        r.name.clone(),
                        r.bridge.clone(),
                        format!("{netns} + {} host network", r.pods.len() - netns),
                        r.service_processes.len().to_string(),
                        presence(r),
                    ]
                }
                Err(e) => [
                    "?".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    format!("unreadable: {e}"),
                ],
            })
            .collect();
        let header = ["NAME", "BRIDGE", "PODS", "SERVICES", "STATUS"].map(String::from);
        write_table(&mut out, &header, &rows)?;
    }
    Ok(())
}

/// Whether what the record names is all there (a reboot or a hand-run `ip link del` can remove
/// parts; `down` still cleans up the rest and the record).
fn presence(r: &LabRecord) -> String {
    let mut missing = 0;
    let mut total = 1;
    if !Path::new("/sys/class/net").join(&r.bridge).exists() {
        missing += 1;
    }
    for ns in r.pods.iter().filter_map(|p| p.netns.as_ref()) {
        total += 1;
        if !Path::new("/run/netns").join(ns).exists() {
            missing += 1;
        }
    }
    match missing {
        0 => "up".into(),
        m if m == total => "gone (down removes the record)".into(),
        m => format!("partial: {m} of {total} bridge/namespaces missing"),
    }
}

/// The service process: binds everything, says `ready` (the only line it prints on stdout: `up`
/// waits for it), then echoes until SIGTERM or SIGINT.
fn serve(listen: &[Listen]) -> anyhow::Result<()> {
    let stop = crate::run_loop::stop_on_signals()?;
    let servers = EchoServers::start(listen).context("binding the echo servers")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    servers.stop();
    Ok(())
}
