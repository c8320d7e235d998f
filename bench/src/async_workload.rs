// The async workloads, written once against the tokio-postgres-style API that both async
// contenders offer (`async_bench.rs` includes this file twice: once with `drv` = tokio-postgres,
// once with `drv` = `wasmpg::tokio`), so both run literally the same code. It mirrors
// `workload.rs` operation by operation: the same data, statements, checks and timed regions
// (every statement prepared once per operation inside the timed region; results checked after
// the clock stops where the sync workload does so).

use chrono::{DateTime, Utc};
use drv::types::ToSql;

use crate::common::*;

type Param<'a> = &'a (dyn ToSql + Sync);

/// Milliseconds of the six operations, in order: wall clock and client-thread CPU (the thread
/// of the single-threaded runtime, which also runs the connection's task).
pub type SixTimes = ([f64; 6], [f64; 6]);

fn parent_of(r: &drv::Row) -> R<Obj> {
    Ok(Obj {
        id: r.try_get(0)?,
        parent_id: 0,
        name: r.try_get(1)?,
        value: r.try_get(2)?,
        created: r.try_get(3)?,
        flag: r.try_get(4)?,
        note: r.try_get(5)?,
    })
}

fn child_of(r: &drv::Row) -> R<Obj> {
    Ok(Obj {
        id: r.try_get(0)?,
        parent_id: r.try_get(1)?,
        name: r.try_get(2)?,
        value: r.try_get(3)?,
        created: r.try_get(4)?,
        flag: r.try_get(5)?,
        note: r.try_get(6)?,
    })
}

pub async fn six_ops(c: &drv::Client, d: &Data) -> R<SixTimes> {
    let n = d.n;
    let mut t = [0.0; 6];
    let mut cpu = [0.0; 6];
    c.batch_execute(DDL).await?;

    // (1) One multi-row INSERT of n parents, 6 parameters per row.
    let start = Clock::start();
    let stmt = c.prepare(&d.bulk_sql).await?;
    let mut params: Vec<Param<'_>> = Vec::with_capacity(n * 6);
    for p in &d.parents {
        params.push(&p.id);
        params.push(&p.name);
        params.push(&p.value);
        params.push(&p.created);
        params.push(&p.flag);
        params.push(&p.note);
    }
    let inserted = c.execute(&stmt, &params).await?;
    (t[0], cpu[0]) = start.stop();
    ensure(inserted == n as u64, || {
        format!("(1) bulk insert reported {inserted} rows, expected {n}")
    })?;

    // (2) n single-row INSERT ... RETURNING id, each awaited before the next.
    let start = Clock::start();
    let stmt = c.prepare(INSERT_CHILD).await?;
    let mut ids: Vec<i32> = Vec::with_capacity(n);
    for ch in &d.children {
        let row = c
            .query_one(
                &stmt,
                &[
                    &ch.parent_id,
                    &ch.name,
                    &ch.value,
                    &ch.created,
                    &ch.flag,
                    &ch.note,
                ],
            )
            .await?;
        ids.push(row.try_get(0)?);
    }
    (t[1], cpu[1]) = start.stop();
    ensure(ids.iter().copied().eq(1..=n as i32), || {
        "(2) INSERT RETURNING did not return the ids 1..n in order".into()
    })?;

    // (3) n single-row UPDATE by id.
    let start = Clock::start();
    let stmt = c.prepare(UPDATE_CHILD).await?;
    let mut updated = 0u64;
    for (id, u) in ids.iter().zip(&d.updates) {
        updated += c
            .execute(&stmt, &[id, &u.value, &u.flag, &u.note])
            .await?;
    }
    (t[2], cpu[2]) = start.stop();
    ensure(updated == n as u64, || {
        format!("(3) the updates reported {updated} rows, expected {n}")
    })?;

    // (4) n x (SELECT a child by id, then its parent by id), into objects.
    let start = Clock::start();
    let s_child = c.prepare(SELECT_CHILD).await?;
    let s_parent = c.prepare(SELECT_PARENT).await?;
    let mut pairs = Checksum::default();
    for id in &ids {
        let child = child_of(&c.query_one(&s_child, &[id]).await?)?;
        let parent = parent_of(&c.query_one(&s_parent, &[&child.parent_id]).await?)?;
        ensure(parent.id == child.parent_id, || {
            format!(
                "(4) child {id}: asked for parent {}, got {}",
                child.parent_id, parent.id
            )
        })?;
        pairs.add(&child);
        pairs.add(&parent);
    }
    (t[3], cpu[3]) = start.stop();
    ensure(pairs == d.pairs_sum, || {
        format!("(4) checksum {pairs:?}, expected {:?}", d.pairs_sum)
    })?;

    // (5) All n children into typed objects.
    let start = Clock::start();
    let stmt = c.prepare(SELECT_ALL_CHILDREN).await?;
    let objs = c
        .query(&stmt, &[])
        .await?
        .iter()
        .map(child_of)
        .collect::<R<Vec<Obj>>>()?;
    (t[4], cpu[4]) = start.stop();
    let sum = Checksum::of(&objs);
    ensure(sum == d.updated_children_sum, || {
        format!(
            "(5) checksum {sum:?}, expected {:?}",
            d.updated_children_sum
        )
    })?;

    // (6) fetchall of n rows: the raw rows, no conversion (checked after the clock stops).
    let start = Clock::start();
    let stmt = c.prepare(SELECT_ALL_PARENTS).await?;
    let rows = c.query(&stmt, &[]).await?;
    (t[5], cpu[5]) = start.stop();
    let objs = rows.iter().map(parent_of).collect::<R<Vec<Obj>>>()?;
    let sum = Checksum::of(&objs);
    ensure(sum == d.parents_sum, || {
        format!("(6) checksum {sum:?}, expected {:?}", d.parents_sum)
    })?;
    ensure(objs == d.parents, || {
        "(6) the parents differ from those inserted".into()
    })?;
    Ok((t, cpu))
}

