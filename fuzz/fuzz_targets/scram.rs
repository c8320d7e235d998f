//! The SCRAM-SHA-256 client exchange with a fixed client nonce, so that a server-first message
//! can extend it (the session target's nonce is random). Input: password NUL server-first NUL
//! server-final.
#![no_main]

use wasmpg_guest::scram::ScramSha256;

const NONCE: &str = "fuzzclientnonce";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let password = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let server_first = parts.next().unwrap_or_default();
    let server_final = parts.next().unwrap_or_default();
    // The iteration count drives PBKDF2: above a few thousand an input only burns time (the
    // bound itself, MAX_ITERATIONS, is a unit test; its cost is the sandbox's CPU limit's job).
    let text = String::from_utf8_lossy(server_first);
    if let Some(i) = text.split(",i=").nth(1) {
        let digits: String = i.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() > 5 || digits.parse::<u32>().is_ok_and(|n| n > 20_000) {
            return;
        }
    }
    let mut scram = ScramSha256::new(&password, NONCE);
    assert!(scram.client_first().ends_with(NONCE.as_bytes()));
    match scram.server_first(server_first) {
        Ok(client_final) => {
            let client_final = String::from_utf8(client_final).expect("client-final is ASCII");
            assert!(client_final.starts_with("c=biws,r=fuzzclientnonce"));
            let _ = scram.server_final(server_final);
        }
        Err(_) => {
            // Aborted: nothing more succeeds.
            assert!(scram.server_final(server_final).is_err());
        }
    }
});
