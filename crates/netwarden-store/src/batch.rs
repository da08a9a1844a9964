//! Flows as Arrow record batches for DuckDB's appender, in the column order of
//! [`crate::layout`]: the fact rows, and the per-minute rollup rows summed from them. Typed
//! columns filled straight from the records (no per-value dynamic dispatch), and almost no text:
//! text costs DuckDB's appender a call per value.

use crate::dims::FlowIds;
use crate::layout::{FACT_COLUMNS, ROLLUP_COLUMNS};
use duckdb::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder, UInt16Builder,
    UInt32Builder, UInt64Builder, UInt8Builder,
};
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use netwarden_model::FlowRecord;
use netwarden_query::addr_key;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The two UBIGINT halves of an address key.
fn halves(ip: Option<IpAddr>) -> (Option<u64>, Option<u64>) {
    match ip {
        Some(ip) => {
            let k = addr_key(ip);
            (Some((k >> 64) as u64), Some(k as u64))
        }
        None => (None, None),
    }
}

/// A batch of `arrays`, which must be named as the table's `columns`, in order: the appender
/// goes by position, so a column out of place would be stored under another name.
fn batch(
    columns: &[(&str, &str)],
    arrays: Vec<(&str, ArrayRef)>,
) -> Result<RecordBatch, ArrowError> {
    let names = arrays.iter().map(|(n, _)| *n);
    if !names.eq(columns.iter().map(|(c, _)| *c)) {
        return Err(ArrowError::SchemaError(
            "batch columns are not the table's columns in order".into(),
        ));
    }
    RecordBatch::try_from_iter(arrays)
}

