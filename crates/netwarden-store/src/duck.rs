//! The DuckDB flow store: hourly partitions (a fact table and a rollup table per hour) and
//! dimension tables in one database file (see [`crate::layout`]), appended in batches (one
//! transaction per batch, dimensions included, so a crash loses at most the batch in flight),
//! read through cloned connections so queries never wait for each other.

use crate::batch;
use crate::dims::{self, Dims, FlowIds};
use crate::error::StoreError;
use crate::layout::{self, Dim, RollupRange, SOURCE};
use crate::partition::{self, PARTITION_MS};
use crate::result::{self, Rows};
use crate::FlowStore;
use duckdb::{params, params_from_iter, Config, Connection};
use netwarden_model::FlowRecord;
use netwarden_query::fields::Field;
use netwarden_query::{self as query, FlowQuery, Level, Metric, Param, Scope, Sql};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tracing::{debug, info};

/// The schema this code writes and reads; bumped whenever a table changes shape.
pub const SCHEMA_VERSION: u32 = 2;

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
    /// Rows of the dimension tables (identities, contexts, event sets the flows refer to).
    pub dimension_rows: u64,
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
    /// Hours that have a partition (fact and rollup tables), with their row counts.
    partitions: Mutex<BTreeMap<i64, PartitionRows>>,
    /// Dimension ids; locked after `writer` when both are needed.
    dims: Mutex<Dims>,
    opts: StoreOptions,
}

/// Rows of one partition's tables.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct PartitionRows {
    facts: u64,
    rollups: u64,
}

/// Rollups are read only when they hold at most this share of the facts they stand for: with
/// too many distinct keys a minute (any pod to any pod on many ports), joining the rollups' names
/// costs more than grouping the facts.
const ROLLUP_MAX_SHARE: u64 = 4;

