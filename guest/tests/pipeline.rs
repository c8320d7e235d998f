//! Pipelines driven natively with hand-built server messages: what the session sends for the
//! items, and how the server's answers map back to them (one terminating event per item, in
//! order; `Aborted` after a failure up to the next sync point; `Synced` per Sync item; `Done`
//! only at the last ReadyForQuery), with the statement cache.

use wasmpg_guest::error::ErrorKind;
use wasmpg_guest::session::{Action, Event, Options, PipelineItem, Session, Step, TxStatus};

mod common;
use common::*;

/// A session connected with trust authentication, idle.
fn connected(opts: Options) -> Session {
    let mut s = Session::new(opts);
    s.connect("host=db.example user=alice dbname=app", &[])
        .unwrap();
    assert_eq!(opened_plain(&mut s, None).action, Action::Read);
    let mut input = auth(0, &[]);
    input.extend(ready(b'I'));
    assert_eq!(s.feed(&input).action, Action::Done);
    s
}

fn query<'a>(sql: &'a str, params: &'a str) -> PipelineItem<'a> {
    PipelineItem::Query {
        param_types: vec![],
        params: params.into(),
        sql: sql.into(),
    }
}

/// The frontend messages in `bytes`: (tag, body).
fn messages(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        out.push((rest[0], rest[5..1 + len].to_vec()));
        rest = &rest[1 + len..];
    }
    assert!(rest.is_empty(), "a partial message at the end");
    out
}

fn tags(bytes: &[u8]) -> String {
    messages(bytes).iter().map(|(t, _)| *t as char).collect()
}

/// The first C string of a message body, and the second: Parse's and Close's statement name is
/// the first, Bind's the second (after the portal).
fn cstrings(body: &[u8]) -> Vec<String> {
    body.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The statement names of the Parse, Bind and Close messages in `bytes`, in order:
/// `P:name`, `B:name`, `C:name`.
fn statements(bytes: &[u8]) -> Vec<String> {
    messages(bytes)
        .iter()
        .filter_map(|(tag, body)| match tag {
            b'P' => Some(format!("P:{}", cstrings(body)[0])),
            b'B' => Some(format!("B:{}", cstrings(body)[1])),
            // Close: the kind byte, then the name.
            b'C' => Some(format!("C:{}", cstrings(&body[1..])[0])),
            _ => None,
        })
        .collect()
}

fn parse_complete() -> Vec<u8> {
    msg(b'1', &[])
}

fn bind_complete() -> Vec<u8> {
    msg(b'2', &[])
}

fn no_params() -> Vec<u8> {
    msg(b't', &[0, 0])
}

fn no_data() -> Vec<u8> {
    msg(b'n', &[])
}

fn error(code: &str, message: &str) -> Vec<u8> {
    error_response(&[
        (b'S', "ERROR"),
        (b'V', "ERROR"),
        (b'C', code),
        (b'M', message),
    ])
}

/// The answer to Parse/Describe/Bind/Execute of a one-row, one-column int4 SELECT.
fn select_parsed(value: &str) -> Vec<u8> {
    let mut r = parse_complete();
    r.extend(no_params());
    r.extend(row_description(&[("n", 23)]));
    r.extend(bound_reply(value.as_bytes()));
    r
}

/// The answer to Bind/Execute of a one-row SELECT whose int4 statement is described already:
/// its Bind asked for the int4 in binary.
fn select_bound(value: &str) -> Vec<u8> {
    let n: i32 = value.parse().expect("an int4 value");
    bound_reply(&n.to_be_bytes())
}

fn bound_reply(field: &[u8]) -> Vec<u8> {
    let mut r = bind_complete();
    r.extend(data_row(&[Some(field)]));
    r.extend(command_complete("SELECT 1"));
    r
}

/// What an item reported, in a compact form: `C` columns, `R<rows>`, `K<tag>`, `Q`, `E<code or
/// kind>`, `X` aborted, `Z<status>` synced; `Ready` is left out (the action says it).
fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Columns(_) => Some("C".to_owned()),
            Event::Rows(b) => Some(format!("R{}", b.data)),
            Event::Complete(c) => Some(format!("K{}", c.tag)),
            Event::EmptyQuery => Some("Q".to_owned()),
            Event::Error(e) => Some(format!(
                "E{}",
                e.db.as_ref()
                    .map_or_else(|| format!("{:?}", e.kind), |db| db.code.clone())
            )),
            Event::Aborted => Some("X".to_owned()),
            Event::Synced(status) => Some(format!(
                "Z{}",
                match status {
                    TxStatus::Idle => 'I',
                    TxStatus::InTransaction => 'T',
                    TxStatus::Failed => 'E',
                }
            )),
            _ => None,
        })
        .collect()
}

