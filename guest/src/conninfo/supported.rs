//! What the session requires of a conninfo beyond libpq's rules: settings this client cannot
//! honour (TLS, a client encoding other than UTF8) are configuration errors.

use super::{parse, ConnInfo};
use crate::error::{Error, ErrorKind};

/// Parses a conninfo and rejects settings this client cannot honour.
pub fn parse_supported(conninfo: &str, defaults: &[(String, String)]) -> Result<ConnInfo, Error> {
    let info =
        parse(conninfo, defaults).map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
    if let Some(encoding) = &info.client_encoding {
        let normalized = encoding.to_ascii_uppercase().replace(['-', '_'], "");
        if normalized != "UTF8" && normalized != "UNICODE" {
            return Err(Error::new(
                ErrorKind::Config,
                format!("client_encoding {encoding:?} is not supported: wasmpg always uses UTF8"),
            ));
        }
    }
    Ok(info)
}
