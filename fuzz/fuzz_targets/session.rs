//! The backend message parser and the session state machine: server bytes (and requests) in
//! every state, in startup and after it. See `src/lib.rs` for the input format.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmpg_fuzz::run_session(data);
});
