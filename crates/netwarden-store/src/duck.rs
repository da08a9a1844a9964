//! The DuckDB flow store: hourly partition tables in one database file, appended in batches
//! (one transaction per batch, so a crash loses at most the batch in flight), read through
//! cloned connections so queries never wait for each other.

use crate::error::StoreError;
use crate::partition::{self, PARTITION_MS};
use crate::result::{self, Rows};
use crate::FlowStore;
use duckdb::{params_from_iter, Config, Connection};
use netwarden_model::FlowRecord;
use netwarden_query::fields::Field;
use netwarden_query::{self as query, FlowQuery, Level, Metric, Param, Scope, Sql};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tracing::{debug, info};

/// The schema this code writes and reads; bumped whenever a table changes shape.
pub const SCHEMA_VERSION: u32 = 1;

/// The empty table queries read when no partition overlaps their range.
const EMPTY: &str = "flows_empty";

/// How the store is opened; every field has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// DuckDB's memory limit (its default, 80% of RAM, is far too much next to capture).
    pub memory_limit: String,
    /// Threads DuckDB may use for one query.
    pub threads: u32,
    /// Partitions older than this are dropped.
    pub max_age: Duration,
    /// Oldest partitions are dropped while the database uses more than this.
    pub max_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            memory_limit: "256MB".into(),
            threads: 2,
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 2 << 30,
        }
    }
}

/// Facts about what is stored.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    pub flows: u64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    pub partitions: usize,
    /// Bytes of database blocks in use.
    pub bytes_used: u64,
}

/// What a retention pass dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionReport {
    pub dropped_partitions: Vec<String>,
    pub bytes_used: u64,
}

/// A page of flows with the number the query matches.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlowPage {
    pub flows: Vec<serde_json::Map<String, serde_json::Value>>,
    pub total: u64,
}

pub struct DuckStore {
    path: PathBuf,
    /// The connection that writes (appends, DDL, retention); readers clone it.
    writer: Mutex<Connection>,
    /// Hours that have a partition table.
    partitions: Mutex<BTreeSet<i64>>,
    opts: StoreOptions,
}

fn to_sql_value(p: &Param) -> duckdb::types::Value {
    use duckdb::types::Value;
    match p {
        Param::Text(s) => Value::Text(s.clone()),
        Param::Int(i) => Value::BigInt(*i),
        Param::UInt(u) => Value::UBigInt(*u),
        Param::HugeInt(h) => Value::HugeInt(*h),
        Param::Float(f) => Value::Double(*f),
    }
}

impl DuckStore {
    /// Opens (or creates) the store at `path` (a database file; its directory is created).
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Invalid(format!("creating {}: {e}", dir.display())))?;
        }
        let config = Config::default()
            .max_memory(&opts.memory_limit)
            .and_then(|c| c.threads(i64::from(opts.threads.max(1))))
            // Everything DuckDB needs is built in; nothing is fetched at run time.
            .and_then(|c| c.enable_autoload_extension(false))
            .map_err(open_err)?;
        let conn = Connection::open_with_flags(path, config).map_err(open_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS netwarden_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        )?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM netwarden_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .ok();
        match found {
            None => {
                conn.execute(
                    "INSERT INTO netwarden_meta VALUES ('schema_version', ?)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError::Schema {
                    path: path.to_path_buf(),
                    found: v,
                    expected: SCHEMA_VERSION,
                })
            }
        }
        conn.execute_batch(&query::fields::create_table_sql(EMPTY)?)?;
        let mut partitions = BTreeSet::new();
        {
            let mut stmt = conn.prepare("SELECT table_name FROM duckdb_tables()")?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for name in names {
                if let Some(hour) = partition::parse_table(&name?) {
                    partitions.insert(hour);
                }
            }
        }
        info!(path = %path.display(), partitions = partitions.len(), "flow store open");
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            partitions: Mutex::new(partitions),
            opts,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn partitions(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for one query (DuckDB runs queries of different connections in parallel).
    fn reader(&self) -> Result<Connection, StoreError> {
        Ok(self.writer().try_clone()?)
    }

    /// The FROM source for flows ending in `[since, until)`.
    fn source(&self, since_ms: Option<i64>, until_ms: Option<i64>) -> String {
        let all: Vec<i64> = self.partitions().iter().copied().collect();
        let tables: Vec<String> = partition::overlapping(&all, since_ms, until_ms)
            .into_iter()
            .map(partition::table)
            .collect();
        partition::from_source(&tables, EMPTY)
    }

    fn run(&self, sql: &Sql) -> Result<Rows, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(&sql.text)?;
        let params: Vec<duckdb::types::Value> = sql.params.iter().map(to_sql_value).collect();
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut values = Vec::new();
        while let Some(r) = rows.next()? {
            let n = r.as_ref().column_count();
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(r.get::<_, duckdb::types::Value>(i)?);
            }
            values.push(out);
        }
        let columns = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
        Ok(Rows { columns, values })
    }

    /// Bytes in use: the database blocks in use (not the file's length: DuckDB reuses freed
    /// blocks rather than shrinking it) plus the write-ahead log, which holds recent batches
    /// until a checkpoint moves them into blocks.
    fn bytes_used(&self) -> Result<u64, StoreError> {
        let conn = self.reader()?;
        let (block_size, used): (i64, i64) = conn.query_row(
            "SELECT block_size, used_blocks FROM pragma_database_size() LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut wal = self.path.clone().into_os_string();
        wal.push(".wal");
        let wal = std::fs::metadata(&wal).map_or(0, |m| m.len());
        Ok((block_size.max(0) as u64) * (used.max(0) as u64) + wal)
    }

    fn drop_partition(&self, hour: i64, report: &mut RetentionReport) -> Result<(), StoreError> {
        let table = partition::table(hour);
        self.writer()
            .execute_batch(&format!("DROP TABLE IF EXISTS {table}"))?;
        self.partitions().remove(&hour);
        info!(%table, "partition dropped (retention)");
        report.dropped_partitions.push(table);
        Ok(())
    }

    /// Writes everything to the database file (DuckDB also does so on its own).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.writer().execute_batch("CHECKPOINT")?;
        Ok(())
    }
}

