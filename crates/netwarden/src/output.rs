//! Record writers: JSON lines (NetObserv field names, one object per line) and a human table.

use netwarden_model::{tcp_flags, Direction, FlowRecord};
use std::io::Write;

/// Output format of `netwarden capture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
}

/// Writes records in one format to one writer.
pub struct RecordWriter {
    out: Box<dyn Write>,
    format: Format,
    header_done: bool,
    /// One line, built here first: serde_json writes in many small pieces, and each piece through
    /// `dyn Write` costs a call (a third of the agent's CPU at 10k records/s before this).
    line: Vec<u8>,
}

impl RecordWriter {
    pub fn new(out: Box<dyn Write>, format: Format) -> Self {
        Self {
            out,
            format,
            header_done: false,
            line: Vec::with_capacity(1024),
        }
    }

    pub fn write(&mut self, rec: &FlowRecord) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                self.line.clear();
                serde_json::to_writer(&mut self.line, rec)?;
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            }
            Format::Table => {
                if !self.header_done {
                    writeln!(
                        self.out,
                        "{:<41} {:<41} {:>5} {:>12} {:>8} {:<16} {:<24} EXTRA",
                        "SOURCE", "DESTINATION", "PROTO", "BYTES", "PACKETS", "FLAGS", "INTERFACES"
                    )?;
                    self.header_done = true;
                }
                writeln!(self.out, "{}", table_row(rec))
            }
        }
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn endpoint(addr: Option<std::net::IpAddr>, port: Option<u16>) -> String {
    let a = addr.map(|a| a.to_string()).unwrap_or_else(|| "?".into());
    match (addr, port) {
        (Some(std::net::IpAddr::V6(_)), Some(p)) => format!("[{a}]:{p}"),
        (_, Some(p)) => format!("{a}:{p}"),
        _ => a,
    }
}

fn table_row(r: &FlowRecord) -> String {
    let proto = match r.proto {
        1 => "ICMP".to_string(),
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        58 => "ICMP6".to_string(),
        132 => "SCTP".to_string(),
        n => n.to_string(),
    };
    let flags = r.flags.map(|f| {
        tcp_flags::names(f)
            .into_iter()
            .filter(|n| !n.contains('_'))
            .collect::<Vec<_>>()
            .join(",")
    });
    let ifaces: Vec<String> = r
        .interfaces
        .iter()
        .zip(&r.if_directions)
        .map(|(i, d)| format!("{i}{}", if *d == Direction::Ingress { "<" } else { ">" }))
        .collect();
    let mut extra = Vec::new();
    if let (Some(t), Some(c)) = (r.icmp_type, r.icmp_code) {
        extra.push(format!("icmp={t}/{c}"));
    }
    if let Some(n) = r.pkt_drop_packets {
        extra.push(format!(
            "drops={n} ({})",
            r.pkt_drop_latest_drop_cause
                .as_deref()
                .unwrap_or("?")
                .trim_start_matches("SKB_DROP_REASON_")
        ));
    }
    if let Some(id) = r.dns_id {
        let mut dns = format!("dns id={id}");
        if let Some(name) = &r.dns_name {
            dns.push_str(&format!(" {name}"));
        }
        if let Some(rc) = &r.dns_flags_response_code {
            dns.push_str(&format!(" {rc}"));
        }
        if let Some(ms) = r.dns_latency_ms {
            dns.push_str(&format!(" {ms:.3}ms"));
        }
        extra.push(dns);
    }
    if let Some(rtt) = r.time_flow_rtt_ns {
        extra.push(format!("rtt={:.3}ms", rtt as f64 / 1e6));
    }
    format!(
        "{:<41} {:<41} {:>5} {:>12} {:>8} {:<16} {:<24} {}",
        endpoint(r.src_addr, r.src_port),
        endpoint(r.dst_addr, r.dst_port),
        proto,
        r.bytes,
        r.packets,
        flags.unwrap_or_default(),
        ifaces.join(","),
        extra.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_row_shows_endpoints_flags_and_extras() {
        let rec = FlowRecord {
            src_addr: Some("fd00::1".parse().unwrap()),
            dst_addr: Some("10.0.0.2".parse().unwrap()),
            src_port: Some(40000),
            dst_port: Some(53),
            proto: 6,
            bytes: 1500,
            packets: 3,
            flags: Some(0x112),
            interfaces: vec!["eth0".into(), "veth1".into()],
            if_directions: vec![Direction::Ingress, Direction::Egress],
            pkt_drop_packets: Some(1),
            pkt_drop_latest_drop_cause: Some("SKB_DROP_REASON_NO_SOCKET".into()),
            time_flow_rtt_ns: Some(1_500_000),
            ..Default::default()
        };
        let row = table_row(&rec);
        assert!(row.starts_with("[fd00::1]:40000"), "{row}");
        assert!(row.contains("10.0.0.2:53"), "{row}");
        assert!(row.contains("SYN,ACK "), "{row}");
        assert!(row.contains("eth0<,veth1>"), "{row}");
        assert!(row.contains("drops=1 (NO_SOCKET)"), "{row}");
        assert!(row.contains("rtt=1.500ms"), "{row}");
    }

    #[test]
    fn json_is_one_object_per_line() {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = RecordWriter::new(Box::new(Shared(buf.clone())), Format::Json);
        w.write(&FlowRecord {
            proto: 17,
            ..Default::default()
        })
        .unwrap();
        w.write(&FlowRecord {
            proto: 6,
            ..Default::default()
        })
        .unwrap();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["Proto"], 6);
    }
}
