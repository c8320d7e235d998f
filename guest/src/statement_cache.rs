//! The automatic prepared-statement cache behind `query` and pipelines, after psycopg 3's
//! `_preparing.py`: statements keyed by SQL text and declared parameter types, named
//! `wasmpg_s<N>`, evicted least recently used first, and the evicted names whose
//! Close(Statement) is still owed to the server.
//!
//! The cache only keeps the books: the session sends Parse/Describe for a [`Lookup::Miss`],
//! [`StatementCache::insert`]s the statement once the server has described it, and sends the
//! Close messages from [`StatementCache::take_evicted`] with its next request.
//!
//! Invalidation goes by SQLSTATE and the server's non-localized fields, never by message text
//! (which `lc_messages` translates): [`invalidation`] classifies a server error, and the session
//! drops the one statement it concerns ([`StatementCache::discard`]), or everything after
//! `DISCARD ALL` / `DEALLOCATE ALL` ([`StatementCache::clear`]).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use rustc_hash::FxHasher;

/// What identifies a cached statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheKey {
    sql: String,
    param_types: Vec<u32>,
}

/// A statement to be cached under `name` once the server has described it.
#[derive(Debug)]
pub(crate) struct Pending {
    key: CacheKey,
    name: String,
}

impl Pending {
    /// The statement name to prepare it under.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// The result of [`StatementCache::lookup`].
#[derive(Debug)]
pub(crate) enum Lookup<D> {
    /// Prepared already: execute `name`, described by the value.
    Hit(Arc<str>, D),
    /// Not cached: prepare it, under the pending name if the cache is enabled (`None`: use the
    /// unnamed statement and do not cache it).
    Miss(Option<Pending>),
}

/// A cached statement: its declared parameter types, name, description `D`, and when it was
/// last used.
#[derive(Debug)]
struct Entry<D> {
    param_types: Vec<u32>,
    name: Arc<str>,
    described: D,
    last_used: u64,
}

/// The statement cache of one session. `D` is what the session keeps per statement (its
/// description).
///
/// Entries are found by SQL text first (borrowed: a hit allocates nothing; FxHash, since the
/// keys are the application's own SQL, not the network's), then by parameter types among the
/// few statements that share a text.
#[derive(Debug)]
pub(crate) struct StatementCache<D> {
    /// The most statements kept; 0 disables the cache.
    capacity: usize,
    entries: HashMap<String, Vec<Entry<D>>, BuildHasherDefault<FxHasher>>,
    /// Statements cached (entries in all the vectors).
    len: usize,
    /// Names handed out so far: the next is `wasmpg_s<names + 1>`.
    names: u64,
    /// Ticks once per lookup; orders entries by last use.
    clock: u64,
    /// Close(Statement) messages owed to the server, sent with the next request.
    evicted: Vec<String>,
}

impl<D: Clone> StatementCache<D> {
    pub(crate) fn new(capacity: u32) -> Self {
        StatementCache {
            capacity: capacity as usize,
            entries: HashMap::default(),
            len: 0,
            names: 0,
            clock: 0,
            evicted: Vec::new(),
        }
    }

    /// Looks a statement up for execution, marking a hit as the most recently used.
    pub(crate) fn lookup(&mut self, sql: &str, param_types: &[u32]) -> Lookup<D> {
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self
            .entries
            .get_mut(sql)
            .and_then(|same| same.iter_mut().find(|e| e.param_types == param_types))
        {
            entry.last_used = clock;
            return Lookup::Hit(entry.name.clone(), entry.described.clone());
        }
        if self.capacity == 0 {
            return Lookup::Miss(None);
        }
        self.names += 1;
        Lookup::Miss(Some(Pending {
            key: CacheKey {
                sql: sql.to_owned(),
                param_types: param_types.to_vec(),
            },
            name: format!("wasmpg_s{}", self.names),
        }))
    }

