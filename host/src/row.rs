//! Rows: views into the row-batch strings the guest returns, decoded on access through
//! [`FromSql`].

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use wasmpg_wire::batch;

use crate::error::{Error, ErrorKind};
use crate::guest;
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
    pub(crate) fn from_guest(c: &guest::Column) -> Column {
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

/// The text of one row batch and where each of its fields lies in it (`None`: NULL), row after
/// row: shared by the batch's rows, so a row costs no allocation of its own.
#[derive(Debug)]
struct BatchText {
    text: String,
    fields: Vec<Option<Range<usize>>>,
}

/// One row of a result.
#[derive(Clone)]
pub struct Row {
    columns: Arc<[Column]>,
    batch: Arc<BatchText>,
    /// Where this row's fields start in `batch.fields`; it has one per column.
    first: usize,
}

impl Row {
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// This row's fields. Invariant (kept by `split_rows`, the only constructor): the batch
    /// holds `columns.len()` fields from `first` on; `get` falls back to no field at all.
    fn fields(&self) -> &[Option<Range<usize>>] {
        self.batch
            .fields
            .get(self.first..self.first + self.columns.len())
            .unwrap_or_default()
    }

    fn field(&self, i: usize) -> Option<&str> {
        let range = self.fields().get(i)?.as_ref()?;
        self.batch.text.get(range.clone())
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
        let result = match self.field(i) {
            Some(text) => T::from_sql(ty, text),
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
        self.field(idx)
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
    batches: Vec<guest::RowBatch>,
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
    b: guest::RowBatch,
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

fn split_rows(
    columns: &Arc<[Column]>,
    b: guest::RowBatch,
    rows: &mut Vec<Row>,
) -> Result<(), Error> {
    let ncols = columns.len();
    let count = b.count as usize;
    // Every field takes at least its end mark: the batch's length bounds the table, whatever
    // count the guest claims.
    let mut fields = Vec::with_capacity(count.saturating_mul(ncols).min(b.data.len()));
    let mut nrows = 0usize;
    let text = if b.escaped {
        // Rare: the batch's text is rebuilt with its fields unescaped.
        let parsed = batch::parse_rows(&b.data).map_err(|e| bad_batch(&e.to_string()))?;
        let mut text = String::with_capacity(b.data.len());
        for row in parsed {
            if row.len() != ncols {
                return Err(bad_batch("a row's field count differs from its columns"));
            }
            nrows += 1;
            for field in row {
                fields.push(field.map(|v| {
                    let start = text.len();
                    text.push_str(&v);
                    start..text.len()
                }));
            }
        }
        text
    } else {
        // Fields are read where they are: the batch's text becomes the rows' text.
        let bytes = b.data.as_bytes();
        let mut pos = 0usize;
        while pos < bytes.len() {
            let row_start = fields.len();
            loop {
                // Separators are ASCII, so byte positions are char boundaries.
                let Some(&first) = bytes.get(pos) else {
                    return Err(bad_batch("truncated row"));
                };
                if first == batch::ROW_END as u8 {
                    pos += 1;
                    break;
                }
                let Some((len, _)) = batch::scan_field(&bytes[pos..]) else {
                    return Err(bad_batch("unterminated field"));
                };
                let field = pos..pos + len;
                pos += len + 1;
                if batch::is_null(&bytes[field.clone()]) {
                    fields.push(None);
                } else {
                    fields.push(Some(field));
                }
            }
            if fields.len() - row_start != ncols {
                return Err(bad_batch("a row's field count differs from its columns"));
            }
            nrows += 1;
        }
        b.data
    };
    let shared = Arc::new(BatchText { text, fields });
    rows.extend((0..nrows).map(|r| Row {
        columns: columns.clone(),
        batch: shared.clone(),
        first: r * ncols,
    }));
    Ok(())
}

pub(crate) fn simple_rows(
    columns: &Arc<[Column]>,
    batches: Vec<guest::RowBatch>,
) -> Result<Vec<SimpleQueryRow>, Error> {
    Ok(rows_from_batches(columns, batches)?
        .into_iter()
        .map(|row| SimpleQueryRow { row })
        .collect())
}
