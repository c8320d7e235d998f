//! The shared conninfo vectors (`conformance/conninfo.json`) through the guest's parser:
//! `conninfo::parse_supported` and `ConnInfo::connect_timeout_ms`.

use serde_json::Value;
use wasmpg_guest::conninfo::{parse_supported, ConnInfo, Target};

const VECTORS: &str = include_str!("../../conformance/conninfo.json");

fn env_of(case: &Value) -> Vec<(String, String)> {
    case["input"]["env"]
        .as_object()
        .map(|env| {
            env.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().expect("env values are strings").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The parsed result in the vectors' shape.
fn shape(info: &ConnInfo) -> Value {
    let targets: Vec<Value> = info
        .hosts
        .iter()
        .map(|h| match &h.target {
            Target::Tcp { host, port } => {
                serde_json::json!({"kind": "tcp", "host": host, "port": port})
            }
            Target::Unix { path } => {
                let suffix = format!("/.s.PGSQL.{}", h.port);
                let dir = path.strip_suffix(&suffix).unwrap_or(path);
                serde_json::json!({"kind": "unix", "host": dir, "port": h.port})
            }
        })
        .collect();
    serde_json::json!({
        "targets": targets,
        "user": info.user,
        "dbname": info.dbname,
        "connect_timeout_ms": info.connect_timeout_ms(),
        "sslmode": info.sslmode.as_str(),
        "password": info.password.is_some(),
    })
}

#[test]
fn conninfo_vectors() {
    let doc: Value = serde_json::from_str(VECTORS).expect("conninfo.json is JSON");
    assert_eq!(doc["topic"], "conninfo");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        if let Some(why) = case.get("known_difference") {
            println!("skipped (known difference): {name}: {why}");
            continue;
        }
        let conninfo = case["input"]["conninfo"].as_str().expect("conninfo");
        let expected = &case["expected"];
        match (
            parse_supported(conninfo, &env_of(case)),
            expected.get("error"),
        ) {
            (Ok(info), None) => {
                let got = shape(&info);
                if &got != expected {
                    failures.push(format!("{name}: expected {expected}, got {got}"));
                }
            }
            (Ok(info), Some(error)) => {
                failures.push(format!(
                    "{name}: expected error {error}, got {}",
                    shape(&info)
                ));
            }
            (Err(e), None) => {
                failures.push(format!(
                    "{name}: expected {expected}, got error {}",
                    e.message
                ));
            }
            (Err(e), Some(error)) => {
                let kind = error["kind"].as_str().expect("kind");
                let needle = error["message_contains"]
                    .as_str()
                    .expect("message_contains");
                if e.kind.as_str() != kind || !e.message.contains(needle) {
                    failures.push(format!(
                        "{name}: expected {kind} error containing {needle:?}, got {} {:?}",
                        e.kind.as_str(),
                        e.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
