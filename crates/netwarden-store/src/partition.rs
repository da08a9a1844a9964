//! Time partitions: one table per hour of `TimeFlowEndMs`, so that retention drops whole tables
//! (no row-by-row deletes) and a query reads only the hours its time range touches.

/// Width of a partition.
pub const PARTITION_MS: i64 = 3_600_000;

/// Prefix of partition table names: `flows_h<hours since the epoch>`.
const PREFIX: &str = "flows_h";

/// The partition holding flows that ended at `end_ms`.
pub fn hour_of(end_ms: i64) -> i64 {
    end_ms.div_euclid(PARTITION_MS)
}

/// The table of partition `hour` (a plain identifier: only digits are added to the prefix).
pub fn table(hour: i64) -> String {
    // Negative hours (clocks before 1970) would put a '-' in the name.
    format!("{PREFIX}{}", hour.max(0))
}

/// The rollup table of partition `hour`: `rollup_h<hours since the epoch>`.
pub fn rollup_table(hour: i64) -> String {
    format!("rollup_h{}", hour.max(0))
}

/// The hour of a partition table name, `None` for other tables.
pub fn parse_table(name: &str) -> Option<i64> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The partitions among `all` (sorted hours) that can hold flows ending in `[since, until)`.
pub fn overlapping(all: &[i64], since_ms: Option<i64>, until_ms: Option<i64>) -> Vec<i64> {
    let first = since_ms.map(hour_of);
    // `until` is exclusive: a flow ending at until-1 is in hour_of(until - 1).
    let last = until_ms.map(|u| hour_of(u.saturating_sub(1)));
    all.iter()
        .copied()
        .filter(|h| first.is_none_or(|f| *h >= f) && last.is_none_or(|l| *h <= l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip() {
        assert_eq!(table(472_222), "flows_h472222");
        assert_eq!(parse_table("flows_h472222"), Some(472_222));
        assert_eq!(parse_table("flows_h"), None);
        assert_eq!(parse_table("flows_h12x"), None);
        assert_eq!(parse_table("other"), None);
        assert_eq!(table(-3), "flows_h0");
    }

    #[test]
    fn a_range_reads_only_the_hours_it_touches() {
        let all = [10, 11, 12, 13];
        let h = PARTITION_MS;
        assert_eq!(overlapping(&all, None, None), vec![10, 11, 12, 13]);
        assert_eq!(overlapping(&all, Some(11 * h + 5), None), vec![11, 12, 13]);
        assert_eq!(overlapping(&all, Some(11 * h), Some(12 * h)), vec![11]);
        assert_eq!(
            overlapping(&all, Some(11 * h), Some(12 * h + 1)),
            vec![11, 12]
        );
        assert_eq!(overlapping(&all, Some(20 * h), None), Vec::<i64>::new());
    }
}