    /// Caches a statement the server described, evicting the least recently used one when
    /// full (its name joins those to close).
    pub(crate) fn insert(&mut self, pending: Pending, described: D) {
        if self.len >= self.capacity {
            let oldest = self
                .entries
                .values()
                .flatten()
                .min_by_key(|e| e.last_used)
                .map(|e| e.name.clone());
            if let Some(oldest) = oldest {
                if let Some(evicted) = self.remove(&oldest) {
                    self.evicted.push(evicted.name.to_string());
                }
            }
        }
        let CacheKey { sql, param_types } = pending.key;
        let same = self.entries.entry(sql).or_default();
        // A statement is looked up before it is inserted, but the same text and types may have
        // been prepared twice meanwhile (a pipeline): the newer replaces the older, as a map
        // keyed by both would.
        if let Some(i) = same.iter().position(|e| e.param_types == param_types) {
            same.swap_remove(i);
            self.len -= 1;
        }
        same.push(Entry {
            param_types,
            name: Arc::from(pending.name),
            described,
            last_used: self.clock,
        });
        self.len += 1;
    }

    /// Removes the entry named `name`.
    fn remove(&mut self, name: &str) -> Option<Entry<D>> {
        let (sql, i) = self.entries.iter().find_map(|(sql, same)| {
            same.iter()
                .position(|e| &*e.name == name)
                .map(|i| (sql.clone(), i))
        })?;
        let same = self.entries.get_mut(&sql)?;
        let entry = same.swap_remove(i);
        if same.is_empty() {
            self.entries.remove(&sql);
        }
        self.len -= 1;
        Some(entry)
    }

    /// Forgets every statement without closing them: the server no longer has them
    /// (`DISCARD ALL`, `DEALLOCATE ALL`).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.len = 0;
        self.evicted.clear();
    }

    /// Drops the statement named `name`. With `close`, its Close(Statement) is owed (the server
    /// still has it, with a plan that no longer fits); without, the server has lost it already.
    /// Returns whether it was cached.
    pub(crate) fn discard(&mut self, name: &str, close: bool) -> bool {
        let Some(entry) = self.remove(name) else {
            return false;
        };
        if close {
            self.evicted.push(entry.name.to_string());
        }
        true
    }

    /// The names of evicted statements whose Close is owed, leaving none owed.
    pub(crate) fn take_evicted(&mut self) -> Vec<String> {
        std::mem::take(&mut self.evicted)
    }

    /// Owes the Closes of `names` again (taken with [`StatementCache::take_evicted`] for a
    /// request that was then refused before it was sent).
    pub(crate) fn owe_closes(&mut self, mut names: Vec<String>) {
        names.append(&mut self.evicted);
        self.evicted = names;
    }
}

/// Why a server error makes a cached statement unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// The statement's result shape changed under it (a table re-created with another column
    /// type, a column added to a `SELECT *`): SQLSTATE 0A000 raised by the plan cache's
    /// revalidation (routine `RevalidateCachedQuery`). The server still has the statement.
    Stale,
    /// The server no longer has the statement (SQLSTATE 26000, invalid_sql_statement_name:
    /// `DEALLOCATE`, `DISCARD`, or a pooler that moved the session to another server).
    Gone,
}

