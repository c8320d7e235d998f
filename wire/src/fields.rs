//! Reading and writing the fields of one packed record: a tag character, then each field
//! preceded by U+001F, escaped (see [`crate::escape`]); a lone U+0000 is an absent field.

use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

use crate::escape::{self, NUL, US};
use crate::WireError;

/// Appends fields to a record under construction.
pub(crate) struct RecordWriter<'o> {
    out: &'o mut String,
}

impl<'o> RecordWriter<'o> {
    pub(crate) fn new(out: &'o mut String, tag: char) -> Self {
        out.push(tag);
        RecordWriter { out }
    }

    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.out.push(US);
        escape::escape_into(self.out, value);
        self
    }

    pub(crate) fn opt(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => {
                self.out.push(US);
                self.out.push(NUL);
                self
            }
        }
    }

    pub(crate) fn num(&mut self, value: impl Display) -> &mut Self {
        use std::fmt::Write;
        self.out.push(US);
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{value}");
        self
    }

    pub(crate) fn opt_num<T: Display>(&mut self, value: Option<T>) -> &mut Self {
        match value {
            Some(v) => self.num(v),
            None => self.opt(None),
        }
    }

    pub(crate) fn flag(&mut self, value: bool) -> &mut Self {
        self.out.push(US);
        self.out.push(if value { '1' } else { '0' });
        self
    }
}

/// Reads the fields of one record in order.
pub(crate) struct FieldReader<'a> {
    tag: char,
    rest: std::str::Split<'a, char>,
}

impl<'a> FieldReader<'a> {
    /// Splits `record` into its tag and fields. An empty record is an error.
    pub(crate) fn new(record: &'a str) -> Result<Self, WireError> {
        let mut chars = record.chars();
        let tag = chars
            .next()
            .ok_or_else(|| WireError::new("an empty record"))?;
        let body = chars.as_str();
        let mut rest = body.split(US);
        if !body.is_empty() {
            // A record's fields each start with U+001F, so the text before the first is empty.
            if rest.next() != Some("") {
                return Err(WireError::new(format!(
                    "record {tag:?}: text between the tag and the first field"
                )));
            }
        } else {
            rest.next(); // the single empty piece of an empty body
        }
        Ok(FieldReader { tag, rest })
    }

    pub(crate) fn tag(&self) -> char {
        self.tag
    }

    fn raw(&mut self, what: &str) -> Result<&'a str, WireError> {
        self.rest
            .next()
            .ok_or_else(|| WireError::new(format!("record {:?}: missing field {what}", self.tag)))
    }

    pub(crate) fn opt(&mut self, what: &str) -> Result<Option<Cow<'a, str>>, WireError> {
        Ok(escape::field(self.raw(what)?)?)
    }

    pub(crate) fn text(&mut self, what: &str) -> Result<Cow<'a, str>, WireError> {
        self.opt(what)?
            .ok_or_else(|| WireError::new(format!("record {:?}: {what} is absent", self.tag)))
    }

    pub(crate) fn num<T: FromStr>(&mut self, what: &str) -> Result<T, WireError> {
        let raw = self.raw(what)?;
        raw.parse().map_err(|_| {
            WireError::new(format!(
                "record {:?}: {what} is not a number: {raw:?}",
                self.tag
            ))
        })
    }

    pub(crate) fn opt_num<T: FromStr>(&mut self, what: &str) -> Result<Option<T>, WireError> {
        match self.raw(what)? {
            "\0" => Ok(None),
            raw => raw.parse().map(Some).map_err(|_| {
                WireError::new(format!(
                    "record {:?}: {what} is not a number: {raw:?}",
                    self.tag
                ))
            }),
        }
    }

    pub(crate) fn flag(&mut self, what: &str) -> Result<bool, WireError> {
        match self.raw(what)? {
            "0" => Ok(false),
            "1" => Ok(true),
            raw => Err(WireError::new(format!(
                "record {:?}: {what} is not 0 or 1: {raw:?}",
                self.tag
            ))),
        }
    }

    /// A count of following items, bounded by what the record can still hold (so a hostile
    /// count never drives a large allocation).
    pub(crate) fn count(&mut self, what: &str, per_item: usize) -> Result<usize, WireError> {
        let n: usize = self.num(what)?;
        let left = self.rest.clone().count();
        if n.saturating_mul(per_item.max(1)) > left {
            return Err(WireError::new(format!(
                "record {:?}: {what} = {n}, but only {left} fields follow",
                self.tag
            )));
        }
        Ok(n)
    }

    /// The remaining fields, each unescaped (used for open-ended lists).
    pub(crate) fn remaining(&mut self) -> impl Iterator<Item = &'a str> + '_ {
        &mut self.rest
    }

    /// Fails if fields are left over: a record carries exactly what its tag defines.
    pub(crate) fn end(mut self) -> Result<(), WireError> {
        match self.rest.next() {
            None => Ok(()),
            Some(_) => Err(WireError::new(format!(
                "record {:?}: more fields than its tag defines",
                self.tag
            ))),
        }
    }
}
