//! Every parameter encoder: canonical value of type OID (first byte selects it) to server text.
#![no_main]

use wasmpg_guest::codec::encode_param;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((oid, raw)) = wasmpg_fuzz::pick_oid(data) else {
        return;
    };
    let value = String::from_utf8_lossy(raw);
    let mut out = b"prefix".to_vec();
    match encode_param(oid, &value, &mut out) {
        // Documented: on error the output is left as it was.
        Err(_) => assert_eq!(out, b"prefix"),
        Ok(()) => assert!(out.starts_with(b"prefix")),
    }
});