/// Fact rows of `rows` (each record with its dimension ids).
pub fn fact_batch(rows: &[(&FlowRecord, FlowIds)]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let i64s = || Int64Builder::with_capacity(n);
    let u64s = || UInt64Builder::with_capacity(n);
    let u32s = || UInt32Builder::with_capacity(n);
    let u16s = || UInt16Builder::with_capacity(n);
    let u8s = || UInt8Builder::with_capacity(n);
    let i32s = || Int32Builder::with_capacity(n);
    let texts = || StringBuilder::with_capacity(n, 0);
    let (mut received, mut start, mut end) = (i64s(), i64s(), i64s());
    let (mut src_hi, mut src_lo, mut dst_hi, mut dst_lo) = (u64s(), u64s(), u64s(), u64s());
    let (mut src_port, mut dst_port) = (i32s(), i32s());
    let (mut proto, mut etype, mut icmp_type, mut icmp_code) = (u8s(), u16s(), u8s(), u8s());
    let (mut bytes, mut packets, mut flags, mut dscp, mut sampling) =
        (u64s(), u64s(), u16s(), u8s(), u32s());
    let (mut drop_packets, mut drop_bytes) = (u64s(), u64s());
    let (mut drop_cause, mut drop_state, mut drop_flags) = (texts(), texts(), u16s());
    let (mut dns_id, mut dns_flags, mut dns_rcode) = (u16s(), u16s(), texts());
    let mut dns_latency = Float64Builder::with_capacity(n);
    let (mut dns_name, mut rtt) = (texts(), u64s());
    let (mut src_wl, mut dst_wl, mut src_ep, mut dst_ep, mut ctx, mut events) =
        (u32s(), u32s(), u32s(), u32s(), u32s(), u32s());
    for (r, ids) in rows {
        received.append_value(r.time_received);
        start.append_value(r.time_flow_start_ms);
        end.append_value(r.time_flow_end_ms);
        let [src, dst] = crate::dims::fact_addrs(r);
        let (h, l) = halves(src);
        src_hi.append_option(h);
        src_lo.append_option(l);
        let (h, l) = halves(dst);
        dst_hi.append_option(h);
        dst_lo.append_option(l);
        src_port.append_option(r.src_port.map(i32::from));
        dst_port.append_option(r.dst_port.map(i32::from));
        proto.append_value(r.proto);
        etype.append_value(r.etype);
        icmp_type.append_option(r.icmp_type);
        icmp_code.append_option(r.icmp_code);
        bytes.append_value(r.bytes);
        packets.append_value(r.packets);
        flags.append_option(r.flags);
        dscp.append_value(r.dscp);
        sampling.append_value(r.sampling);
        drop_packets.append_option(r.pkt_drop_packets);
        drop_bytes.append_option(r.pkt_drop_bytes);
        drop_cause.append_option(r.pkt_drop_latest_drop_cause.as_deref());
        drop_state.append_option(r.pkt_drop_latest_state.as_deref());
        drop_flags.append_option(r.pkt_drop_latest_flags);
        dns_id.append_option(r.dns_id);
        dns_flags.append_option(r.dns_flags);
        dns_rcode.append_option(r.dns_flags_response_code.as_deref());
        dns_latency.append_option(r.dns_latency_ms);
        dns_name.append_option(r.dns_name.as_deref());
        rtt.append_option(r.time_flow_rtt_ns);
        src_wl.append_value(ids.src_wl);
        dst_wl.append_value(ids.dst_wl);
        src_ep.append_value(ids.src_ep);
        dst_ep.append_value(ids.dst_ep);
        ctx.append_value(ids.ctx);
        events.append_value(ids.events);
    }
    let arrays: Vec<(&str, ArrayRef)> = vec![
        ("time_received", Arc::new(received.finish())),
        ("time_flow_start_ms", Arc::new(start.finish())),
        ("time_flow_end_ms", Arc::new(end.finish())),
        ("src_ip_hi", Arc::new(src_hi.finish())),
        ("src_ip_lo", Arc::new(src_lo.finish())),
        ("dst_ip_hi", Arc::new(dst_hi.finish())),
        ("dst_ip_lo", Arc::new(dst_lo.finish())),
        ("src_port", Arc::new(src_port.finish())),
        ("dst_port", Arc::new(dst_port.finish())),
        ("proto", Arc::new(proto.finish())),
        ("etype", Arc::new(etype.finish())),
        ("icmp_type", Arc::new(icmp_type.finish())),
        ("icmp_code", Arc::new(icmp_code.finish())),
        ("bytes", Arc::new(bytes.finish())),
        ("packets", Arc::new(packets.finish())),
        ("flags", Arc::new(flags.finish())),
        ("dscp", Arc::new(dscp.finish())),
        ("sampling", Arc::new(sampling.finish())),
        ("pkt_drop_packets", Arc::new(drop_packets.finish())),
        ("pkt_drop_bytes", Arc::new(drop_bytes.finish())),
        ("pkt_drop_latest_drop_cause", Arc::new(drop_cause.finish())),
        ("pkt_drop_latest_state", Arc::new(drop_state.finish())),
        ("pkt_drop_latest_flags", Arc::new(drop_flags.finish())),
        ("dns_id", Arc::new(dns_id.finish())),
        ("dns_flags", Arc::new(dns_flags.finish())),
        ("dns_flags_response_code", Arc::new(dns_rcode.finish())),
        ("dns_latency_ms", Arc::new(dns_latency.finish())),
        ("dns_name", Arc::new(dns_name.finish())),
        ("time_flow_rtt_ns", Arc::new(rtt.finish())),
        ("src_wl", Arc::new(src_wl.finish())),
        ("dst_wl", Arc::new(dst_wl.finish())),
        ("src_ep", Arc::new(src_ep.finish())),
        ("dst_ep", Arc::new(dst_ep.finish())),
        ("ctx", Arc::new(ctx.finish())),
        ("events", Arc::new(events.finish())),
    ];
    batch(FACT_COLUMNS, arrays)
}

/// What a rollup row is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RollupKey<'a> {
    pub minute_ms: i64,
    pub src_wl: u32,
    pub dst_wl: u32,
    pub events: u32,
    pub proto: u8,
    pub dst_port: Option<u16>,
    pub drop_cause: Option<&'a str>,
}

/// What a rollup row sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupSums {
    pub bytes: u64,
    pub packets: u64,
    pub drop_packets: u64,
    pub drop_bytes: u64,
    pub flows: u64,
}

/// Rollup rows by key (the keys are small and trusted: a fast hash, not SipHash).
pub type Rollup<'a> = HashMap<RollupKey<'a>, RollupSums, foldhash::fast::FixedState>;

