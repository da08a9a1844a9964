//! Generated UDP flows from the client namespace, paced: either a fixed set of flows kept active,
//! or a stream where every packet opens a new flow.

use super::lab::{BenchLab, CLIENT4, FLOW_BASE, FLOW_SPAN};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    /// These many flows, each sent to in turn.
    Active(u32),
    /// Every packet to a destination not used before (within 4 Mi).
    New,
}

/// A running generator; `stop` ends it and returns the packets sent.
pub struct FlowGen {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<std::io::Result<u64>>,
}

const BATCH: u64 = 64;

impl FlowGen {
    pub fn start(
        lab: &BenchLab,
        pattern: Pattern,
        packets_per_second: u32,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = lab.client.spawn(move || -> std::io::Result<u64> {
            let sock = UdpSocket::bind((CLIENT4, 0))?;
            let payload = [0u8; 32];
            let start = Instant::now();
            let mut sent: u64 = 0;
            while !flag.load(Ordering::Relaxed) {
                for _ in 0..BATCH {
                    let n = match pattern {
                        Pattern::Active(flows) => (sent % u64::from(flows.max(1))) as u32,
                        Pattern::New => (sent % u64::from(FLOW_SPAN)) as u32,
                    };
                    let dst = SocketAddrV4::new(Ipv4Addr::from(FLOW_BASE + n), 9);
                    // A full queue drops the packet here; the flow still counts as sent to.
                    let _ = sock.send_to(&payload, dst);
                    sent += 1;
                }
                let due =
                    start + Duration::from_secs_f64(sent as f64 / f64::from(packets_per_second));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            Ok(sent)
        })?;
        Ok(Self { stop, handle })
    }

    pub fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok(r) => Ok(r?),
            Err(_) => anyhow::bail!("the flow generator panicked"),
        }
    }
}
