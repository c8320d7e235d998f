//! The conninfo parser (`key=value` and URI forms) with PG* defaults. Input: the conninfo, then
//! optionally a NUL and `NAME=value` lines that become the environment defaults.
#![no_main]

use wasmpg_guest::conninfo;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (conninfo, env) = text.split_once('\0').unwrap_or((&text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if let Ok(info) = conninfo::parse(conninfo, &env) {
        // Whatever parses describes at least one target, each printable.
        for host in &info.hosts {
            let _ = conninfo::describe_target(&host.target);
        }
    }
    // The stricter check the session applies on top.
    let _ = conninfo::parse_supported(conninfo, &env);
});
