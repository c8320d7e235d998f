//! Run-time parameters the host adds to the guest's StartupMessage (today only the configured
//! `statement_timeout`), by patching the message's bytes before they are sent.
//!
//! Temporary home: this belongs in the guest, which writes the StartupMessage; it will move
//! there (as a session option) and this module will go away.

use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::runtime::wit;

/// The parameters `config` asks to add to every session's StartupMessage, in order.
pub(crate) fn startup_parameters(config: &Config) -> Vec<(String, String)> {
    let mut parameters = Vec::new();
    if let Some(timeout) = config.statement_timeout {
        parameters.push(("statement_timeout".to_owned(), millis(timeout)));
    }
    parameters
}

/// Adds `parameters` to the StartupMessage the guest wrote (`send`, the bytes of the step
/// answering `opened`), before its final terminator. The server sets each as a run-time
/// parameter of the session, exactly as `-c name=value` in `options` (and after `options`, so
/// these win).
pub(crate) fn add_startup_parameters(
    parameters: &[(String, String)],
    send: &mut wit::Payload,
) -> Result<(), Error> {
    if parameters.is_empty() {
        return Ok(());
    }
    let wit::Payload::Bytes(message) = send else {
        return Err(startup_mismatch());
    };
    let declared = message
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
    let protocol = message
        .get(4..8)
        .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
    if declared != Some(message.len()) || protocol != Some(196608) || message.last() != Some(&0) {
        return Err(startup_mismatch());
    }
    let terminator = message.pop();
    for (name, value) in parameters {
        message.extend_from_slice(name.as_bytes());
        message.push(0);
        message.extend_from_slice(value.as_bytes());
        message.push(0);
    }
    message.extend(terminator);
    let len = u32::try_from(message.len()).map_err(|_| startup_mismatch())?;
    message[..4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn startup_mismatch() -> Error {
    Error::new(
        ErrorKind::Protocol,
        "the guest's StartupMessage is not in the expected form; cannot add the configured \
         startup parameters",
    )
}

/// A duration as whole milliseconds for a server setting: rounded up (so a nonzero duration
/// never becomes 0, which means "none"), at most `i32::MAX`.
fn millis(duration: Duration) -> String {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_rounds_up_and_saturates() {
        assert_eq!(millis(Duration::ZERO), "0");
        assert_eq!(millis(Duration::from_nanos(1)), "1");
        assert_eq!(millis(Duration::from_micros(1500)), "2");
        assert_eq!(millis(Duration::from_millis(200)), "200");
        assert_eq!(millis(Duration::from_secs(u64::MAX)), i32::MAX.to_string());
    }

    /// A StartupMessage with one parameter, as the guest writes it.
    fn startup_message() -> Vec<u8> {
        let mut body = 196608u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0u\0\0");
        let mut message = u32::try_from(body.len() + 4)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        message.extend(body);
        message
    }

    #[test]
    fn parameters_go_before_the_terminator_and_fix_the_length() {
        let parameters = vec![("statement_timeout".to_owned(), "200".to_owned())];
        let mut send = wit::Payload::Bytes(startup_message());
        add_startup_parameters(&parameters, &mut send).unwrap();
        let wit::Payload::Bytes(message) = send else {
            panic!("the payload changed form");
        };
        assert_eq!(&message[8..], b"user\0u\0statement_timeout\x00200\0\0");
        assert_eq!(
            message[..4],
            u32::try_from(message.len()).unwrap().to_be_bytes()
        );
    }

    #[test]
    fn nothing_to_add_leaves_any_payload_alone() {
        let mut send = wit::Payload::Latin1("not a startup message".to_owned());
        add_startup_parameters(&[], &mut send).unwrap();
        let mut bad = wit::Payload::Bytes(vec![0, 0, 0, 9, 1]);
        let parameters = vec![("a".to_owned(), "b".to_owned())];
        let err = add_startup_parameters(&parameters, &mut bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
    }
}
