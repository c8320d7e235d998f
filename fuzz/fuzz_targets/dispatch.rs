//! The guest's packed entry points (`dispatch::Dispatcher`, what the `call` and `call-bytes`
//! exports forward to): a sequence of arbitrary packed requests, in either form, into one
//! instance. Nothing panics, and every answer is a step the reference decoder reads and
//! re-encodes unchanged. See `src/lib.rs` for the input format.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmpg_fuzz::run_dispatch(data);
});
