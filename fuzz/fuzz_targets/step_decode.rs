//! The packed step decoder (`wasmpg_wire::step::decode`) on arbitrary text: it returns, never
//! panics, and whatever it decodes re-encodes to a step that decodes equal (and re-encodes to the
//! same string: the encoder's output is canonical).
#![no_main]

use wasmpg_wire::step;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(decoded) = step::decode(&text) {
        let encoded = decoded.encode();
        let again = step::decode(&encoded).expect("an encoded step decodes");
        assert_eq!(
            again, decoded,
            "the re-encoded step {encoded:?} decodes differently"
        );
        assert_eq!(again.encode(), encoded, "encoding is not canonical");
    }
});