/// Classifies a server error by its SQLSTATE and non-localized routine name.
pub(crate) fn invalidation(code: &str, routine: Option<&str>) -> Option<Invalidation> {
    match code {
        // 0A000 is feature_not_supported in general; only the plan cache's revalidation means
        // "this prepared statement's result type changed".
        "0A000" if routine == Some("RevalidateCachedQuery") => Some(Invalidation::Stale),
        "26000" => Some(Invalidation::Gone),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks `sql` up and, on a miss, caches it as the server would describe it (`described`).
    fn execute(cache: &mut StatementCache<u32>, sql: &str, described: u32) -> (String, bool) {
        match cache.lookup(sql, &[]) {
            Lookup::Hit(name, d) => {
                assert_eq!(d, described);
                (name.to_string(), true)
            }
            Lookup::Miss(Some(pending)) => {
                let name = pending.name().to_owned();
                cache.insert(pending, described);
                (name, false)
            }
            Lookup::Miss(None) => (String::new(), false),
        }
    }

    #[test]
    fn names_are_sequential_and_hits_reuse_them() {
        let mut cache = StatementCache::new(10);
        assert_eq!(execute(&mut cache, "a", 1), ("wasmpg_s1".to_owned(), false));
        assert_eq!(execute(&mut cache, "b", 2), ("wasmpg_s2".to_owned(), false));
        assert_eq!(execute(&mut cache, "a", 1), ("wasmpg_s1".to_owned(), true));
        // Same text, other declared types: another statement.
        match cache.lookup("a", &[23]) {
            Lookup::Miss(Some(p)) => assert_eq!(p.name(), "wasmpg_s3"),
            other => panic!("expected a miss, got {other:?}"),
        }
        assert!(cache.take_evicted().is_empty());
    }

    #[test]
    fn the_least_recently_used_is_evicted_and_owed_a_close() {
        let mut cache = StatementCache::new(2);
        execute(&mut cache, "a", 1);
        execute(&mut cache, "b", 2);
        execute(&mut cache, "a", 1); // "b" is now the least recently used
        execute(&mut cache, "c", 3);
        assert_eq!(cache.take_evicted(), vec!["wasmpg_s2".to_owned()]);
        assert!(cache.take_evicted().is_empty());
        assert!(execute(&mut cache, "a", 1).1);
        assert!(execute(&mut cache, "c", 3).1);
        assert_eq!(execute(&mut cache, "b", 2), ("wasmpg_s4".to_owned(), false));
        assert_eq!(cache.take_evicted(), vec!["wasmpg_s1".to_owned()]);
    }

    #[test]
    fn a_disabled_cache_uses_no_names() {
        let mut cache = StatementCache::new(0);
        assert_eq!(execute(&mut cache, "a", 1), (String::new(), false));
        assert_eq!(execute(&mut cache, "a", 1), (String::new(), false));
        assert!(cache.take_evicted().is_empty());
    }

    #[test]
    fn discarding_one_statement_closes_it_only_if_the_server_still_has_it() {
        let mut cache = StatementCache::new(4);
        execute(&mut cache, "a", 1);
        execute(&mut cache, "b", 2);
        assert!(cache.discard("wasmpg_s1", true));
        assert!(!cache.discard("wasmpg_s1", true));
        assert!(cache.discard("wasmpg_s2", false));
        assert_eq!(cache.take_evicted(), vec!["wasmpg_s1".to_owned()]);
        assert_eq!(execute(&mut cache, "a", 1), ("wasmpg_s3".to_owned(), false));
        assert_eq!(execute(&mut cache, "b", 2), ("wasmpg_s4".to_owned(), false));
    }

    #[test]
    fn invalidation_goes_by_sqlstate_and_routine_only() {
        assert_eq!(
            invalidation("0A000", Some("RevalidateCachedQuery")),
            Some(Invalidation::Stale)
        );
        // Another "feature not supported" is not about the cache.
        assert_eq!(invalidation("0A000", Some("transformSelectStmt")), None);
        assert_eq!(invalidation("0A000", None), None);
        assert_eq!(invalidation("26000", None), Some(Invalidation::Gone));
        assert_eq!(invalidation("42P01", Some("RevalidateCachedQuery")), None);
    }

    #[test]
    fn clearing_forgets_without_closing_and_names_stay_unique() {
        let mut cache = StatementCache::new(4);
        execute(&mut cache, "a", 1);
        cache.clear();
        assert_eq!(execute(&mut cache, "a", 1), ("wasmpg_s2".to_owned(), false));
        assert!(cache.take_evicted().is_empty());
    }
}
