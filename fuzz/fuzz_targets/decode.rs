//! Every type decoder: server text output of type OID (first byte selects it) to canonical form.
#![no_main]

use wasmpg_guest::codec::decoder_for;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((oid, raw)) = wasmpg_fuzz::pick_oid(data) else {
        return;
    };
    let decoder = decoder_for(oid);
    let mut out = b"prefix".to_vec();
    match decoder.decode(raw, &mut out) {
        // Documented: on error the output is left as it was.
        Err(_) => assert_eq!(out, b"prefix"),
        // What a decoder writes is text: the row batch checks it only once per batch.
        Ok(()) => assert!(out.starts_with(b"prefix") && std::str::from_utf8(&out).is_ok()),
    }
});
