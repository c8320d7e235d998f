//! The keyword/value form: `host=localhost port=5432 dbname='my db'` (libpq's `conninfo_parse`).

use super::resolve::Raw;
use super::{error, is_space, ConnInfoError};

/// The keyword/value form (`conninfo_parse`).
pub(super) fn parse(conninfo: &str, raw: &mut Raw) -> Result<(), ConnInfoError> {
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.peek().is_none() {
            return Ok(());
        }

        let mut name = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !is_space(c)) {
            name.push(c);
        }
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return Err(error(format!(
                "missing \"=\" after \"{name}\" in connection info string"
            )));
        }
        while chars.next_if(|&c| is_space(c)).is_some() {}

        // A backslash takes the next character literally, quoted or not.
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(error(
                            "unterminated quoted string in connection info string",
                        ))
                    }
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next() {
                match c {
                    c if is_space(c) => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        raw.store(&name, value)?;
    }
}
