//! The packed request decoders, string form (`call`) and byte form (`call-bytes`), on arbitrary
//! input: they return, never panic, and whatever decodes re-encodes, in both forms, to a request
//! that decodes equal.
#![no_main]

use wasmpg_wire::request::{self, Request};

/// `req` survives both encoders and both decoders unchanged.
fn round_trips(req: &Request<'_>) {
    let text = req.encode_str();
    let from_text = request::decode_str(&text).expect("an encoded request decodes (string form)");
    assert_eq!(&from_text, req, "string form {text:?}");
    let bytes = req.encode_bytes();
    let from_bytes = request::decode_bytes(&bytes).expect("an encoded request decodes (byte form)");
    assert_eq!(&from_bytes, req, "byte form {bytes:?}");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The byte form takes the input as it is.
    if let Ok(req) = request::decode_bytes(data) {
        round_trips(&req);
    }
    // The string form takes it as UTF-8 text (lossily: the decoder's input is always a string).
    let text = String::from_utf8_lossy(data);
    if let Ok(req) = request::decode_str(&text) {
        round_trips(&req);
    }
});
