//! The shared canonical-form vectors (`conformance/canonical.json`): the server's text output
//! through `codec::decoder_for(oid).decode` must give the canonical form.

use serde_json::Value;
use wasmpg_guest::codec::decoder_for;

const VECTORS: &str = include_str!("../../conformance/canonical.json");

#[test]
fn canonical_vectors() {
    let doc: Value = serde_json::from_str(VECTORS).expect("canonical.json is JSON");
    assert_eq!(doc["topic"], "canonical");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 50);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        if let Some(why) = case.get("known_difference") {
            println!("skipped (known difference): {name}: {why}");
            continue;
        }
        let oid = u32::try_from(case["input"]["oid"].as_u64().expect("oid")).expect("oid fits");
        let server = case["input"]["server_text"].as_str().expect("server_text");
        let expected = case["expected"]["canonical"].as_str().expect("canonical");
        let mut out = Vec::new();
        let decoded = decoder_for(oid).decode(server.as_bytes(), &mut out);
        let out = String::from_utf8_lossy(&out);
        match decoded {
            Ok(()) if out == expected => {}
            Ok(()) => failures.push(format!("{name}: expected {expected:?}, got {out:?}")),
            Err(e) => failures.push(format!("{name}: expected {expected:?}, got error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