fn to_sql_value(p: &Param) -> duckdb::types::Value {
    use duckdb::types::Value;
    match p {
        Param::Text(s) => Value::Text(s.clone()),
        Param::Int(i) => Value::BigInt(*i),
        Param::UInt(u) => Value::UBigInt(*u),
        Param::AddrKey(k) => Value::UHugeInt(*k),
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
        conn.execute_batch(&layout::create_sql(EMPTY, layout::FACT_COLUMNS))?;
        for dim in layout::DIMS {
            conn.execute_batch(&layout::create_dim_sql(dim))?;
        }
        conn.execute_batch(layout::ADDR_TEXT_MACRO)?;
        let dims = load_dims(&conn)?;
        let mut partitions = BTreeMap::new();
        {
            let mut stmt = conn.prepare("SELECT table_name FROM duckdb_tables()")?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for name in names {
                if let Some(hour) = partition::parse_table(&name?) {
                    partitions.insert(hour, PartitionRows::default());
                }
            }
        }
        for (hour, rows) in partitions.iter_mut() {
            let count = |table: String| -> Result<u64, StoreError> {
                let n: i64 =
                    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                Ok(n.max(0) as u64)
            };
            rows.facts = count(partition::table(*hour))?;
            rows.rollups = count(partition::rollup_table(*hour))?;
        }
        info!(path = %path.display(), partitions = partitions.len(), "flow store open");
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            partitions: Mutex::new(partitions),
            dims: Mutex::new(dims),
            opts,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn partitions(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, PartitionRows>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for one query (DuckDB runs queries of different connections in parallel).
    fn reader(&self) -> Result<Connection, StoreError> {
        Ok(self.writer().try_clone()?)
    }

    fn dims(&self) -> std::sync::MutexGuard<'_, Dims> {
        self.dims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The partitions that can hold flows ending in `[since, until)`.
    fn hours(&self, since_ms: Option<i64>, until_ms: Option<i64>) -> Vec<i64> {
        let all: Vec<i64> = self.partitions().keys().copied().collect();
        partition::overlapping(&all, since_ms, until_ms)
    }

    /// Whether a top table or series grouping by `groups` over `scope`, in buckets of `step_ms`,
    /// reads the rollups: it groups and filters on rollup keys only, its buckets are whole
    /// minutes, its range holds a whole minute, and the rollups are much smaller than the flows.
    pub fn reads_rollups(&self, groups: &[&Field], scope: &Scope, step_ms: Option<i64>) -> bool {
        let filter_fields = scope.filter.map(|f| f.fields()).unwrap_or_default();
        let keys_only = groups
            .iter()
            .copied()
            .chain(filter_fields)
            .all(|f| layout::ROLLUP_FIELDS.contains(&f.name));
        let whole_buckets = step_ms.is_none_or(|s| s % 60_000 == 0);
        let range = RollupRange {
            since_ms: scope.since_ms,
            until_ms: scope.until_ms,
        };
        if !(keys_only && whole_buckets && range.has_whole_minute()) {
            return false;
        }
        // With no flows in range the facts answer (and the rollup source always has a table).
        let hours = self.hours(scope.since_ms, scope.until_ms);
        let p = self.partitions();
        let (facts, rollups) = hours
            .iter()
            .filter_map(|h| p.get(h))
            .fold((0u64, 0u64), |(f, r), rows| {
                (f + rows.facts, r + rows.rollups)
            });
        facts > 0 && rollups.saturating_mul(ROLLUP_MAX_SHARE) <= facts
    }

    /// `sql` (compiled with [`SOURCE`] as its FROM) reading stored flows ending in
    /// `[since, until)`, from the rollups when `rollups` (see [`Self::reads_rollups`]).
    fn sourced(
        &self,
        mut sql: Sql,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        rollups: bool,
    ) -> Sql {
        let hours = self.hours(since_ms, until_ms);
        let facts: Vec<String> = hours.iter().map(|h| partition::table(*h)).collect();
        let source = if rollups {
            let rollups: Vec<String> = hours.iter().map(|h| partition::rollup_table(*h)).collect();
            let range = RollupRange { since_ms, until_ms };
            layout::rollup_source(&rollups, &facts, range, &sql.text)
        } else {
            layout::raw_source(&facts, EMPTY, &sql.text)
        };
        sql.text = sql.text.replace(SOURCE, &source);
        sql
    }

    fn run(&self, sql: &Sql) -> Result<Rows, StoreError> {
        let conn = self.reader()?;
        debug!(sql = %sql.text, "query");
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
        let rollup = partition::rollup_table(hour);
        self.writer().execute_batch(&format!(
            "BEGIN TRANSACTION; DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {rollup}; COMMIT"
        ))?;
        self.partitions().remove(&hour);
        info!(%table, "partition dropped (retention)");
        report.dropped_partitions.push(table);
        Ok(())
    }

    /// Deletes the dimension rows no remaining partition refers to (after partitions are
    /// dropped), so dimensions live as long as the flows that use them.
    fn prune_dims(&self) -> Result<usize, StoreError> {
        let conn = self.writer();
        let hours: Vec<i64> = self.partitions().keys().copied().collect();
        let mut dims = self.dims();
        let mut pruned = 0;
        for dim in layout::DIMS {
            let mut refs = Vec::new();
            for h in &hours {
                for (column, _) in dim.refs {
                    refs.push(format!(
                        "SELECT {column} AS id FROM {}",
                        partition::table(*h)
                    ));
                    if dim.in_rollups {
                        refs.push(format!(
                            "SELECT {column} AS id FROM {}",
                            partition::rollup_table(*h)
                        ));
                    }
                }
            }
            let where_unused = if refs.is_empty() {
                String::new()
            } else {
                format!(" WHERE id NOT IN ({})", refs.join(" UNION "))
            };
            let ids: Vec<u32> = {
                let delete = format!("DELETE FROM {}{where_unused} RETURNING id", dim.table);
                let mut stmt = conn.prepare(&delete)?;
                let rows = stmt.query_map([], |r| r.get::<_, u32>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for id in &ids {
                dims_remove(&mut dims, dim, *id);
            }
            pruned += ids.len();
        }
        Ok(pruned)
    }

    /// Writes everything to the database file (DuckDB also does so on its own).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.writer().execute_batch("CHECKPOINT")?;
        Ok(())
    }
}

fn addr_text(ip: Option<std::net::IpAddr>) -> (Option<u128>, Option<String>) {
    (ip.map(query::addr_key), ip.map(|i| i.to_string()))
}

/// Appends the dimension rows handed out since the last commit.
fn append_pending_dims(conn: &Connection, dims: &Dims) -> Result<(), StoreError> {
    let mut app = conn.appender(layout::WORKLOADS.table)?;
    for (id, w) in dims.workloads.pending() {
        app.append_row(params![
            id,
            w.namespace.as_deref(),
            w.owner_name.as_deref(),
            w.owner_type.as_deref()
        ])?;
    }
    app.flush()?;
    let mut app = conn.appender(layout::ENDPOINTS.table)?;
    for (id, e) in dims.endpoints.pending() {
        let (key, addr) = addr_text(e.host_ip);
        app.append_row(params![
            id,
            e.ip.map(query::addr_key),
            e.mac.as_deref(),
            e.name.as_deref(),
            e.kind.as_deref(),
            key,
            addr,
            e.host_name.as_deref(),
            e.network_name.as_deref()
        ])?;
    }
    app.flush()?;
    let mut app = conn.appender(layout::CONTEXTS.table)?;
    for (id, c) in dims.contexts.pending() {
        let (key, addr) = addr_text(c.agent_ip);
        let directions: Vec<String> = c
            .if_directions
            .iter()
            .map(|d| u8::from(*d).to_string())
            .collect();
        app.append_row(params![
            id,
            c.interfaces.join(","),
            directions.join(","),
            key,
            addr,
            c.flow_layer.as_deref()
        ])?;
    }
    app.flush()?;
    let mut app = conn.appender(layout::EVENTS.table)?;
    for (id, e) in dims.events.pending() {
        let (json, messages) = if e.0.is_empty() {
            (None, None)
        } else {
            let messages: Vec<&str> =
                e.0.iter()
                    .filter_map(|v| v.get("Message").and_then(|m| m.as_str()))
                    .collect();
            (
                Some(serde_json::Value::Array(e.0.to_vec()).to_string()),
                Some(messages.join("\n")),
            )
        };
        app.append_row(params![id, json, messages])?;
    }
    app.flush()?;
    Ok(())
}

fn dims_remove(dims: &mut Dims, dim: &Dim, id: u32) {
    match dim.table {
        t if t == layout::WORKLOADS.table => dims.workloads.remove(id),
        t if t == layout::ENDPOINTS.table => dims.endpoints.remove(id),
        t if t == layout::CONTEXTS.table => dims.contexts.remove(id),
        _ => dims.events.remove(id),
    }
}

fn owned(s: Option<String>) -> Option<std::borrow::Cow<'static, str>> {
    s.map(std::borrow::Cow::Owned)
}

/// Runs `f` on each row of `columns` of dimension `dim`.
fn each_dim_row(
    conn: &Connection,
    dim: &Dim,
    columns: &str,
    mut f: impl FnMut(&duckdb::Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT id, {columns} FROM {}", dim.table))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        f(r)?;
    }
    Ok(())
}

/// The dictionaries of the dimension rows stored.
fn load_dims(conn: &Connection) -> Result<Dims, StoreError> {
    use std::borrow::Cow;
    let mut d = Dims::default();
    let ip = |k: Option<u128>| k.map(query::key_addr);
    let columns = "k8s_namespace, k8s_owner_name, k8s_owner_type";
    each_dim_row(conn, &layout::WORKLOADS, columns, |r| {
        let key = dims::Workload {
            namespace: owned(r.get(1)?),
            owner_name: owned(r.get(2)?),
            owner_type: owned(r.get(3)?),
        };
        d.workloads.load(r.get(0)?, key);
        Ok(())
    })?;
    let columns = "ep_ip, mac, k8s_name, k8s_type, k8s_host_ip, k8s_host_name, k8s_network_name";
    each_dim_row(conn, &layout::ENDPOINTS, columns, |r| {
        let key = dims::Endpoint {
            ip: ip(r.get(1)?),
            mac: owned(r.get(2)?),
            name: owned(r.get(3)?),
            kind: owned(r.get(4)?),
            host_ip: ip(r.get(5)?),
            host_name: owned(r.get(6)?),
            network_name: owned(r.get(7)?),
        };
        d.endpoints.load(r.get(0)?, key);
        Ok(())
    })?;
    let columns = "interfaces, if_directions, agent_ip, k8s_flow_layer";
    each_dim_row(conn, &layout::CONTEXTS, columns, |r| {
        let interfaces: String = r.get(1)?;
        let directions: String = r.get(2)?;
        let key = dims::Context {
            interfaces: Cow::Owned(
                interfaces
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            if_directions: Cow::Owned(
                directions
                    .split(',')
                    .filter_map(|s| s.parse::<u8>().ok())
                    .filter_map(|b| netwarden_model::Direction::try_from(b).ok())
                    .collect(),
            ),
            agent_ip: ip(r.get(3)?),
            flow_layer: owned(r.get(4)?),
        };
        d.contexts.load(r.get(0)?, key);
        Ok(())
    })?;
    each_dim_row(conn, &layout::EVENTS, "network_events", |r| {
        let json: Option<String> = r.get(1)?;
        let events: Vec<serde_json::Value> = match json {
            Some(j) => serde_json::from_str(&j)
                .map_err(|e| StoreError::Invalid(format!("stored network events {j:?}: {e}")))?,
            None => Vec::new(),
        };
        d.events.load(r.get(0)?, dims::Events(Cow::Owned(events)));
        Ok(())
    })?;
    Ok(d)
}

impl FlowStore for DuckStore {
    /// Appends `records` in one transaction, with the dimension rows and rollups they add: after
    /// a crash either all of them are there or none.
    fn insert(&self, records: &[FlowRecord]) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let conn = self.writer();
        let mut dims = self.dims();
        let mut by_hour: BTreeMap<i64, Vec<(&FlowRecord, FlowIds)>> = BTreeMap::new();
        let mut added: BTreeMap<i64, PartitionRows> = BTreeMap::new();
        for r in records {
            by_hour
                .entry(partition::hour_of(r.time_flow_end_ms).max(0))
                .or_default()
                .push((r, dims.ids(r)));
        }
        let mut known = self.partitions();
        for hour in by_hour.keys() {
            if !known.contains_key(hour) {
                conn.execute_batch(&layout::create_sql(
                    &partition::table(*hour),
                    layout::FACT_COLUMNS,
                ))?;
                conn.execute_batch(&layout::create_sql(
                    &partition::rollup_table(*hour),
                    layout::ROLLUP_COLUMNS,
                ))?;
                known.insert(*hour, PartitionRows::default());
                debug!(table = %partition::table(*hour), "partition created");
            }
        }
        drop(known);
        conn.execute_batch("BEGIN TRANSACTION")?;
        let appended = (|| -> Result<(), StoreError> {
            append_pending_dims(&conn, &dims)?;
            for (hour, rows) in &by_hour {
                let mut app = conn.appender(&partition::table(*hour))?;
                app.append_record_batch(batch::fact_batch(rows)?)?;
                app.flush()?;
                let rollup = batch::rollup(rows);
                let mut app = conn.appender(&partition::rollup_table(*hour))?;
                app.append_record_batch(batch::rollup_batch(&rollup)?)?;
                app.flush()?;
                added.insert(
                    *hour,
                    PartitionRows {
                        facts: rows.len() as u64,
                        rollups: rollup.len() as u64,
                    },
                );
            }
            Ok(())
        })();
        match appended.and_then(|()| Ok(conn.execute_batch("COMMIT")?)) {
            Ok(()) => {
                dims.commit();
                let mut known = self.partitions();
                for (hour, rows) in added {
                    let p = known.entry(hour).or_default();
                    p.facts += rows.facts;
                    p.rollups += rows.rollups;
                }
                Ok(records.len())
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                dims.rollback();
                Err(e)
            }
        }
    }

    /// A page of flows and how many the query matches.
    fn flows(&self, q: &FlowQuery) -> Result<FlowPage, StoreError> {
        let (since, until) = (q.since_ms, q.until_ms);
        // The page is picked on the facts with only the joins its filter and sort need; the
        // other dimensions are joined to its rows only.
        let fact_columns: Vec<&str> = layout::FACT_COLUMNS.iter().map(|(c, _)| *c).collect();
        let picked = self.sourced(
            query::flows_sql_selecting(q, SOURCE, &fact_columns),
            since,
            until,
            false,
        );
        let shown = FlowQuery {
            filter: None,
            since_ms: None,
            until_ms: None,
            sort: q.sort.clone(),
            limit: q.limit,
            offset: 0,
        };
        let mut page_sql = query::flows_sql(&shown, SOURCE);
        let source = layout::raw_source_over(&format!("({})", picked.text), &page_sql.text);
        page_sql.text = page_sql.text.replace(SOURCE, &source);
        page_sql.params = picked.params;
        let page = self.run(&page_sql)?;
        let total = self.run(&self.sourced(query::count_sql(q, SOURCE), since, until, false))?;
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
        let rollup = self.reads_rollups(group_by, scope, None);
        let sql = query::top_sql(group_by, metric, n, scope, SOURCE);
        let rows = self.run(&self.sourced(sql, scope.since_ms, scope.until_ms, rollup))?;
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
        let groups: Vec<&Field> = by.into_iter().collect();
        let rollup = self.reads_rollups(&groups, scope, Some(step_ms));
        let sql = query::series_sql(step_ms, metric, by, top_groups, scope, SOURCE)?;
        let sql = self.sourced(sql, scope.since_ms, scope.until_ms, rollup);
        Ok(result::series_json(&self.run(&sql)?, by.is_some()))
    }

    /// Nodes and edges of the traffic graph at `level`.
    fn topology(
        &self,
        level: Level,
        scope: &Scope,
        max_edges: u32,
    ) -> Result<serde_json::Value, StoreError> {
        let sql = query::topology_sql(level, scope, SOURCE, max_edges);
        let rows = self.run(&self.sourced(sql, scope.since_ms, scope.until_ms, false))?;
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
        let sql = query::values_sql(field, prefix, scope, SOURCE, limit);
        let rows = self.run(&self.sourced(sql, scope.since_ms, scope.until_ms, false))?;
        Ok(rows
            .values
            .iter()
            .filter_map(|r| r.first().map(result::json_value))
            .filter(|v| !v.is_null())
            .collect())
    }

    /// What is stored.
    fn stats(&self) -> Result<StoreStats, StoreError> {
        let time = query::fields::time_field().column;
        let sql = Sql {
            text: format!("SELECT count(*), min({time}), max({time}) FROM {SOURCE}"),
            params: Vec::new(),
        };
        let rows = self.run(&self.sourced(sql, None, None, false))?;
        let first = rows.values.first();
        let int = |i: usize| first.and_then(|r| r.get(i)).and_then(result::as_i64);
        Ok(StoreStats {
            flows: int(0).unwrap_or(0).max(0) as u64,
            oldest_ms: int(1),
            newest_ms: int(2),
            partitions: self.partitions().len(),
            bytes_used: self.bytes_used()?,
            dimension_rows: self.dims().rows() as u64,
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
            .keys()
            .copied()
            // Expired when all of it ended before the cutoff.
            .filter(|h| (h + 1).saturating_mul(PARTITION_MS) <= cutoff_ms)
            .collect();
        let dropped_any = !expired.is_empty();
        for hour in expired {
            self.drop_partition(hour, &mut report)?;
        }
        loop {
            let used = self.bytes_used()?;
            report.bytes_used = used;
            let oldest = {
                let p = self.partitions();
                (p.len() > 1).then(|| p.keys().next().copied()).flatten()
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
        if dropped_any || !report.dropped_partitions.is_empty() {
            let pruned = self.prune_dims()?;
            debug!(pruned, "dimension rows without flows deleted");
        }
        Ok(report)
    }
}
