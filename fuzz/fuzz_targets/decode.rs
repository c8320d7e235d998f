//! Every type decoder: server text output of type OID (first byte selects it) to canonical form,
//! and the same bytes as the type's binary output where the guest asks for binary.
#![no_main]

use wasmpg_guest::codec::{decoder_for, Decoder};
use wasmpg_wire::escape::needs_escape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((oid, raw)) = wasmpg_fuzz::pick_oid(data) else {
        return;
    };
    let check = |decoder: &Decoder| {
        let mut out = b"prefix".to_vec();
        match decoder.decode(raw, &mut out) {
            // Documented: on error the output is left as it was.
            Err(_) => assert_eq!(out, b"prefix"),
            // What a decoder writes is text: the row batch checks it only once per batch.
            Ok(()) => {
                assert!(out.starts_with(b"prefix") && std::str::from_utf8(&out).is_ok());
                // A plain writer's output goes into the row batch without the escape scan.
                if decoder.writes_plain() {
                    assert!(!needs_escape(&out[b"prefix".len()..]), "{out:?}");
                }
            }
        }
    };
    check(&decoder_for(oid));
    let infinite_intervals = data.first().is_some_and(|b| b & 0x80 != 0);
    if let Some(binary) = Decoder::binary_for(oid, true, infinite_intervals) {
        check(&binary);
    }
});