fn row(value: &str) -> String {
    format!("R{value}\u{1f}\u{1e}")
}

#[test]
fn three_queries_with_a_sync_each() {
    let mut s = connected(Options::default());
    let step = s.pipeline(&[
        query("select 1", ""),
        PipelineItem::Sync,
        query("select 2", ""),
        PipelineItem::Sync,
        query("select $1::int", "3\u{1f}\u{1e}"),
        PipelineItem::Sync,
    ]);
    assert_eq!(step.action, Action::Read);
    assert!(step.events.is_empty(), "{step:?}");
    // Every message at once; the last item is a Sync, so none is added.
    assert_eq!(tags(&step.send), "PDBESPDBESPDBES");
    // The first segment's answer alone: the request goes on.
    let mut first = select_parsed("1");
    first.extend(ready(b'I'));
    let step = s.feed(&first);
    assert_eq!(step.action, Action::Read);
    assert_eq!(summary(&step.events), ["C", &row("1"), "KSELECT 1", "ZI"]);
    let mut rest = select_parsed("2");
    rest.extend(ready(b'I'));
    rest.extend(select_parsed("3"));
    rest.extend(ready(b'I'));
    let step = s.feed(&rest);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        [
            "C",
            &row("2"),
            "KSELECT 1",
            "ZI",
            "C",
            &row("3"),
            "KSELECT 1",
            "ZI"
        ]
    );
    assert!(step.events.contains(&Event::Ready(TxStatus::Idle)));
    // The session takes the next request.
    assert_eq!(s.simple_query("select 4").action, Action::Read);
}

