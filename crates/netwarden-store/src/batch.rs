//! Records as one Arrow record batch in the flow tables' column order, for DuckDB's Arrow
//! appender: one typed column each, filled from the records' [`Cell`]s, instead of one
//! dynamically typed value per cell through the row appender (several times slower).

use crate::row::{cells, Cell};
use duckdb::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder, UInt16Builder,
    UInt32Builder, UInt64Builder, UInt8Builder,
};
use duckdb::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;
use netwarden_model::FlowRecord;
use netwarden_query::fields::{fields, SqlType};
use std::sync::{Arc, OnceLock};

/// HUGEINT (the address keys) travels as decimal text, which DuckDB's appender casts to the
/// table's HUGEINT: Arrow has no 128-bit integer, and DECIMAL(38, 0) cannot hold every key
/// (their 39-digit extremes are IPv4 addresses).
const HUGE: DataType = DataType::Utf8;

fn arrow_type(t: SqlType) -> DataType {
    match t {
        SqlType::BigInt => DataType::Int64,
        SqlType::Integer => DataType::Int32,
        SqlType::UTinyInt => DataType::UInt8,
        SqlType::USmallInt => DataType::UInt16,
        SqlType::UInteger => DataType::UInt32,
        SqlType::UBigInt => DataType::UInt64,
        SqlType::HugeInt => HUGE,
        SqlType::Double => DataType::Float64,
        SqlType::Varchar => DataType::Utf8,
    }
}

/// Every physical column with its type, in table order.
fn columns() -> impl Iterator<Item = (&'static str, SqlType)> {
    fields().iter().flat_map(|f| f.columns())
}

fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                columns()
                    .map(|(c, t)| ArrowField::new(c, arrow_type(t), true))
                    .collect::<Vec<_>>(),
            ))
        })
        .clone()
}

/// One column being filled.
enum Column {
    I64(Int64Builder),
    I32(Int32Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    /// The keys' decimal text, and a buffer to format them in.
    Huge(StringBuilder, String),
    F64(Float64Builder),
    Text(StringBuilder),
}

impl Column {
    fn new(t: SqlType, rows: usize) -> Self {
        match t {
            SqlType::BigInt => Column::I64(Int64Builder::with_capacity(rows)),
            SqlType::Integer => Column::I32(Int32Builder::with_capacity(rows)),
            SqlType::UTinyInt => Column::U8(UInt8Builder::with_capacity(rows)),
            SqlType::USmallInt => Column::U16(UInt16Builder::with_capacity(rows)),
            SqlType::UInteger => Column::U32(UInt32Builder::with_capacity(rows)),
            SqlType::UBigInt => Column::U64(UInt64Builder::with_capacity(rows)),
            SqlType::HugeInt => {
                Column::Huge(StringBuilder::with_capacity(rows, rows * 40), String::new())
            }
            SqlType::Double => Column::F64(Float64Builder::with_capacity(rows)),
            SqlType::Varchar => Column::Text(StringBuilder::with_capacity(rows, rows * 16)),
        }
    }

    /// Appends `cell`; a value of another kind than the column (a bug in `row`) or out of the
    /// column's range becomes NULL rather than a wrong number.
    fn push(&mut self, cell: &Cell<'_>) {
        fn int<T: TryFrom<i64> + TryFrom<u64>>(c: &Cell<'_>) -> Option<T> {
            match c {
                Cell::Int(v) => T::try_from(*v).ok(),
                Cell::UInt(v) => T::try_from(*v).ok(),
                _ => None,
            }
        }
        match self {
            Column::I64(b) => b.append_option(int(cell)),
            Column::I32(b) => b.append_option(int(cell)),
            Column::U8(b) => b.append_option(int(cell)),
            Column::U16(b) => b.append_option(int(cell)),
            Column::U32(b) => b.append_option(int(cell)),
            Column::U64(b) => b.append_option(int(cell)),
            Column::Huge(b, text) => match cell {
                Cell::Huge(v) => {
                    use std::fmt::Write;
                    text.clear();
                    let _ = write!(text, "{v}");
                    b.append_value(&*text);
                }
                _ => b.append_null(),
            },
            Column::F64(b) => b.append_option(match cell {
                Cell::Double(v) => Some(*v),
                _ => None,
            }),
            Column::Text(b) => match cell {
                Cell::Text(t) => b.append_value(t),
                _ => b.append_null(),
            },
        }
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Column::I64(mut b) => Arc::new(b.finish()),
            Column::I32(mut b) => Arc::new(b.finish()),
            Column::U8(mut b) => Arc::new(b.finish()),
            Column::U16(mut b) => Arc::new(b.finish()),
            Column::U32(mut b) => Arc::new(b.finish()),
            Column::U64(mut b) => Arc::new(b.finish()),
            Column::Huge(mut b, _) => Arc::new(b.finish()),
            Column::F64(mut b) => Arc::new(b.finish()),
            Column::Text(mut b) => Arc::new(b.finish()),
        })
    }
}

/// `records` as one batch, in the flow tables' column order.
pub fn record_batch<'a>(
    records: impl ExactSizeIterator<Item = &'a FlowRecord>,
) -> Result<RecordBatch, ArrowError> {
    let rows = records.len();
    let mut columns: Vec<Column> = columns().map(|(_, t)| Column::new(t, rows)).collect();
    let mut row = Vec::with_capacity(columns.len());
    for rec in records {
        row.clear();
        cells(rec, &mut row);
        for (col, cell) in columns.iter_mut().zip(&row) {
            col.push(cell);
        }
    }
    let arrays = columns
        .into_iter()
        .map(Column::finish)
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema(), arrays)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::column_count;
    use crate::row::tests::full_record;

    #[test]
    fn a_batch_has_every_column_and_row() {
        let recs = [full_record(), FlowRecord::default()];
        let batch = record_batch(recs.iter()).unwrap();
        assert_eq!(batch.num_columns(), column_count());
        assert_eq!(batch.num_rows(), 2);
        // The full record fills every column; the empty one leaves optional ones NULL.
        for c in batch.columns() {
            assert!(c.is_valid(0));
        }
        assert!(batch.columns().iter().any(|c| c.is_null(1)));
    }
}
