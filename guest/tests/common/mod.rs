//! Hand-built backend messages for the guest's native tests.
#![allow(dead_code)] // Each test binary uses a different subset.

/// A backend message: tag, length, body.
pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn auth(code: u32, extra: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(extra);
    msg(b'R', &body)
}

pub fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

pub fn parameter_status(name: &str, value: &str) -> Vec<u8> {
    let mut body = cstr(name);
    body.extend(cstr(value));
    msg(b'S', &body)
}

pub fn row_description(columns: &[(&str, u32)]) -> Vec<u8> {
    let mut body = (columns.len() as u16).to_be_bytes().to_vec();
    for (name, oid) in columns {
        body.extend(cstr(name));
        body.extend_from_slice(&0u32.to_be_bytes()); // table oid
        body.extend_from_slice(&0i16.to_be_bytes()); // column id
        body.extend_from_slice(&oid.to_be_bytes());
        body.extend_from_slice(&(-1i16).to_be_bytes()); // size
        body.extend_from_slice(&(-1i32).to_be_bytes()); // modifier
        body.extend_from_slice(&0i16.to_be_bytes()); // format
    }
    msg(b'T', &body)
}

pub fn data_row(fields: &[Option<&[u8]>]) -> Vec<u8> {
    let mut body = (fields.len() as u16).to_be_bytes().to_vec();
    for f in fields {
        match f {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v);
            }
        }
    }
    msg(b'D', &body)
}

pub fn command_complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstr(tag))
}

pub fn error_response(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (code, value) in fields {
        body.push(*code);
        body.extend(cstr(value));
    }
    body.push(0);
    msg(b'E', &body)
}

/// The SSLRequest: length 8, code 80877103.
pub const SSL_REQUEST: &[u8] = &[0, 0, 0, 8, 4, 210, 22, 47];

/// The opened connection, to a server without TLS: over TCP sslmode=prefer (the default) sends
/// an SSLRequest first; the server answers `N` and the StartupMessage follows.
#[allow(dead_code)] // not every test file opens connections
pub fn opened_plain(
    s: &mut wasmpg_guest::session::Session,
    peer: Option<&str>,
) -> wasmpg_guest::session::Step {
    let step = s.opened(peer, None);
    if step.send == SSL_REQUEST {
        assert_eq!(step.action, wasmpg_guest::session::Action::Read);
        return s.feed(b"N");
    }
    step
}

/// The errors a session step reports: (kind, message).
#[allow(dead_code)] // not every test file looks at session steps
pub fn errors(step: &wasmpg_guest::session::Step) -> Vec<(wasmpg_guest::error::ErrorKind, String)> {
    step.events
        .iter()
        .filter_map(|e| match e {
            wasmpg_guest::session::Event::Error(e) => Some((e.kind, e.to_string())),
            _ => None,
        })
        .collect()
}

/// The result format codes of each Bind message in the frontend bytes `sent`.
pub fn bind_result_formats(sent: &[u8]) -> Vec<Vec<i16>> {
    let i16_at = |b: &[u8], at: usize| i16::from_be_bytes([b[at], b[at + 1]]);
    let mut out = Vec::new();
    let mut rest = sent;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let (tag, body) = (rest[0], &rest[5..1 + len]);
        rest = &rest[1 + len..];
        if tag != b'B' {
            continue;
        }
        // Portal and statement names, then the parameter formats, values and result formats.
        let mut at = body.iter().position(|&b| b == 0).unwrap() + 1;
        at += body[at..].iter().position(|&b| b == 0).unwrap() + 1;
        at += 2 + 2 * i16_at(body, at) as usize;
        let values = i16_at(body, at);
        at += 2;
        for _ in 0..values {
            let len = i32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
            at += 4 + len.max(0) as usize;
        }
        let count = i16_at(body, at) as usize;
        out.push((0..count).map(|i| i16_at(body, at + 2 + 2 * i)).collect());
    }
    out
}
