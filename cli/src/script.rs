//! SQL scripts (`-f FILE`, SQL on stdin): splitting the text into statements as psql's lexer
//! does, so each runs on its own (and a failure stops at that statement), and the data of
//! `COPY ... FROM STDIN` read from the script itself, up to the line `\.`, as in a plain
//! `pg_dump` file.
//!
//! The splitter knows what can hide a semicolon: single-quoted strings (with `''`, and with
//! backslash escapes after `E`), double-quoted identifiers, dollar-quoted strings (`$$` or
//! `$tag$`), `--` comments and nested `/* */` comments. Parentheses are tracked too, so a
//! semicolon inside a `CREATE RULE ... (a; b)` body does not end the statement. psql's
//! backslash commands are not supported: a line starting with `\` is an error, except `\.`
//! and pg_dump's `\restrict`/`\unrestrict` lines (see [`is_restrict`]).

/// One statement of a script, with where it starts and where its text ends (the byte after
/// its semicolon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'a str,
    pub start: usize,
    pub end: usize,
}

/// The line number (from 1) of byte `at`.
pub fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The next statement of `script` from byte `at`, skipping whitespace and comments; `None` when
/// only those are left. A statement without a final semicolon ends at the end of the script.
/// An error names the line where the statement (or the unterminated comment) starts.
pub fn next_statement(script: &str, at: usize) -> Result<Option<Statement<'_>>, String> {
    let mut start = at;
    split_next(script, at, &mut start).map_err(|e| format!("line {}: {e}", line_of(script, start)))
}

fn split_next<'a>(
    script: &'a str,
    at: usize,
    start_out: &mut usize,
) -> Result<Option<Statement<'a>>, String> {
    let bytes = script.as_bytes();
    let mut i = at;
    // Skip blank space and comments before the statement.
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        *start_out = i;
        if bytes[i..].starts_with(b"--") || is_restrict(&bytes[i..]) {
            i = line_end(bytes, i);
        } else if bytes[i..].starts_with(b"/*") {
            i = block_comment_end(bytes, i)?;
        } else {
            break;
        }
    }
    if i >= bytes.len() {
        return Ok(None);
    }
    if bytes[i] == b'\\' {
        let line = &script[i..line_end(bytes, i)];
        return Err(format!(
            "psql's backslash commands are not supported: {}",
            line.trim_end()
        ));
    }
    let start = i;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b';' if depth == 0 => {
                return Ok(Some(Statement {
                    sql: script[start..i].trim_end(),
                    start,
                    end: i + 1,
                }))
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'\'' => {
                let escapes = i > start
                    && matches!(bytes[i - 1], b'E' | b'e')
                    && (i - 1 == start || !is_ident(bytes[i - 2]));
                i = quoted_end(bytes, i, b'\'', escapes)?;
                continue;
            }
            b'"' => {
                i = quoted_end(bytes, i, b'"', false)?;
                continue;
            }
            b'-' if bytes[i..].starts_with(b"--") => {
                i = line_end(bytes, i);
                continue;
            }
            b'/' if bytes[i..].starts_with(b"/*") => {
                i = block_comment_end(bytes, i)?;
                continue;
            }
            b'$' if i == start || !is_ident(bytes[i - 1]) => {
                if let Some(tag_len) = dollar_tag(&bytes[i..]) {
                    let tag = &script[i..i + tag_len];
                    match script[i + tag_len..].find(tag) {
                        Some(k) => i += tag_len + k + tag_len,
                        None => return Err(format!("unterminated dollar-quoted string {tag}")),
                    }
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let sql = script[start..].trim_end();
    Ok(Some(Statement {
        sql,
        start,
        end: bytes.len(),
    }))
}

/// The data of a `COPY ... FROM STDIN` in a script: from `at` (the rest of the statement's
/// line is skipped) up to the line `\.`; returns the data and the byte after the `\.` line.
/// Without a `\.` line the data runs to the end of the script, as psql reads it.
pub fn copy_data(script: &str, at: usize) -> (&str, usize) {
    let bytes = script.as_bytes();
    // The data starts on the line after the statement.
    let mut start = at;
    while start < bytes.len() && bytes[start] != b'\n' {
        start += 1;
    }
    start = (start + 1).min(bytes.len());
    let mut line = start;
    while line < bytes.len() {
        let end = line_end(bytes, line);
        let text = script[line..end].trim_end_matches('\r');
        if text == "\\." {
            return (&script[start..line], (end + 1).min(bytes.len()));
        }
        line = end + 1;
    }
    (&script[start..], bytes.len())
}

/// pg_dump's `\restrict KEY` / `\unrestrict KEY` lines (since PostgreSQL 17.6, 16.10, 15.14,
/// ...): psql refuses other backslash commands between them, so that a hostile server cannot
/// inject any into a dump. This client runs no backslash command at all, so it is always in
/// that state and skips the two lines.
fn is_restrict(rest: &[u8]) -> bool {
    let word_end = |n: usize| rest.get(n).is_none_or(|b| b.is_ascii_whitespace());
    (rest.starts_with(b"\\restrict") && word_end(9))
        || (rest.starts_with(b"\\unrestrict") && word_end(11))
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |k| from + k)
}

/// The byte after a nested `/* */` comment starting at `from`.
fn block_comment_end(bytes: &[u8], from: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err("unterminated /* comment".to_owned())
}

/// The byte after a quoted string or identifier starting at `from` (its opening quote); a
/// doubled quote is one quote, and with `escapes` a backslash escapes the next byte.
fn quoted_end(bytes: &[u8], from: usize, quote: u8, escapes: bool) -> Result<usize, String> {
    let mut i = from + 1;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Ok(i + 1);
        }
        i += 1;
    }
    Err(if quote == b'"' {
        "unterminated quoted identifier".to_owned()
    } else {
        "unterminated quoted string".to_owned()
    })
}