#[test]
fn a_failed_item_between_syncs_fails_alone() {
    let mut s = connected(Options::default());
    let step = s.pipeline(&[
        query("select 1", ""),
        PipelineItem::Sync,
        query("select 1/0", ""),
        PipelineItem::Sync,
        query("select 3", ""),
        PipelineItem::Sync,
    ]);
    assert_eq!(tags(&step.send), "PDBESPDBESPDBES");
    let mut reply = select_parsed("1");
    reply.extend(ready(b'I'));
    // Parsed and bound, then the execution fails; the server skips to the Sync.
    reply.extend(parse_complete());
    reply.extend(no_params());
    reply.extend(row_description(&[("?column?", 23)]));
    reply.extend(bind_complete());
    reply.extend(error("22012", "division by zero"));
    reply.extend(ready(b'I'));
    reply.extend(select_parsed("3"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        [
            "C",
            &row("1"),
            "KSELECT 1",
            "ZI",
            "C",
            "E22012",
            "ZI",
            "C",
            &row("3"),
            "KSELECT 1",
            "ZI"
        ]
    );
}

#[test]
fn a_failure_aborts_the_rest_of_its_segment_only() {
    let mut s = connected(Options::default());
    let step = s.pipeline(&[
        query("insert into t values (1)", ""),
        query("insert into nope values (2)", ""),
        query("select 3", ""),
        query("select 4", ""),
        PipelineItem::Sync,
        query("select 5", ""),
    ]);
    // The final Sync is added after the last item.
    assert_eq!(tags(&step.send), "PDBEPDBEPDBEPDBESPDBES");
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(command_complete("INSERT 0 1"));
    // The second item's Parse fails: everything up to the Sync is skipped.
    reply.extend(error("42P01", "relation \"nope\" does not exist"));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Read);
    assert_eq!(summary(&step.events), ["KINSERT 0 1", "E42P01"]);
    let mut reply = ready(b'I');
    reply.extend(select_parsed("5"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    // The skipped items are aborted; the implicit final Sync reports nothing.
    assert_eq!(
        summary(&step.events),
        ["X", "X", "ZI", "C", &row("5"), "KSELECT 1"]
    );
    // The statement whose Parse failed was not cached: it is parsed again; the others are not.
    let step = s.query("insert into nope values (2)", &[], "");
    assert_eq!(tags(&step.send), "PDBES");
    let mut reply = error("42P01", "relation \"nope\" does not exist");
    reply.extend(ready(b'I'));
    s.feed(&reply);
    let step = s.query("insert into t values (1)", &[], "");
    assert_eq!(tags(&step.send), "BES");
    let mut reply = bind_complete();
    reply.extend(command_complete("INSERT 0 1"));
    reply.extend(ready(b'I'));
    s.feed(&reply);
    // An aborted item's statement was never parsed: not cached either.
    let step = s.query("select 3", &[], "");
    assert_eq!(tags(&step.send), "PDBES");
}

#[test]
fn the_same_sql_twice_is_parsed_once() {
    let mut s = connected(Options::default());
    let sql = "select $1::int";
    let step = s.pipeline(&[query(sql, "1\u{1f}\u{1e}"), query(sql, "2\u{1f}\u{1e}")]);
    assert_eq!(tags(&step.send), "PDBEBES");
    assert_eq!(
        statements(&step.send),
        ["P:wasmpg_s1", "B:wasmpg_s1", "B:wasmpg_s1"]
    );
    let mut reply = parse_complete();
    reply.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
    reply.extend(row_description(&[("int4", 23)]));
    // Both Binds went out before the description: their results are text.
    assert_eq!(bind_result_formats(&step.send), [vec![0], vec![0]]);
    reply.extend(bound_reply(b"1"));
    reply.extend(bound_reply(b"2"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        ["C", &row("1"), "KSELECT 1", "C", &row("2"), "KSELECT 1"]
    );
    // Both results carry the statement's columns.
    let columns: Vec<_> = step
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Columns(c) => Some(c[0].name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(columns, ["int4", "int4"]);
    // Cached now: a later pipeline binds it from its first use, across sync points.
    let step = s.pipeline(&[
        query(sql, "3\u{1f}\u{1e}"),
        PipelineItem::Sync,
        query(sql, "4\u{1f}\u{1e}"),
    ]);
    assert_eq!(tags(&step.send), "BESBES");
    assert_eq!(statements(&step.send), ["B:wasmpg_s1", "B:wasmpg_s1"]);
    // Described now: both ask for the int4 in binary.
    assert_eq!(bind_result_formats(&step.send), [vec![1], vec![1]]);
    let mut reply = select_bound("3");
    reply.extend(ready(b'I'));
    reply.extend(select_bound("4"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        [
            "C",
            &row("3"),
            "KSELECT 1",
            "ZI",
            "C",
            &row("4"),
            "KSELECT 1"
        ]
    );
}

#[test]
fn sql_parsed_in_an_earlier_segment_is_parsed_again_unnamed() {
    // If anything before its Parse failed, the server skipped that Parse: a later segment must
    // not bind a statement that may not exist.
    let mut s = connected(Options::default());
    let step = s.pipeline(&[
        query("select 1/0", ""),
        query("select 2", ""),
        PipelineItem::Sync,
        query("select 2", ""),
    ]);
    assert_eq!(
        statements(&step.send),
        [
            "P:wasmpg_s1",
            "B:wasmpg_s1",
            "P:wasmpg_s2",
            "B:wasmpg_s2",
            "P:",
            "B:"
        ]
    );
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(row_description(&[("?column?", 23)]));
    reply.extend(bind_complete());
    reply.extend(error("22012", "division by zero"));
    reply.extend(ready(b'I'));
    reply.extend(select_parsed("2"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        ["C", "E22012", "X", "ZI", "C", &row("2"), "KSELECT 1"]
    );
}

#[test]
fn a_small_cache_never_closes_a_statement_the_pipeline_still_binds() {
    let mut s = connected(Options {
        statement_cache: 1,
        ..Options::default()
    });
    // "select 1" is cached before the pipeline.
    s.query("select 1", &[], "");
    let mut reply = select_parsed("1");
    reply.extend(ready(b'I'));
    assert_eq!(s.feed(&reply).action, Action::Done);
    // Three more distinct statements, each used twice, and the cached one last: every new one
    // evicts the one before it from the cache, which holds one.
    let step = s.pipeline(&[
        query("select 2", ""),
        query("select 3", ""),
        query("select 2", ""),
        query("select 4", ""),
        query("select 3", ""),
        query("select 4", ""),
        query("select 1", ""),
    ]);
    assert_eq!(
        statements(&step.send),
        [
            "P:wasmpg_s2",
            "B:wasmpg_s2",
            "P:wasmpg_s3",
            "B:wasmpg_s3",
            "B:wasmpg_s2",
            "P:wasmpg_s4",
            "B:wasmpg_s4",
            "B:wasmpg_s3",
            "B:wasmpg_s4",
            "B:wasmpg_s1",
        ],
        "no Close while the pipeline runs"
    );
    let mut reply = select_parsed("2");
    reply.extend(select_parsed("3"));
    reply.extend(select_bound("2"));
    reply.extend(select_parsed("4"));
    reply.extend(select_bound("3"));
    reply.extend(select_bound("4"));
    reply.extend(select_bound("1"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert!(errors(&step).is_empty(), "{step:?}");
    assert_eq!(
        summary(&step.events)
            .iter()
            .filter(|e| e.starts_with('K'))
            .count(),
        7
    );
    // The evicted statements are closed with the next request, before anything else; the one
    // statement left cached is bound, not closed.
    let step = s.query("select 4", &[], "");
    let sent = statements(&step.send);
    let (closes, rest): (Vec<_>, Vec<_>) = sent.iter().partition(|m| m.starts_with("C:"));
    let mut closes: Vec<_> = closes.iter().map(|c| c[2..].to_owned()).collect();
    closes.sort();
    assert_eq!(closes, ["wasmpg_s1", "wasmpg_s2", "wasmpg_s3"]);
    assert_eq!(rest, [&"B:wasmpg_s4".to_owned()]);
    assert!(tags(&step.send).starts_with("CCC"));
}

#[test]
fn the_final_sync_is_implicit_and_reports_nothing() {
    let mut s = connected(Options::default());
    let step = s.pipeline(&[query("select 1", "")]);
    assert_eq!(tags(&step.send), "PDBES");
    let mut reply = select_parsed("1");
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(summary(&step.events), ["C", &row("1"), "KSELECT 1"]);
    // A last Sync item is that Sync: one Sync sent, and it is reported.
    let step = s.pipeline(&[query("select 1", ""), PipelineItem::Sync]);
    assert_eq!(tags(&step.send), "BES");
    let mut reply = select_bound("1");
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(summary(&step.events), ["C", &row("1"), "KSELECT 1", "ZI"]);
    // A pipeline of one Sync.
    let step = s.pipeline(&[PipelineItem::Sync]);
    assert_eq!(tags(&step.send), "S");
    let step = s.feed(&ready(b'I'));
    assert_eq!(step.action, Action::Done);
    assert_eq!(summary(&step.events), ["ZI"]);
}

#[test]
fn synced_reports_each_sync_points_transaction_status() {
    let mut s = connected(Options::default());
    let step = s.pipeline(&[
        query("begin", ""),
        PipelineItem::Sync,
        query("select 1/0", ""),
        PipelineItem::Sync,
        query("rollback", ""),
        PipelineItem::Sync,
        query("begin", ""),
    ]);
    // The fourth item repeats the first's SQL in a later segment: parsed again, unnamed.
    assert_eq!(tags(&step.send), "PDBESPDBESPDBESPDBES");
    assert_eq!(
        statements(&step.send)[6..],
        ["P:".to_owned(), "B:".to_owned()]
    );
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(command_complete("BEGIN"));
    reply.extend(ready(b'T'));
    reply.extend(parse_complete());
    reply.extend(no_params());
    reply.extend(row_description(&[("?column?", 23)]));
    reply.extend(bind_complete());
    reply.extend(error("22012", "division by zero"));
    reply.extend(ready(b'E'));
    reply.extend(parse_complete());
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(command_complete("ROLLBACK"));
    reply.extend(ready(b'I'));
    reply.extend(parse_complete());
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(command_complete("BEGIN"));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Read);
    assert_eq!(
        summary(&step.events),
        [
            "KBEGIN",
            "ZT",
            "C",
            "E22012",
            "ZE",
            "KROLLBACK",
            "ZI",
            "KBEGIN"
        ]
    );
    assert_eq!(s.tx_status(), TxStatus::Idle);
    let step = s.feed(&ready(b'T'));
    assert_eq!(step.action, Action::Done);
    assert_eq!(s.tx_status(), TxStatus::InTransaction);
    assert!(step.events.contains(&Event::Ready(TxStatus::InTransaction)));
}

#[test]
fn an_empty_pipeline_is_a_usage_error() {
    let mut s = connected(Options::default());
    let step = s.pipeline(&[]);
    assert!(step.send.is_empty());
    assert_eq!(step.action, Action::Done);
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
    assert_eq!(s.simple_query("select 1").action, Action::Read);
}

#[test]
fn an_item_that_cannot_be_encoded_sends_nothing() {
    let mut s = connected(Options {
        statement_cache: 1,
        ..Options::default()
    });
    // Two cached statements: one is evicted, and its Close is owed.
    for sql in ["select 1", "select 2"] {
        s.query(sql, &[], "");
        let mut reply = select_parsed("1");
        reply.extend(ready(b'I'));
        s.feed(&reply);
    }
    for (items, kind) in [
        (
            vec![
                query("select 3", ""),
                query("select $1", "1\u{1f}\u{1e}2\u{1f}\u{1e}"),
            ],
            ErrorKind::Usage,
        ),
        (
            vec![query("select 3", ""), query("select $1", "1\u{1f}")],
            ErrorKind::Encode,
        ),
        (vec![query("select '\0'", "")], ErrorKind::Encode),
        (
            vec![PipelineItem::Execute {
                params: "".into(),
                name: "a\0b".into(),
            }],
            ErrorKind::Encode,
        ),
    ] {
        let step = s.pipeline(&items);
        assert!(step.send.is_empty(), "{items:?}");
        assert_eq!(step.action, Action::Done);
        let errors = errors(&step);
        assert_eq!(errors[0].0, kind, "{items:?}: {errors:?}");
        assert!(errors[0].1.contains("pipeline item"), "{errors:?}");
    }
    // The Close still owed goes with the next request.
    let step = s.query("select 2", &[], "");
    assert_eq!(statements(&step.send), ["C:wasmpg_s1", "B:wasmpg_s2"]);
}

#[test]
fn requests_while_a_pipeline_runs_are_refused() {
    let mut s = connected(Options::default());
    s.pipeline(&[query("select 1", "")]);
    let step = s.pipeline(&[query("select 2", "")]);
    assert!(step.send.is_empty());
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
    let step = s.query("select 2", &[], "");
    assert_eq!(errors(&step)[0].0, ErrorKind::Usage);
    // The pipeline goes on.
    let mut reply = select_parsed("1");
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(summary(&step.events), ["C", &row("1"), "KSELECT 1"]);
}

#[test]
fn execute_items_describe_statements_this_session_did_not_prepare() {
    let mut s = connected(Options::default());
    s.prepare("mine", "select $1::int", &[23]);
    let mut reply = parse_complete();
    reply.extend(msg(b't', &[0, 1, 0, 0, 0, 23]));
    reply.extend(row_description(&[("int4", 23)]));
    reply.extend(ready(b'I'));
    assert_eq!(s.feed(&reply).action, Action::Done);
    let step = s.pipeline(&[
        PipelineItem::Execute {
            params: "1\u{1f}\u{1e}".into(),
            name: "mine".into(),
        },
        PipelineItem::Execute {
            params: "".into(),
            name: "theirs".into(),
        },
        query("", ""),
    ]);
    assert_eq!(tags(&step.send), "BEDBEPDBES");
    let mut reply = select_bound("1");
    reply.extend(no_params());
    reply.extend(row_description(&[("t", 25)]));
    reply.extend(bind_complete());
    reply.extend(data_row(&[Some(b"x")]));
    reply.extend(command_complete("SELECT 1"));
    reply.extend(parse_complete());
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(msg(b'I', &[]));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        [
            "C",
            &row("1"),
            "KSELECT 1",
            "C",
            &row("x"),
            "KSELECT 1",
            "Q"
        ]
    );
}

#[test]
fn a_stale_cached_statement_is_evicted_not_retried() {
    let mut s = connected(Options::default());
    s.query("select * from t", &[], "");
    let mut reply = select_parsed("1");
    reply.extend(ready(b'I'));
    s.feed(&reply);
    let step = s.pipeline(&[
        query("select * from t", ""),
        PipelineItem::Sync,
        query("select * from t", ""),
    ]);
    assert_eq!(statements(&step.send), ["B:wasmpg_s1", "B:wasmpg_s1"]);
    let stale = error_response(&[
        (b'S', "ERROR"),
        (b'C', "0A000"),
        (b'M', "cached plan must not change result type"),
        (b'R', "RevalidateCachedQuery"),
    ]);
    let mut reply = stale.clone();
    reply.extend(ready(b'I'));
    reply.extend(stale);
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    // Each item reports it: nothing is sent again.
    assert_eq!(summary(&step.events), ["E0A000", "ZI", "E0A000"]);
    assert!(step.send.is_empty());
    // The next use closes it and prepares it afresh.
    let step = s.query("select * from t", &[], "");
    assert_eq!(
        statements(&step.send),
        ["C:wasmpg_s1", "P:wasmpg_s2", "B:wasmpg_s2"]
    );
}

#[test]
fn a_gone_statement_is_forgotten_without_a_close() {
    let mut s = connected(Options::default());
    s.query("select 1", &[], "");
    let mut reply = select_parsed("1");
    reply.extend(ready(b'I'));
    s.feed(&reply);
    s.pipeline(&[query("select 1", "")]);
    let mut reply = error("26000", "prepared statement \"wasmpg_s1\" does not exist");
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(summary(&step.events), ["E26000"]);
    let step = s.query("select 1", &[], "");
    assert_eq!(statements(&step.send), ["P:wasmpg_s2", "B:wasmpg_s2"]);
}

#[test]
fn a_decode_error_replaces_the_items_completion_and_aborts_nothing() {
    let mut s = connected(Options::default());
    s.pipeline(&[query("select d", ""), query("select 2", "")]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(row_description(&[("d", 1082)]));
    reply.extend(bind_complete());
    reply.extend(data_row(&[Some(b"2024-01-01")]));
    reply.extend(data_row(&[Some(b"not a date")]));
    reply.extend(data_row(&[Some(b"2024-01-03")]));
    reply.extend(command_complete("SELECT 3"));
    reply.extend(select_parsed("2"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        [
            "C",
            &row("2024-01-01"),
            "EDecode",
            "C",
            &row("2"),
            "KSELECT 1"
        ]
    );
}

#[test]
fn an_error_at_a_sync_point_comes_before_its_synced() {
    // A deferred constraint fails at the implicit commit: after the items completed, before
    // ReadyForQuery.
    let mut s = connected(Options::default());
    s.pipeline(&[
        query("insert into t values (1)", ""),
        PipelineItem::Sync,
        query("insert into t values (2)", ""),
    ]);
    let insert = |tag| {
        let mut r = parse_complete();
        r.extend(no_params());
        r.extend(no_data());
        r.extend(bind_complete());
        r.extend(command_complete(tag));
        r
    };
    let mut reply = insert("INSERT 0 1");
    reply.extend(error("23503", "violates foreign key constraint"));
    reply.extend(ready(b'I'));
    reply.extend(insert("INSERT 0 1"));
    reply.extend(error("23505", "duplicate key"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        ["KINSERT 0 1", "E23503", "ZI", "KINSERT 0 1", "E23505"]
    );
}

#[test]
fn copy_from_stdin_cannot_run_in_a_pipeline() {
    // Last (only Syncs after it): the session aborts the COPY and syncs once more, the Syncs
    // the server ignored in copy-in mode are reported with that status.
    let mut s = connected(Options::default());
    let step = s.pipeline(&[
        query("select 1", ""),
        query("copy t from stdin", ""),
        PipelineItem::Sync,
    ]);
    assert_eq!(tags(&step.send), "PDBEPDBES");
    let mut reply = select_parsed("1");
    reply.extend(parse_complete());
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(msg(b'G', &[0, 0, 1, 0, 0]));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Read);
    assert_eq!(tags(&step.send), "fS");
    assert_eq!(
        summary(&step.events),
        ["C", &row("1"), "KSELECT 1", "EUsage"]
    );
    let mut reply = error(
        "57014",
        "COPY from stdin failed: COPY FROM STDIN cannot run in a pipeline",
    );
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(summary(&step.events), ["ZI"]);
    assert_eq!(s.simple_query("select 1").action, Action::Read);

    // Followed by an item: the server fails the COPY at that item's first message, and skips to
    // the next Sync (PostgreSQL 14 and later then end the connection).
    let mut s = connected(Options::default());
    s.pipeline(&[
        query("copy t from stdin", ""),
        PipelineItem::Sync,
        query("select 2", ""),
        PipelineItem::Sync,
        query("select 3", ""),
    ]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(msg(b'G', &[0, 0, 0]));
    let step = s.feed(&reply);
    assert!(step.send.is_empty());
    assert_eq!(summary(&step.events), ["EUsage"]);
    let mut reply = error(
        "08P01",
        "unexpected message type 0x50 during COPY from stdin",
    );
    reply.extend(ready(b'E'));
    reply.extend(select_parsed("3"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        ["ZE", "X", "ZE", "C", &row("3"), "KSELECT 1"]
    );
    let mut s = connected(Options::default());
    s.pipeline(&[query("copy t from stdin", ""), query("select 2", "")]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(msg(b'G', &[0, 0, 0]));
    reply.extend(error(
        "08P01",
        "unexpected message type 0x50 during COPY from stdin",
    ));
    reply.extend(error_response(&[
        (b'S', "FATAL"),
        (b'C', "08P01"),
        (
            b'M',
            "terminating connection because protocol synchronization was lost",
        ),
    ]));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Close);
    assert_eq!(summary(&step.events), ["EUsage", "E08P01"]);
}

#[test]
fn copy_to_stdout_delivers_its_data_before_the_items_completion() {
    let mut s = connected(Options::default());
    s.pipeline(&[query("copy t to stdout", ""), query("select 2", "")]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(msg(b'H', &[0, 0, 1, 0, 0]));
    reply.extend(msg(b'd', b"a\n"));
    reply.extend(msg(b'd', b"b\n"));
    reply.extend(msg(b'c', &[]));
    reply.extend(command_complete("COPY 2"));
    reply.extend(select_parsed("2"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    assert_eq!(
        summary(&step.events),
        ["KCOPY 2", "C", &row("2"), "KSELECT 1"]
    );
    assert!(matches!(&step.events[0], Event::CopyOut { .. }));
    assert!(matches!(&step.events[1], Event::CopyData(c) if c.data == "a\nb\n"));
}

#[test]
fn rows_stream_in_batches_with_notices_between() {
    let mut s = connected(Options {
        batch_bytes: 8,
        ..Options::default()
    });
    s.pipeline(&[query("select n", ""), PipelineItem::Sync]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(row_description(&[("n", 25)]));
    reply.extend(bind_complete());
    reply.extend(data_row(&[Some(b"aaaaaaaa")]));
    reply.extend(msg(
        b'N',
        &[b"SNOTICE\0C00000\0Mhello\0".as_slice(), &[0]].concat(),
    ));
    reply.extend(data_row(&[Some(b"b")]));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Read);
    assert_eq!(summary(&step.events), ["C", &row("aaaaaaaa"), &row("b")]);
    assert!(step.events.iter().any(|e| matches!(e, Event::Notice(_))));
    let mut reply = command_complete("SELECT 2");
    reply.extend(parameter_status("TimeZone", "UTC"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(summary(&step.events), ["KSELECT 2", "ZI"]);
    assert_eq!(s.parameter("TimeZone"), Some("UTC"));
}

/// Feeds `reply` after a two-query pipeline and returns the step.
fn after_two_queries(reply: &[u8]) -> Step {
    let mut s = connected(Options::default());
    s.pipeline(&[query("select 1", ""), query("select 2", "")]);
    s.feed(reply)
}

#[test]
fn a_server_that_breaks_the_pipelines_order_ends_the_session() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ReadyForQuery before an item completed", {
            let mut r = select_parsed("1");
            r.extend(ready(b'I'));
            r
        }),
        ("ReadyForQuery before anything", ready(b'I')),
        ("BindComplete before the description", {
            let mut r = parse_complete();
            r.extend(bind_complete());
            r
        }),
        ("rows after the server skipped to the Sync", {
            let mut r = error("22012", "division by zero");
            r.extend(data_row(&[Some(b"1")]));
            r
        }),
        ("a completion while skipping", {
            let mut r = error("22012", "division by zero");
            r.extend(command_complete("SELECT 1"));
            r
        }),
        ("two completions for one item", {
            let mut r = select_parsed("1");
            r.extend(command_complete("SELECT 1"));
            r.extend(command_complete("SELECT 1"));
            r
        }),
        ("a completion before BindComplete", {
            let mut r = parse_complete();
            r.extend(no_params());
            r.extend(no_data());
            r.extend(command_complete("SELECT 1"));
            r
        }),
        ("a description nobody asked for", {
            let mut r = select_parsed("1");
            r.extend(row_description(&[("x", 23)]));
            r.extend(row_description(&[("x", 23)]));
            r
        }),
        ("PortalSuspended", {
            let mut r = parse_complete();
            r.extend(no_params());
            r.extend(row_description(&[("x", 23)]));
            r.extend(bind_complete());
            r.extend(msg(b's', &[]));
            r
        }),
        ("a ReadyForQuery too many", {
            let mut r = select_parsed("1");
            r.extend(select_parsed("2"));
            r.extend(ready(b'I'));
            r.extend(ready(b'I'));
            r
        }),
        ("a bad transaction status", {
            let mut r = select_parsed("1");
            r.extend(select_parsed("2"));
            r.extend(ready(b'?'));
            r
        }),
        ("a message of startup", auth(0, &[])),
    ];
    for (name, reply) in cases {
        let step = after_two_queries(&reply);
        assert_eq!(step.action, Action::Close, "{name}: {step:?}");
        let errors = errors(&step);
        assert_eq!(
            errors.last().map(|e| e.0),
            Some(ErrorKind::Protocol),
            "{name}: {errors:?}"
        );
    }
}

#[test]
fn a_fatal_error_or_eof_mid_pipeline_ends_the_session() {
    let mut reply = select_parsed("1");
    reply.extend(error_response(&[
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "57P01"),
        (b'M', "terminating connection due to administrator command"),
    ]));
    let step = after_two_queries(&reply);
    assert_eq!(step.action, Action::Close);
    assert_eq!(
        summary(&step.events),
        ["C", &row("1"), "KSELECT 1", "E57P01"]
    );

    let mut s = connected(Options::default());
    s.pipeline(&[query("select 1", ""), query("select 2", "")]);
    s.feed(&select_parsed("1"));
    let step = s.eof();
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::Closed);
}

#[test]
fn answers_in_any_chunking_give_the_same_events() {
    let mut reply = select_parsed("1");
    reply.extend(error("22012", "division by zero"));
    reply.extend(ready(b'I'));
    reply.extend(select_parsed("3"));
    reply.extend(ready(b'I'));
    let items = [
        query("select 1", ""),
        query("select 1/0", ""),
        PipelineItem::Sync,
        query("select 3", ""),
    ];
    let mut s = connected(Options::default());
    s.pipeline(&items);
    let whole = s.feed(&reply);
    assert_eq!(whole.action, Action::Done);
    let mut s = connected(Options::default());
    s.pipeline(&items);
    let mut events = Vec::new();
    let mut last = None;
    for b in &reply {
        let step = s.feed(std::slice::from_ref(b));
        events.extend(step.events);
        last = Some(step.action);
    }
    assert_eq!(last, Some(Action::Done));
    assert_eq!(summary(&events), summary(&whole.events));
    assert_eq!(
        summary(&events),
        [
            "C",
            &row("1"),
            "KSELECT 1",
            "E22012",
            "ZI",
            "C",
            &row("3"),
            "KSELECT 1"
        ]
    );
}

#[test]
fn a_message_too_large_mid_pipeline_ends_the_session() {
    let mut s = connected(Options {
        max_message_size: 1024,
        ..Options::default()
    });
    s.pipeline(&[query("select big", ""), PipelineItem::Sync]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(row_description(&[("big", 25)]));
    reply.extend(bind_complete());
    reply.push(b'D');
    reply.extend_from_slice(&(1u32 << 30).to_be_bytes());
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step)[0].0, ErrorKind::MessageTooLarge);
}

#[test]
fn a_server_error_after_a_decode_error_is_the_items_one_error() {
    let mut s = connected(Options::default());
    s.pipeline(&[query("select d", ""), query("select 2", "")]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(row_description(&[("d", 1082)]));
    reply.extend(bind_complete());
    reply.extend(data_row(&[Some(b"not a date")]));
    reply.extend(error("22012", "division by zero"));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Done);
    // The server's error decides the item (its transaction was rolled back), then the abort.
    assert_eq!(summary(&step.events), ["C", "E22012", "X"]);
}

#[test]
fn ready_for_query_while_a_refused_copy_ends_is_a_protocol_error() {
    let mut s = connected(Options::default());
    s.pipeline(&[query("copy t from stdin", "")]);
    let mut reply = parse_complete();
    reply.extend(no_params());
    reply.extend(no_data());
    reply.extend(bind_complete());
    reply.extend(msg(b'G', &[0, 0, 0]));
    reply.extend(ready(b'I'));
    let step = s.feed(&reply);
    assert_eq!(step.action, Action::Close);
    assert_eq!(errors(&step).last().map(|e| e.0), Some(ErrorKind::Protocol));
}