/// Micro (untimed part): the tables of the micro benchmarks.
pub async fn micro_setup(c: &drv::Client) -> R<()> {
    c.batch_execute(MICRO_DDL).await?;
    Ok(())
}

/// `iters` prepared `SELECT 1` round trips, each awaited before the next; returns (wall, CPU)
/// µs per round trip.
pub async fn select1(c: &drv::Client, iters: usize) -> R<(f64, f64)> {
    let stmt = c.prepare("SELECT 1").await?;
    let mut sum = 0i64;
    let start = Clock::start();
    for _ in 0..iters {
        let row = c.query_one(&stmt, &[]).await?;
        sum += row.try_get::<_, i32>(0)? as i64;
    }
    let (wall, cpu) = start.stop();
    ensure(sum == iters as i64, || {
        format!("SELECT 1 summed to {sum}, expected {iters}")
    })?;
    Ok((wall * 1e3 / iters as f64, cpu * 1e3 / iters as f64))
}

/// The rows the 1,000-INSERT workloads insert (built outside the timed region).
pub type InsertRow = (i32, i32, String, DateTime<Utc>);

/// Empties `micro_ins` before one of the 1,000-INSERT workloads (untimed).
pub async fn insert_reset(c: &drv::Client) -> R<()> {
    c.batch_execute("TRUNCATE micro_ins").await?;
    Ok(())
}

/// Checks what one of the 1,000-INSERT workloads left in `micro_ins` (untimed).
pub async fn insert_check(c: &drv::Client) -> R<()> {
    let row = c.query_one(MICRO_CHECK, &[]).await?;
    let got: (i32, i64, i64, i64) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    let want = micro_insert_expected();
    ensure(got == want, || {
        format!("the 1,000-INSERT table holds {got:?}, expected {want:?}")
    })
}

/// The prepared INSERT executed once per row as concurrently polled futures on one client
/// (`try_join_all` over `execute`): both drivers pipeline them (each statement behind its own
/// Sync, so each is its own implicit transaction, as in autocommit). With `in_tx`, inside
/// BEGIN ... COMMIT (timed too): one transaction, still one Sync per statement. Returns (wall,
/// CPU) ms.
pub async fn insert_concurrent(c: &drv::Client, rows: &[InsertRow], in_tx: bool) -> R<(f64, f64)> {
    insert_reset(c).await?;
    let start = Clock::start();
    if in_tx {
        c.batch_execute("BEGIN").await?;
    }
    let stmt = c.prepare(MICRO_INSERT).await?;
    let params: Vec<[Param<'_>; 4]> = rows
        .iter()
        .map(|(a, b, t, d)| {
            let p: [Param<'_>; 4] = [a, b, t, d];
            p
        })
        .collect();
    let counts =
        futures_util::future::try_join_all(params.iter().map(|p| c.execute(&stmt, p))).await?;
    if in_tx {
        c.batch_execute("COMMIT").await?;
    }
    let ms = start.stop();
    let n: u64 = counts.iter().sum();
    ensure(n == rows.len() as u64, || {
        format!("the concurrent INSERTs reported {n} rows, expected {}", rows.len())
    })?;
    insert_check(c).await?;
    Ok(ms)
}

/// The server's version string.
pub async fn server_version(c: &drv::Client) -> R<String> {
    let row = c
        .query_one("SELECT current_setting('server_version')", &[])
        .await?;
    Ok(row.try_get(0)?)
}