impl FlowStore for DuckStore {
    /// Appends `records` in one transaction: after a crash either all of them are there or none.
    fn insert(&self, records: &[FlowRecord]) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut by_hour: BTreeMap<i64, Vec<&FlowRecord>> = BTreeMap::new();
        for r in records {
            by_hour
                .entry(partition::hour_of(r.time_flow_end_ms).max(0))
                .or_default()
                .push(r);
        }
        let conn = self.writer();
        let mut known = self.partitions();
        for hour in by_hour.keys() {
            if !known.contains(hour) {
                conn.execute_batch(&query::fields::create_table_sql(&partition::table(*hour))?)?;
                known.insert(*hour);
                debug!(table = %partition::table(*hour), "partition created");
            }
        }
        drop(known);
        conn.execute_batch("BEGIN TRANSACTION")?;
        let appended = (|| -> Result<(), StoreError> {
            for (hour, recs) in &by_hour {
                let mut app = conn.appender(&partition::table(*hour))?;
                app.append_record_batch(crate::batch::record_batch(recs.iter().copied())?)?;
                app.flush()?;
            }
            Ok(())
        })();
        match appended {
            Ok(()) => {
                conn.execute_batch("COMMIT")?;
                Ok(records.len())
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// A page of flows and how many the query matches.
    fn flows(&self, q: &FlowQuery) -> Result<FlowPage, StoreError> {
        let from = self.source(q.since_ms, q.until_ms);
        let page = self.run(&query::flows_sql(q, &from))?;
        let total = self.run(&query::count_sql(q, &from))?;
        Ok(FlowPage {
            flows: page.values.iter().map(|r| result::flow_json(r)).collect(),
            total: total.first_u64().unwrap_or(0),
        })
    }

    /// The top `n` groups by `metric`.
    fn top(
        &self,
        group_by: &[&Field],
        metric: Metric,
        n: u32,
        scope: &Scope,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let from = self.source(scope.since_ms, scope.until_ms);
        let rows = self.run(&query::top_sql(group_by, metric, n, scope, &from))?;
        Ok(result::top_json(&rows))
    }

    /// Time series of `metric` in buckets of `step_ms`, per group when `by` is given.
    fn series(
        &self,
        step_ms: i64,
        metric: Metric,
        by: Option<&Field>,
        top_groups: u32,
        scope: &Scope,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let from = self.source(scope.since_ms, scope.until_ms);
        let sql = query::series_sql(step_ms, metric, by, top_groups, scope, &from)?;
        Ok(result::series_json(&self.run(&sql)?, by.is_some()))
    }

    /// Nodes and edges of the traffic graph at `level`.
    fn topology(
        &self,
        level: Level,
        scope: &Scope,
        max_edges: u32,
    ) -> Result<serde_json::Value, StoreError> {
        let from = self.source(scope.since_ms, scope.until_ms);
        let rows = self.run(&query::topology_sql(level, scope, &from, max_edges))?;
        Ok(result::topology_json(level, &rows))
    }

    /// The most frequent values of `field` starting with `prefix`.
    fn values(
        &self,
        field: &Field,
        prefix: &str,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let from = self.source(scope.since_ms, scope.until_ms);
        let rows = self.run(&query::values_sql(field, prefix, scope, &from, limit))?;
        Ok(rows
            .values
            .iter()
            .filter_map(|r| r.first().map(result::json_value))
            .filter(|v| !v.is_null())
            .collect())
    }

    /// What is stored.
    fn stats(&self) -> Result<StoreStats, StoreError> {
        let from = self.source(None, None);
        let time = query::fields::time_field().column;
        let rows = self.run(&Sql {
            text: format!("SELECT count(*), min({time}), max({time}) FROM {from}"),
            params: Vec::new(),
        })?;
        let first = rows.values.first();
        let int = |i: usize| first.and_then(|r| r.get(i)).and_then(result::as_i64);
        Ok(StoreStats {
            flows: int(0).unwrap_or(0).max(0) as u64,
            oldest_ms: int(1),
            newest_ms: int(2),
            partitions: self.partitions().len(),
            bytes_used: self.bytes_used()?,
        })
    }

    /// Drops partitions older than the maximum age at `now_ms`, then the oldest ones while the
    /// database is over its size (the newest partition always stays).
    fn enforce_retention(&self, now_ms: i64) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        let max_age = i64::try_from(self.opts.max_age.as_millis()).unwrap_or(i64::MAX);
        let cutoff_ms = now_ms.saturating_sub(max_age);
        let expired: Vec<i64> = self
            .partitions()
            .iter()
            .copied()
            // Expired when all of it ended before the cutoff.
            .filter(|h| (h + 1).saturating_mul(PARTITION_MS) <= cutoff_ms)
            .collect();
        for hour in expired {
            self.drop_partition(hour, &mut report)?;
        }
        loop {
            let used = self.bytes_used()?;
            report.bytes_used = used;
            let oldest = {
                let p = self.partitions();
                (p.len() > 1).then(|| p.iter().next().copied()).flatten()
            };
            match oldest {
                Some(hour) if used > self.opts.max_bytes => {
                    self.drop_partition(hour, &mut report)?;
                    // Freed blocks are counted once the drop is checkpointed.
                    self.writer().execute_batch("CHECKPOINT")?;
                }
                _ => break,
            }
        }
        Ok(report)
    }
}
