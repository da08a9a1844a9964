//! Throughput between the bench namespaces, measured by iperf3 at the receiver.

use super::lab::{BenchLab, SERVER4};
use anyhow::{bail, Context};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// What one iperf3 run moved.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub bits_per_second: f64,
    pub packets_per_second: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// One TCP stream, as fast as it goes.
    BulkTcp,
    /// UDP with 64-byte payloads, unthrottled: the per-packet cost dominates.
    SmallUdp,
}

/// Payload bytes of a small UDP datagram.
pub const SMALL_UDP_PAYLOAD: usize = 64;

/// An iperf3 server in the server namespace, stopped on drop.
pub struct Iperf3Server(Child);

impl Iperf3Server {
    pub fn start(lab: &BenchLab) -> anyhow::Result<Self> {
        let child = lab
            .server
            .command("iperf3")
            .args(["-s", "-B", SERVER4])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 (install it with scripts/setup.sh)")?;
        let server = Self(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = lab
                .server
                .command("ss")
                .args(["-Hltn", "sport = :5201"])
                .output()
                .context("running ss")?;
            if !out.stdout.is_empty() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("iperf3 server did not start listening within 10 s")
    }
}

impl Drop for Iperf3Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One iperf3 client run of `secs` seconds from the client namespace.
pub fn run(lab: &BenchLab, load: Load, secs: u32) -> anyhow::Result<Rate> {
    let secs_arg = secs.to_string();
    let len = SMALL_UDP_PAYLOAD.to_string();
    let mut args = vec!["-c", SERVER4, "-t", &secs_arg, "-J"];
    if load == Load::SmallUdp {
        args.extend(["-u", "-l", &len, "-b", "0"]);
    }
    let out = lab
        .client
        .command("iperf3")
        .args(&args)
        .output()
        .context("running iperf3")?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "iperf3 printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if let Some(err) = json.get("error").and_then(|e| e.as_str()) {
        bail!("iperf3: {err}");
    }
    let received = &json["end"]["sum_received"];
    let (Some(bps), Some(bytes), Some(seconds)) = (
        received["bits_per_second"].as_f64(),
        received["bytes"].as_f64(),
        received["seconds"].as_f64(),
    ) else {
        bail!("iperf3 JSON has no end.sum_received");
    };
    let packets_per_second = match load {
        Load::SmallUdp => bytes / SMALL_UDP_PAYLOAD as f64 / seconds.max(1e-9),
        Load::BulkTcp => 0.0,
    };
    Ok(Rate {
        bits_per_second: bps,
        packets_per_second,
    })
}
