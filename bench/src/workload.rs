// The workloads, written once against the rust-postgres-style API that both contenders offer.
// `main.rs` includes this file twice: once with `drv` = `postgres`, once with `drv` = `wasmpg`,
// so both run literally the same code. Every statement is prepared once per operation (inside
// the timed region) and executed with parameters, as an ORM with a statement cache would do.

use chrono::{DateTime, Utc};
use drv::types::ToSql;

use crate::common::*;

type Param<'a> = &'a (dyn ToSql + Sync);

/// Milliseconds of the six operations, in order: wall clock and client-thread CPU.
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

pub fn six_ops(c: &mut drv::Client, d: &Data) -> R<SixTimes> {
    let n = d.n;
    let mut t = [0.0; 6];
    let mut cpu = [0.0; 6];
    c.batch_execute(DDL)?;

    // (1) One multi-row INSERT of n parents, 6 parameters per row.
    let start = Clock::start();
    let stmt = c.prepare(&d.bulk_sql)?;
    let mut params: Vec<Param<'_>> = Vec::with_capacity(n * 6);
    for p in &d.parents {
        params.push(&p.id);
        params.push(&p.name);
        params.push(&p.value);
        params.push(&p.created);
        params.push(&p.flag);
        params.push(&p.note);
    }
    let inserted = c.execute(&stmt, &params)?;
    (t[0], cpu[0]) = start.stop();
    ensure(inserted == n as u64, || {
        format!("(1) bulk insert reported {inserted} rows, expected {n}")
    })?;

    // (2) n single-row INSERT ... RETURNING id.
    let start = Clock::start();
    let stmt = c.prepare(INSERT_CHILD)?;
    let mut ids: Vec<i32> = Vec::with_capacity(n);
    for ch in &d.children {
        let row = c.query_one(
            &stmt,
            &[
                &ch.parent_id,
                &ch.name,
                &ch.value,
                &ch.created,
                &ch.flag,
                &ch.note,
            ],
        )?;
        ids.push(row.try_get(0)?);
    }
    (t[1], cpu[1]) = start.stop();
    ensure(ids.iter().copied().eq(1..=n as i32), || {
        "(2) INSERT RETURNING did not return the ids 1..n in order".into()
    })?;

    // (3) n single-row UPDATE by id.
    let start = Clock::start();
    let stmt = c.prepare(UPDATE_CHILD)?;
    let mut updated = 0u64;
    for (id, u) in ids.iter().zip(&d.updates) {
        updated += c.execute(&stmt, &[id, &u.value, &u.flag, &u.note])?;
    }
    (t[2], cpu[2]) = start.stop();
    ensure(updated == n as u64, || {
        format!("(3) the updates reported {updated} rows, expected {n}")
    })?;

    // (4) n x (SELECT a child by id, then its parent by id), into objects.
    let start = Clock::start();
    let s_child = c.prepare(SELECT_CHILD)?;
    let s_parent = c.prepare(SELECT_PARENT)?;
    let mut pairs = Checksum::default();
    for id in &ids {
        let child = child_of(&c.query_one(&s_child, &[id])?)?;
        let parent = parent_of(&c.query_one(&s_parent, &[&child.parent_id])?)?;
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
    let stmt = c.prepare(SELECT_ALL_CHILDREN)?;
    let objs = c
        .query(&stmt, &[])?
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
    let stmt = c.prepare(SELECT_ALL_PARENTS)?;
    let rows = c.query(&stmt, &[])?;
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
pub fn micro_setup(c: &mut drv::Client) -> R<()> {
    c.batch_execute(MICRO_DDL)?;
    Ok(())
}

/// `iters` prepared `SELECT 1` round trips; returns (wall, CPU) µs per round trip.
pub fn select1(c: &mut drv::Client, iters: usize) -> R<(f64, f64)> {
    let stmt = c.prepare("SELECT 1")?;
    let mut sum = 0i64;
    let start = Clock::start();
    for _ in 0..iters {
        let row = c.query_one(&stmt, &[])?;
        sum += row.try_get::<_, i32>(0)? as i64;
    }
    let (wall, cpu) = start.stop();
    ensure(sum == iters as i64, || {
        format!("SELECT 1 summed to {sum}, expected {iters}")
    })?;
    Ok((wall * 1e3 / iters as f64, cpu * 1e3 / iters as f64))
}

/// 100,000 rows x (int, int, text, timestamptz) into typed values; returns (wall, CPU) ms.
pub fn fetch_rows(c: &mut drv::Client, expected: &MicroSum) -> R<(f64, f64)> {
    let start = Clock::start();
    let stmt = c.prepare(MICRO_SELECT)?;
    let rows = c.query(&stmt, &[])?;
    let mut values: Vec<(i32, i32, String, DateTime<Utc>)> = Vec::with_capacity(rows.len());
    for r in &rows {
        values.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    let ms = start.stop();
    drop(rows);
    let mut s: MicroSum = (0, 0, 0, 0, 0);
    for (a, b, text, d) in &values {
        s.0 += 1;
        s.1 += *a as i64;
        s.2 += *b as i64;
        s.3 += text.len() as u64;
        s.4 += d.timestamp_micros() as i128;
    }
    ensure(s == *expected, || {
        format!("100k-row fetch checksum {s:?}, expected {expected:?}")
    })?;
    Ok(ms)
}

/// A prepared INSERT executed 1,000 times (autocommit); returns (wall, CPU) ms.
pub fn insert_many(c: &mut drv::Client) -> R<(f64, f64)> {
    c.batch_execute("TRUNCATE micro_ins")?;
    let rows: Vec<_> = (1..=MICRO_INSERTS as i32).map(micro_insert_row).collect();
    let start = Clock::start();
    let stmt = c.prepare(MICRO_INSERT)?;
    let mut n = 0;
    for (a, b, text, d) in &rows {
        n += c.execute(&stmt, &[a, b, text, d])?;
    }
    let ms = start.stop();
    ensure(n == MICRO_INSERTS as u64, || {
        format!("executemany inserted {n} rows")
    })?;
    let row = c.query_one(MICRO_CHECK, &[])?;
    let got: (i32, i64, i64, i64) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    let want = micro_insert_expected();
    ensure(got == want, || {
        format!("executemany table holds {got:?}, expected {want:?}")
    })?;
    Ok(ms)
}

/// The server's version string.
pub fn server_version(c: &mut drv::Client) -> R<String> {
    let row = c.query_one("SELECT current_setting('server_version')", &[])?;
    Ok(row.try_get(0)?)
}

pub fn backend_pid(c: &mut drv::Client) -> R<i32> {
    let row = c.query_one("SELECT pg_backend_pid()", &[])?;
    Ok(row.try_get(0)?)
}