/// The length of a dollar-quote tag (`$$`, `$tag$`) at the start of `bytes`, if one is there.
fn dollar_tag(bytes: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'$' => return Some(i + 1),
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {}
            b if b.is_ascii_digit() && i > 1 => {}
            _ => return None,
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(script: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(s) = next_statement(script, at).unwrap() {
            out.push(s.sql);
            at = s.end;
        }
        out
    }

    #[test]
    fn splits_where_psql_does() {
        assert_eq!(split("select 1; select 2;\n"), ["select 1", "select 2"]);
        assert_eq!(split("select 1"), ["select 1"]);
        assert_eq!(
            split("  -- only a comment\n /* and /* nested */ one */ "),
            Vec::<&str>::new()
        );
        assert_eq!(
            split("select 'a;b', \"c;d\", $$e;f$$, $t$g;$$;h$t$; select 2"),
            ["select 'a;b', \"c;d\", $$e;f$$, $t$g;$$;h$t$", "select 2"]
        );
        assert_eq!(
            split("select 'it''s;'; select 3"),
            ["select 'it''s;'", "select 3"]
        );
        assert_eq!(
            split("select E'\\';x'; select 4"),
            ["select E'\\';x'", "select 4"]
        );
        // Not an E string: the backslash is a plain character.
        assert_eq!(
            split("select 'a\\'; select 5"),
            ["select 'a\\'", "select 5"]
        );
        assert_eq!(
            split("select 1 -- a; comment\n; select /* ; */ 6"),
            ["select 1 -- a; comment", "select /* ; */ 6"]
        );
        assert_eq!(
            split("create rule r as on insert to t do also (select 1; select 2); select 7"),
            [
                "create rule r as on insert to t do also (select 1; select 2)",
                "select 7"
            ]
        );
        // $1 is a parameter, not a dollar quote; a$b$ is an identifier.
        assert_eq!(
            split("select $1; select a$b$ from t"),
            ["select $1", "select a$b$ from t"]
        );
    }

    #[test]
    fn reports_what_cannot_be_split() {
        assert!(next_statement("select 'open", 0).is_err());
        assert!(next_statement("select $x$ open", 0).is_err());
        assert!(next_statement("/* open", 0).is_err());
        let e = next_statement("\\i other.sql\nselect 1;", 0).unwrap_err();
        assert!(e.contains("\\i other.sql"), "{e}");
        assert_eq!(
            split("\\restrict abc\nselect 1;\n\\unrestrict abc\n"),
            ["select 1"]
        );
        assert!(next_statement("\\restricted\n", 0).is_err());
    }

    #[test]
    fn copy_data_runs_to_the_terminator_line() {
        let script = "COPY t FROM stdin;\n1\ta\n2\tb\n\\.\nselect 1;";
        let s = next_statement(script, 0).unwrap().unwrap();
        let (data, next) = copy_data(script, s.end);
        assert_eq!(data, "1\ta\n2\tb\n");
        assert_eq!(
            next_statement(script, next).unwrap().unwrap().sql,
            "select 1"
        );
        let (data, next) = copy_data("COPY t FROM stdin;\n3\tc\n", 18);
        assert_eq!((data, next), ("3\tc\n", 23));
    }
}
