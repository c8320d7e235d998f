//! The URI form: `postgresql://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`
//! (libpq's `conninfo_uri_parse_options` and its helpers).

use super::keywords::Keyword;
use super::resolve::Raw;
use super::{error, ConnInfoError};

/// The length of a `postgresql://` or `postgres://` prefix (case-sensitive, like libpq).
pub(super) fn prefix_len(conninfo: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .into_iter()
        .find(|prefix| conninfo.starts_with(prefix))
        .map(str::len)
}

/// The URI form (`conninfo_uri_parse_options`).
///
/// All delimiters are ASCII, so every byte index used to slice `uri` is a char boundary.
pub(super) fn parse(uri: &str, prefix_len: usize, raw: &mut Raw) -> Result<(), ConnInfoError> {
    let bytes = uri.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut p = prefix_len;

    // `user[:password]@`, if an `@` comes before any `/`.
    let userinfo_end = bytes[p..]
        .iter()
        .position(|&b| b == b'@' || b == b'/')
        .map(|i| p + i)
        .filter(|&i| bytes[i] == b'@');
    // The user information as host errors show it, without the password.
    let mut shown_userinfo = String::new();
    if let Some(end) = userinfo_end {
        let userinfo = &uri[p..end];
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            raw.set(Keyword::User, uri_decode(user, false)?);
        }
        shown_userinfo = match password.filter(|p| !p.is_empty()) {
            Some(password) => {
                raw.set(Keyword::Password, uri_decode(password, true)?);
                format!("{user}:****@")
            }
            None => uri[p..=end].to_owned(),
        };
        p = end + 1;
    }
    // The URI as host errors show it: the query, which may hold a password, is left out.
    let shown = {
        let rest = &uri[p..];
        let (rest, elided) = match rest.split_once('?') {
            Some((netloc, _)) => (netloc, "?..."),
            None => (rest, ""),
        };
        format!("{}{shown_userinfo}{rest}{elided}", &uri[..prefix_len])
    };

    // `host[:port]` entries separated by commas; an IPv6 host is in brackets.
    let mut host_list = String::new();
    let mut port_list = String::new();
    let terminator = loop {
        if at(p) == Some(b'[') {
            let start = p + 1;
            let Some(len) = bytes[start..].iter().position(|&b| b == b']') else {
                return Err(error(format!(
                    "end of string reached when looking for matching \"]\" in IPv6 host \
                     address in URI: \"{shown}\""
                )));
            };
            if len == 0 {
                return Err(error(format!(
                    "IPv6 host address may not be empty in URI: \"{shown}\""
                )));
            }
            host_list.push_str(&uri[start..start + len]);
            p = start + len + 1;
            if let Some(c) = uri[p..].chars().next() {
                if !matches!(c, ':' | '/' | '?' | ',') {
                    return Err(error(format!(
                        "unexpected character \"{c}\" at position {} in URI (expected \":\" \
                         or \"/\"): \"{shown}\"",
                        p + 1
                    )));
                }
            }
        } else {
            let start = p;
            while at(p).is_some_and(|b| !matches!(b, b':' | b'/' | b'?' | b',')) {
                p += 1;
            }
            host_list.push_str(&uri[start..p]);
        }

        if at(p) == Some(b':') {
            p += 1;
            let start = p;
            while at(p).is_some_and(|b| !matches!(b, b'/' | b'?' | b',')) {
                p += 1;
            }
            port_list.push_str(&uri[start..p]);
        }

        if at(p) != Some(b',') {
            break at(p);
        }
        p += 1;
        host_list.push(',');
        port_list.push(',');
    };

    if !host_list.is_empty() {
        raw.set(Keyword::Host, uri_decode(&host_list, false)?);
    }
    if !port_list.is_empty() {
        raw.set(Keyword::Port, uri_decode(&port_list, false)?);
    }

    // `/dbname`; an empty one is not set, so that PGDATABASE still applies.
    let mut terminator = terminator;
    if terminator == Some(b'/') {
        p += 1;
        let start = p;
        while at(p).is_some_and(|b| b != b'?') {
            p += 1;
        }
        let dbname = &uri[start..p];
        if !dbname.is_empty() {
            raw.set(Keyword::Dbname, uri_decode(dbname, false)?);
        }
        terminator = at(p);
    }

    if terminator.is_some() {
        parse_params(&uri[p + 1..], raw)?;
    }
    Ok(())
}

/// The `?key=value&...` part of a URI (`conninfo_uri_parse_params`).
fn parse_params(params: &str, raw: &mut Raw) -> Result<(), ConnInfoError> {
    if params.is_empty() {
        return Ok(());
    }
    for param in params.strip_suffix('&').unwrap_or(params).split('&') {
        let Some((keyword, value)) = param.split_once('=') else {
            return Err(error(format!(
                "missing key/value separator \"=\" in URI query parameter: \"{param}\""
            )));
        };
        if value.contains('=') {
            return Err(error(format!(
                "extra key/value separator \"=\" in URI query parameter: \"{keyword}\""
            )));
        }

        let keyword = uri_decode(keyword, false)?;
        let value = uri_decode(value, is_secret(&keyword))?;
        let known = Keyword::lookup(&keyword);

        // JDBC compatibility, as in libpq.
        let (known, value) = match (keyword.as_str(), value.as_str()) {
            ("ssl", "true") => (Some(Keyword::Sslmode), "require".to_owned()),
            _ => (known, value),
        };
        let Some(known) = known else {
            return Err(error(format!("invalid URI query parameter: \"{keyword}\"")));
        };
        raw.set(known, value);
    }
    Ok(())
}

/// Keywords whose values must not appear in error messages.
fn is_secret(keyword: &str) -> bool {
    matches!(keyword, "password" | "sslpassword")
}

/// Percent-decodes one URI component (`conninfo_uri_decode`). Errors show the component,
/// unless it is `secret`.
fn uri_decode(value: &str, secret: bool) -> Result<String, ConnInfoError> {
    let fail = |problem: &str| {
        if secret {
            error(format!("{problem} in a password"))
        } else {
            error(format!("{problem}: \"{value}\""))
        }
    };

    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
        let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) else {
            return Err(fail("invalid percent-encoded token"));
        };
        // Two hex digits: at most 0xff.
        let byte = (high * 16 + low) as u8;
        if byte == 0 {
            return Err(fail("forbidden value %00 in percent-encoded value"));
        }
        decoded.push(byte);
        i += 3;
    }
    String::from_utf8(decoded).map_err(|_| fail("percent-encoded value is not valid UTF-8"))
}
