//! Rows: views into the row-batch strings the guest returns, decoded on access through
//! [`FromSql`].

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use wasmpg_wire::batch;

use crate::error::{Error, ErrorKind};
use crate::runtime::wit;
use crate::types::{type_name, FromSql, Oid, WrongType};

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_oid: Oid,
    type_modifier: i32,
    table_oid: Oid,
    column_id: i16,
}

impl Column {
    pub(crate) fn from_wit(c: &wit::Column) -> Column {
        Column {
            name: c.name.clone(),
            type_oid: c.type_oid,
            type_modifier: c.type_modifier,
            table_oid: c.table_oid,
            column_id: c.column_id,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's type OID.
    pub fn type_oid(&self) -> Oid {
        self.type_oid
    }

    /// The type's name for built-in types (`int4`, `_text`, ...).
    pub fn type_name(&self) -> Option<&'static str> {
        type_name(self.type_oid)
    }

    pub fn type_modifier(&self) -> i32 {
        self.type_modifier
    }

    /// OID of the table the column comes from, or 0.
    pub fn table_oid(&self) -> Oid {
        self.table_oid
    }

    /// Attribute number in that table, or 0.
    pub fn column_id(&self) -> i16 {
        self.column_id
    }
}

/// Something that names a column: its index or its name.
pub trait RowIndex: fmt::Display {
    fn index(&self, columns: &[Column]) -> Option<usize>;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl RowIndex for str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == self)
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        T::index(self, columns)
    }
}

/// One row of a result.
#[derive(Clone)]
pub struct Row {
    columns: Arc<[Column]>,
    text: Arc<String>,
    fields: Box<[Option<Range<usize>>]>,
}

impl Row {
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of a column. Panics if the column does not exist or the value does not convert;
    /// see [`Row::try_get`].
    pub fn get<'a, I, T>(&'a self, idx: I) -> T
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        match self.try_get(&idx) {
            Ok(value) => value,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    pub fn try_get<'a, I, T>(&'a self, idx: I) -> Result<T, Error>
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        let Some(i) = idx.index(&self.columns) else {
            return Err(Error::new(ErrorKind::Usage, format!("no column {idx}")));
        };
        let ty = self.columns[i].type_oid;
        let rust = std::any::type_name::<T>();
        if !T::accepts(ty) {
            return Err(Error::with_cause(
                ErrorKind::Conversion,
                format!("column {idx}"),
                Box::new(WrongType::new::<T>(ty)),
            ));
        }
        let result = match &self.fields[i] {
            Some(range) => T::from_sql(ty, &self.text[range.clone()]),
            None => T::from_sql_null(ty),
        };
        result.map_err(|e| {
            Error::with_cause(
                ErrorKind::Conversion,
                format!("cannot convert column {idx} to {rust}"),
                e,
            )
        })
    }

    /// The canonical text of a column (see `row-batch` in wit/driver.wit); `None` for NULL.
    pub fn raw(&self, idx: usize) -> Option<&str> {
        self.fields
            .get(idx)?
            .as_ref()
            .map(|range| &self.text[range.clone()])
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, c) in self.columns.iter().enumerate() {
            m.entry(&c.name, &self.raw(i));
        }
        m.finish()
    }
}

/// A row of a simple query: every value as text.
#[derive(Debug, Clone)]
pub struct SimpleQueryRow {
    row: Row,
}

impl SimpleQueryRow {
    pub fn columns(&self) -> &[Column] {
        self.row.columns()
    }

    /// The canonical text of a column; `None` for NULL or a missing column.
    pub fn get<I: RowIndex>(&self, idx: I) -> Option<&str> {
        let i = idx.index(self.row.columns())?;
        self.row.raw(i)
    }

    pub fn len(&self) -> usize {
        self.row.len()
    }

    pub fn is_empty(&self) -> bool {
        self.row.is_empty()
    }
}

/// A message of a simple query's output.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SimpleQueryMessage {
    /// The columns of the next rows.
    RowDescription(Arc<[Column]>),
    Row(SimpleQueryRow),
    /// A statement finished; the number of rows it affected or returned (0 when the command
    /// tag carries none).
    CommandComplete(u64),
}

/// Splits row batches into rows that share the batch text.
pub(crate) fn rows_from_batches(
    columns: &Arc<[Column]>,
    batches: Vec<wit::RowBatch>,
) -> Result<Vec<Row>, Error> {
    let total: usize = batches.iter().map(|b| b.count as usize).sum();
    let mut rows = Vec::with_capacity(total);
    for b in batches {
        split_batch(columns, b, &mut rows)?;
    }
    Ok(rows)
}

fn bad_batch(what: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("malformed row batch from the guest: {what}"),
    )
}

fn split_batch(
    columns: &Arc<[Column]>,
    b: wit::RowBatch,
    rows: &mut Vec<Row>,
) -> Result<(), Error> {
    let before = rows.len();
    let count = b.count as usize;
    split_rows(columns, b, rows)?;
    if rows.len() - before != count {
        return Err(bad_batch("the row count disagrees with the data"));
    }
    Ok(())
}

fn split_rows(columns: &Arc<[Column]>, b: wit::RowBatch, rows: &mut Vec<Row>) -> Result<(), Error> {
    let ncols = columns.len();
    if b.escaped {
        // Rare: rebuild each row with its fields unescaped.
        let parsed = batch::parse_rows(&b.data).map_err(|e| bad_batch(&e.to_string()))?;
        for fields in parsed {
            if fields.len() != ncols {
                return Err(bad_batch("a row's field count differs from its columns"));
            }
            let mut text = String::new();
            let mut ranges = Vec::with_capacity(ncols);
            for field in fields {
                ranges.push(field.map(|v| {
                    let start = text.len();
                    text.push_str(&v);
                    start..text.len()
                }));
            }
            rows.push(Row {
                columns: columns.clone(),
                text: Arc::new(text),
                fields: ranges.into_boxed_slice(),
            });
        }
        return Ok(());
    }
    // `Arc<String>`, not `Arc<str>`: the batch is shared by its rows without another copy.
    let text: Arc<String> = Arc::new(b.data);
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    let mut ranges = Vec::with_capacity(ncols);
    while pos < bytes.len() {
        ranges.clear();
        loop {
            // Separators are ASCII, so byte positions are char boundaries.
            let Some(&first) = bytes.get(pos) else {
                return Err(bad_batch("truncated row"));
            };
            if first == batch::ROW_END as u8 {
                pos += 1;
                break;
            }
            let Some(len) = bytes[pos..]
                .iter()
                .position(|&c| c == batch::FIELD_END as u8)
            else {
                return Err(bad_batch("unterminated field"));
            };
            let field = pos..pos + len;
            pos += len + 1;
            if len == 1 && bytes[field.start] == 0 {
                ranges.push(None);
            } else {
                ranges.push(Some(field));
            }
        }
        if ranges.len() != ncols {
            return Err(bad_batch("a row's field count differs from its columns"));
        }
        rows.push(Row {
            columns: columns.clone(),
            text: text.clone(),
            fields: ranges.clone().into_boxed_slice(),
        });
    }
    Ok(())
}

pub(crate) fn simple_rows(
    columns: &Arc<[Column]>,
    batches: Vec<wit::RowBatch>,
) -> Result<Vec<SimpleQueryRow>, Error> {
    Ok(rows_from_batches(columns, batches)?
        .into_iter()
        .map(|row| SimpleQueryRow { row })
        .collect())
}