/// The rollup rows of `rows`: one per minute and key.
pub fn rollup<'a>(rows: &[(&'a FlowRecord, FlowIds)]) -> Rollup<'a> {
    let mut out = Rollup::default();
    for (r, ids) in rows {
        let key = RollupKey {
            minute_ms: r.time_flow_end_ms.div_euclid(60_000) * 60_000,
            src_wl: ids.src_wl,
            dst_wl: ids.dst_wl,
            events: ids.events,
            proto: r.proto,
            dst_port: r.dst_port,
            drop_cause: r.pkt_drop_latest_drop_cause.as_deref(),
        };
        let s = out.entry(key).or_default();
        s.bytes = s.bytes.saturating_add(r.bytes);
        s.packets = s.packets.saturating_add(r.packets);
        s.drop_packets = s
            .drop_packets
            .saturating_add(r.pkt_drop_packets.unwrap_or(0));
        s.drop_bytes = s.drop_bytes.saturating_add(r.pkt_drop_bytes.unwrap_or(0));
        s.flows += 1;
    }
    out
}

/// Rollup rows as a batch.
pub fn rollup_batch(rows: &Rollup<'_>) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut minute = Int64Builder::with_capacity(n);
    let (mut src_wl, mut dst_wl, mut events) = (
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
    );
    let mut proto = UInt8Builder::with_capacity(n);
    let mut dst_port = Int32Builder::with_capacity(n);
    let mut cause = StringBuilder::with_capacity(n, 0);
    let mut sums: [UInt64Builder; 5] = std::array::from_fn(|_| UInt64Builder::with_capacity(n));
    for (k, s) in rows {
        minute.append_value(k.minute_ms);
        src_wl.append_value(k.src_wl);
        dst_wl.append_value(k.dst_wl);
        events.append_value(k.events);
        proto.append_value(k.proto);
        dst_port.append_option(k.dst_port.map(i32::from));
        cause.append_option(k.drop_cause);
        for (b, v) in
            sums.iter_mut()
                .zip([s.bytes, s.packets, s.drop_packets, s.drop_bytes, s.flows])
        {
            b.append_value(v);
        }
    }
    let mut arrays: Vec<(&str, ArrayRef)> = vec![
        ("minute_ms", Arc::new(minute.finish())),
        ("src_wl", Arc::new(src_wl.finish())),
        ("dst_wl", Arc::new(dst_wl.finish())),
        ("events", Arc::new(events.finish())),
        ("proto", Arc::new(proto.finish())),
        ("dst_port", Arc::new(dst_port.finish())),
        ("pkt_drop_latest_drop_cause", Arc::new(cause.finish())),
    ];
    let sum_names = [
        "bytes",
        "packets",
        "pkt_drop_packets",
        "pkt_drop_bytes",
        "flows",
    ];
    arrays.extend(
        sum_names
            .into_iter()
            .zip(sums.iter_mut())
            .map(|(n, b)| (n, Arc::new(b.finish()) as ArrayRef)),
    );
    batch(ROLLUP_COLUMNS, arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_have_the_tables_columns() {
        let rec = FlowRecord {
            src_addr: Some("10.0.0.1".parse().unwrap()),
            time_flow_end_ms: 125_000,
            bytes: 10,
            packets: 1,
            pkt_drop_packets: Some(1),
            ..Default::default()
        };
        let ids = FlowIds {
            src_wl: 1,
            dst_wl: 2,
            src_ep: 3,
            dst_ep: 4,
            ctx: 5,
            events: 6,
        };
        let rows = [(&rec, ids), (&rec, ids)];
        let facts = fact_batch(&rows).unwrap();
        assert_eq!(facts.num_columns(), FACT_COLUMNS.len());
        assert_eq!(facts.num_rows(), 2);
        let r = rollup(&rows);
        assert_eq!(r.len(), 1);
        let (k, s) = r.iter().next().unwrap();
        assert_eq!(k.minute_ms, 120_000);
        assert_eq!(
            *s,
            RollupSums {
                bytes: 20,
                packets: 2,
                drop_packets: 2,
                drop_bytes: 0,
                flows: 2
            }
        );
        let rb = rollup_batch(&r).unwrap();
        assert_eq!(rb.num_columns(), ROLLUP_COLUMNS.len());
        assert_eq!(rb.num_rows(), 1);
    }
}
