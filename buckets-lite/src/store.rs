//! Storage: metadata in SQLite (WAL, one writer connection and a small pool
//! of readers), bodies under `objects/<2 hex>/<object id>` (a file, or a
//! directory of segments for a composed object: bodies.rs), uploads in
//! progress in `tmp/`. Every method here blocks: callers run it through
//! `spawn_blocking`, never on an async worker.
//!
//! Crash safety (issue 2): a body is fsynced in `tmp/`, renamed into
//! `objects/` (directory fsynced) and only then is its row committed, in an
//! IMMEDIATE transaction that re-checks the request's conditions (so
//! `If-None-Match: *` and `If-Match: <id>` are atomic). A body
//! that lost its row (crash between rename and commit, or between commit and
//! removing an overwritten body) is an orphan: [`Store::open`] removes every
//! file under `objects/` that no row references, and empties `tmp/`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::bodies::{remove_path, Bodies};
use crate::conditions::{Conditions, Current, Outcome};
use crate::error::ApiError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    account TEXT NOT NULL,
    name BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (account, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    account TEXT NOT NULL,
    bucket BLOB NOT NULL,
    name BLOB NOT NULL,
    id TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    md5 TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    durability INTEGER NOT NULL,
    headers TEXT NOT NULL,
    PRIMARY KEY (account, bucket, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_id ON objects (id);
";

/// One stored object's metadata.
#[derive(Debug, Clone)]
pub struct ObjectRow {
    pub id: String,
    pub size: u64,
    pub content_type: String,
    /// Base64 MD5 of the body.
    pub md5: String,
    /// Creation time of this object id (listing `mtime`), ms.
    pub created_ms: i64,
    /// Last modification (PUT or metadata update): `Last-Modified`, conditions.
    pub modified_ms: i64,
    pub durability: u8,
    /// Stored headers, lowercase names, in request order.
    pub headers: Vec<(String, String)>,
}

impl ObjectRow {
    pub fn current(&self) -> Current<'_> {
        Current {
            id: &self.id,
            modified_ms: self.modified_ms,
        }
    }
}

/// One listing entry.
#[derive(Debug, Clone)]
pub enum Entry {
    Object { name: String, row: ObjectRow },
    Bucket { name: String, created_ms: i64 },
    Group { name: String },
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Object { name, .. } | Entry::Bucket { name, .. } | Entry::Group { name } => name,
        }
    }
}

/// Validated listing parameters.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub limit: usize,
    pub marker: Option<String>,
    pub prefix: String,
    pub delimiter: Option<char>,
    /// The `grouped_pages` extension: a truncated page may end on a group.
    pub groups_may_end_pages: bool,
}

/// A page: entries, and whether the limit stopped it (-> `Next-Marker`).
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub truncated: bool,
}

pub struct Store {
    root: PathBuf,
    bodies: Bodies,
    db_path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
    /// Rows stepped by listings ([`Store::rows_read`]).
    rows_read: AtomicU64,
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer. NORMAL: commits are not fsynced
    // one by one (bodies are fsynced before their row, so a lost commit can
    // only leave an orphan file, swept at start).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn row_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<ObjectRow> {
    let headers: String = r.get(first + 7)?;
    Ok(ObjectRow {
        id: r.get(first)?,
        size: r.get::<_, i64>(first + 1)? as u64,
        content_type: r.get(first + 2)?,
        md5: r.get(first + 3)?,
        created_ms: r.get(first + 4)?,
        modified_ms: r.get(first + 5)?,
        durability: r.get::<_, i64>(first + 6)? as u8,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
    })
}

const OBJECT_COLS: &str =
    "id, size, content_type, md5, created_ms, modified_ms, durability, headers";

fn outcome_error(outcome: Outcome, name: &str) -> Result<(), ApiError> {
    match outcome {
        Outcome::Pass => Ok(()),
        Outcome::NotFound => Err(ApiError::ObjectNotFound(name.to_owned())),
        Outcome::PreconditionFailed | Outcome::NotModified => Err(ApiError::PreconditionFailed),
    }
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The smallest byte string greater than every string starting with `p`
/// (`p` ends with a delimiter character, so its last byte is below 0xFF).
fn prefix_upper_bound(p: &str) -> Vec<u8> {
    let mut v = p.as_bytes().to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return v;
        }
    }
    vec![0xFF; 1025]
}

impl Store {
    /// Opens (creating) the store under `root`, empties `tmp/` and removes
    /// orphan bodies.
    pub fn open(root: &Path, max_readers: usize) -> Result<Store, io::Error> {
        let to_io = |e: rusqlite::Error| io::Error::other(e.to_string());
        std::fs::create_dir_all(root.join("tmp"))?;
        for i in 0..=255u8 {
            std::fs::create_dir_all(root.join("objects").join(format!("{i:02x}")))?;
        }
        for entry in std::fs::read_dir(root.join("tmp"))? {
            let entry = entry?;
            tracing::info!(file = %entry.path().display(), "removing interrupted upload");
            remove_path(&entry.path());
        }
        let db_path = root.join("meta.db");
        let writer = open_connection(&db_path).map_err(to_io)?;
        writer.execute_batch(SCHEMA).map_err(to_io)?;
        let store = Store {
            root: root.to_owned(),
            bodies: Bodies::open(root)?,
            db_path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            max_readers,
            rows_read: AtomicU64::new(0),
        };
        store.sweep_orphans()?;
        Ok(store)
    }

    fn sweep_orphans(&self) -> io::Result<()> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn
            .prepare("SELECT 1 FROM objects WHERE id = ?1")
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut removed = 0u64;
        for dir in std::fs::read_dir(self.root.join("objects"))? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                let f = f?;
                let id = f.file_name().to_string_lossy().into_owned();
                let referenced = stmt
                    .exists(params![id])
                    .map_err(|e| io::Error::other(e.to_string()))?;
                if !referenced {
                    remove_path(&f.path());
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed orphan bodies");
        }
        Ok(())
    }

    /// Where an upload in progress is written.
    pub fn tmp_path(&self, id: &str) -> PathBuf {
        self.root.join("tmp").join(id)
    }

    /// Committed bodies: where they live, opening and removing them.
    pub fn bodies(&self) -> &Bodies {
        &self.bodies
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let conn = {
            let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            pool.pop()
        };
        let conn = match conn {
            Some(c) => c,
            None => open_connection(&self.db_path)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.max_readers {
            pool.push(conn);
        }
        out
    }

    fn bucket_exists(conn: &Connection, account: &str, bucket: &str) -> Result<bool, ApiError> {
        Ok(conn
            .prepare_cached("SELECT 1 FROM buckets WHERE account = ?1 AND name = ?2")?
            .exists(params![account, bucket.as_bytes()])?)
    }

    fn require_bucket(conn: &Connection, account: &str, bucket: &str) -> Result<(), ApiError> {
        if Self::bucket_exists(conn, account, bucket)? {
            Ok(())
        } else {
            Err(ApiError::BucketNotFound(bucket.to_owned()))
        }
    }

    fn object_row(
        conn: &Connection,
        account: &str,
        bucket: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, ApiError> {
        let sql = format!(
            "SELECT {OBJECT_COLS} FROM objects WHERE account = ?1 AND bucket = ?2 AND name = ?3"
        );
        Ok(conn
            .prepare_cached(&sql)?
            .query_row(params![account, bucket.as_bytes(), name.as_bytes()], |r| {
                row_from(r, 0)
            })
            .optional()?)
    }

    pub fn head_bucket(&self, account: &str, bucket: &str) -> Result<(), ApiError> {
        self.with_reader(|c| Self::require_bucket(c, account, bucket))
    }

    pub fn create_bucket(&self, account: &str, bucket: &str, now_ms: i64) -> Result<(), ApiError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let n = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO buckets (account, name, created_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![account, bucket.as_bytes(), now_ms])?;
        if n == 0 {
            return Err(ApiError::BucketAlreadyExists(bucket.to_owned()));
        }
        Ok(())
    }

    pub fn delete_bucket(&self, account: &str, bucket: &str) -> Result<(), ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Self::require_bucket(&tx, account, bucket)?;
        let non_empty = tx
            .prepare_cached("SELECT 1 FROM objects WHERE account = ?1 AND bucket = ?2 LIMIT 1")?
            .exists(params![account, bucket.as_bytes()])?;
        if non_empty {
            return Err(ApiError::BucketNotEmpty(bucket.to_owned()));
        }
        tx.execute(
            "DELETE FROM buckets WHERE account = ?1 AND name = ?2",
            params![account, bucket.as_bytes()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The object's row (and the bucket's existence checked).
    pub fn get_object(
        &self,
        account: &str,
        bucket: &str,
        name: &str,
    ) -> Result<Option<ObjectRow>, ApiError> {
        self.with_reader(|c| {
            let row = Self::object_row(c, account, bucket, name)?;
            if row.is_none() {
                Self::require_bucket(c, account, bucket)?;
            }
            Ok(row)
        })
    }

    /// Conditions checked before a PUT's body is accepted.
    pub fn precheck_put(
        &self,
        account: &str,
        bucket: &str,
        name: &str,
        conds: &Conditions,
    ) -> Result<(), ApiError> {
        self.with_reader(|c| {
            Self::require_bucket(c, account, bucket)?;
            if conds.is_empty() {
                return Ok(());
            }
            let row = Self::object_row(c, account, bucket, name)?;
            outcome_error(
                conds.evaluate(row.as_ref().map(ObjectRow::current), false),
                name,
            )
        })
    }

    /// Commits an uploaded body: moves the fsynced temp file into place
    /// (its name is a fresh id nothing references yet, so this happens
    /// outside the writer lock), then re-checks the conditions and writes the
    /// row in one IMMEDIATE transaction. Removes the overwritten body after
    /// the commit, and the new one if the commit did not happen.
    pub fn commit_put(
        &self,
        account: &str,
        bucket: &str,
        name: &str,
        conds: &Conditions,
        tmp: &Path,
        row: &ObjectRow,
    ) -> Result<(), ApiError> {
        let dest = self.bodies.path(&row.id);
        std::fs::rename(tmp, &dest)?;
        let result = fsync_dir(dest.parent().expect("body path has a parent"))
            .map_err(ApiError::from)
            .and_then(|()| self.commit_row(account, bucket, name, conds, row));
        match result {
            Ok(Some(old_id)) => {
                self.bodies.remove(&old_id);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.bodies.remove(&row.id);
                Err(e)
            }
        }
    }

    /// The transaction of [`Store::commit_put`]; returns the replaced id.
    fn commit_row(
        &self,
        account: &str,
        bucket: &str,
        name: &str,
        conds: &Conditions,
        row: &ObjectRow,
    ) -> Result<Option<String>, ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        Self::require_bucket(&tx, account, bucket)?;
        let old = Self::object_row(&tx, account, bucket, name)?;
        outcome_error(
            conds.evaluate(old.as_ref().map(ObjectRow::current), false),
            name,
        )?;
        let headers = serde_json::to_string(&row.headers).expect("headers serialise");
        tx.prepare_cached(
            "INSERT OR REPLACE INTO objects (account, bucket, name, id, size, content_type, \
             md5, created_ms, modified_ms, durability, headers) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            account,
            bucket.as_bytes(),
            name.as_bytes(),
            row.id,
            row.size as i64,
            row.content_type,
            row.md5,
            row.created_ms,
            row.modified_ms,
            row.durability as i64,
            headers
        ])?;
        tx.commit()?;
        Ok(old.map(|o| o.id))
    }

    /// Replaces the stored headers and content type; keeps the id.
    #[allow(clippy::too_many_arguments)]
    pub fn update_metadata(
        &self,
        account: &str,
        bucket: &str,
        name: &str,
        conds: &Conditions,
        content_type: &str,
        headers: &[(String, String)],
        now_ms: i64,
    ) -> Result<ObjectRow, ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(mut row) = Self::object_row(&tx, account, bucket, name)? else {
            Self::require_bucket(&tx, account, bucket)?;
            // The conditions table decides first (If-Match: * -> 412).
            outcome_error(conds.evaluate(None, false), name)?;
            return Err(ApiError::ObjectNotFound(name.to_owned()));
        };
        outcome_error(conds.evaluate(Some(row.current()), false), name)?;
        // Last-Modified must move even when two updates land in the same ms.
        row.modified_ms = now_ms.max(row.modified_ms + 1);
        row.content_type = content_type.to_owned();
        row.headers = headers.to_vec();
        tx.prepare_cached(
            "UPDATE objects SET content_type = ?4, headers = ?5, modified_ms = ?6 \
             WHERE account = ?1 AND bucket = ?2 AND name = ?3",
        )?
        .execute(params![
            account,
            bucket.as_bytes(),
            name.as_bytes(),
            row.content_type,
            serde_json::to_string(&row.headers).expect("headers serialise"),
            row.modified_ms
        ])?;
        tx.commit()?;
        Ok(row)
    }

    pub fn delete_object(
        &self,
        account: &str,
        bucket: &str,
        name: &str,
        conds: &Conditions,
    ) -> Result<(), ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = Self::object_row(&tx, account, bucket, name)?;
        if row.is_none() {
            Self::require_bucket(&tx, account, bucket)?;
        }
        outcome_error(
            conds.evaluate(row.as_ref().map(ObjectRow::current), false),
            name,
        )?;
        let Some(row) = row else {
            return Err(ApiError::ObjectNotFound(name.to_owned()));
        };
        tx.execute(
            "DELETE FROM objects WHERE account = ?1 AND bucket = ?2 AND name = ?3",
            params![account, bucket.as_bytes(), name.as_bytes()],
        )?;
        tx.commit()?;
        self.bodies.remove(&row.id);
        Ok(())
    }

    pub fn list_objects(
        &self,
        account: &str,
        bucket: &str,
        params: &ListParams,
    ) -> Result<Page, ApiError> {
        self.with_reader(|c| {
            Self::require_bucket(c, account, bucket)?;
            // No LIMIT: the cursor is stepped row by row and dropped when the
            // walk has what it needs (the primary key gives the order).
            let sql_gt = format!(
                "SELECT name, {OBJECT_COLS} FROM objects WHERE account = ?1 AND bucket = ?2 \
                 AND name > ?3 ORDER BY name"
            );
            let sql_ge = sql_gt.replace("name > ?3", "name >= ?3");
            list(params, |lower, inclusive, visit| {
                let sql = if inclusive { &sql_ge } else { &sql_gt };
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(params![account, bucket.as_bytes(), lower])?;
                while let Some(r) = rows.next()? {
                    self.rows_read.fetch_add(1, Ordering::Relaxed);
                    let name: Vec<u8> = r.get(0)?;
                    let name = String::from_utf8(name).map_err(|_| ApiError::Internal)?;
                    let row = row_from(r, 1)?;
                    if visit(Entry::Object { name, row })? != Step::More {
                        break;
                    }
                }
                Ok(())
            })
        })
    }

    pub fn list_buckets(&self, account: &str, params: &ListParams) -> Result<Page, ApiError> {
        self.with_reader(|c| {
            let sql_gt = "SELECT name, created_ms FROM buckets WHERE account = ?1 AND name > ?2 \
                          ORDER BY name";
            let sql_ge = sql_gt.replace("name > ?2", "name >= ?2");
            list(params, |lower, inclusive, visit| {
                let sql = if inclusive { &sql_ge } else { sql_gt };
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(params![account, lower])?;
                while let Some(r) = rows.next()? {
                    self.rows_read.fetch_add(1, Ordering::Relaxed);
                    let name: Vec<u8> = r.get(0)?;
                    let name = String::from_utf8(name).map_err(|_| ApiError::Internal)?;
                    let created_ms = r.get::<_, i64>(1)?;
                    if visit(Entry::Bucket { name, created_ms })? != Step::More {
                        break;
                    }
                }
                Ok(())
            })
        })
    }

    /// Rows the listings have read since the store opened (a cost counter:
    /// tests and the bench check that a page reads what it answers, not the
    /// bucket).
    pub fn rows_read(&self) -> u64 {
        self.rows_read.load(Ordering::Relaxed)
    }
}

/// The literal head of a SQL `LIKE` pattern: everything before its first
/// unescaped `_` or `%`, escapes (`\x`) resolved.
fn like_head(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '_' | '%' => break,
            '\\' => match chars.next() {
                Some(n) => out.push(n),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

/// `name LIKE '<prefix>%'` as PostgreSQL evaluates it with the default
/// escape `\`: the real server's prefix match (buckets-api.md "Where the
/// real server differs": buckets-mdapi does not escape the prefix).
pub(crate) fn like_prefix(name: &str, prefix: &str) -> bool {
    enum Tok {
        One,
        Any,
        Lit(char),
    }
    let mut pat = Vec::with_capacity(prefix.len() + 1);
    let mut chars = prefix.chars().chain(std::iter::once('%')).peekable();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '_' => Tok::One,
            '%' => Tok::Any,
            // `\` escapes the next character (the appended `%` included).
            '\\' => match chars.next() {
                Some(n) => Tok::Lit(n),
                None => return false,
            },
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = name.chars().collect();
    // Wildcard matching with single-star backtracking.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                t += 1;
                p += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|t| matches!(t, Tok::Any))
}

/// What the listing walk wants after one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next row of the same scan.
    More,
    /// Stop this scan: the walk seeks again from its new lower bound.
    Seek,
    /// Stop: the page is complete.
    Done,
}

/// One visitor call per row, in byte order; its answer decides whether the
/// scan steps on.
pub(crate) type Visit<'a> = dyn FnMut(Entry) -> Result<Step, ApiError> + 'a;

/// The listing walk shared by buckets and objects: from the lower bound
/// (`marker` exclusive, or the prefix's literal head inclusive), in byte
/// order, stopping past the head's range or at `limit` entries. The prefix
/// is matched as the real server matches it, as an unescaped SQL `LIKE`
/// pattern ([`like_prefix`]). With a delimiter, each group is one entry and
/// its whole range is skipped with one seek; where the real server aborts
/// its process (a delimiter listing meeting a name its own prefix check
/// refuses, or a truncated page ending on a group), this answers 500.
///
/// `scan(lower, inclusive, visit)` steps an ordered cursor from the bound and
/// hands each row to `visit` until it answers [`Step::Seek`] or
/// [`Step::Done`] (or the rows end): rows are read one step at a time, so a
/// page reads its entries, one row per group (the group's first, then one
/// indexed seek past the group), the rows the `LIKE` pattern refuses, and
/// at most one row past the end. The cost follows the answer, not the
/// bucket (issue 13).
fn list(
    p: &ListParams,
    mut scan: impl FnMut(&[u8], bool, &mut Visit<'_>) -> Result<(), ApiError>,
) -> Result<Page, ApiError> {
    let head = like_head(&p.prefix);
    let group_of = |name: &str| -> Option<String> {
        let d = p.delimiter?;
        let rest = name.strip_prefix(p.prefix.as_str())?;
        let i = rest.find(d)?;
        Some(format!("{}{}", p.prefix, &rest[..i + d.len_utf8()]))
    };
    // (bound, inclusive)
    let (mut lower, mut inclusive): (Vec<u8>, bool) = match &p.marker {
        Some(m) if m.as_str() >= head.as_str() => match group_of(m) {
            // A marker inside a group (e.g. a Next-Marker that named the
            // group) resumes after the whole group.
            Some(g) => (prefix_upper_bound(&g), true),
            None => (m.as_bytes().to_vec(), false),
        },
        _ => (head.as_bytes().to_vec(), true),
    };
    let mut entries = Vec::new();
    while entries.len() < p.limit {
        let from = lower.clone();
        let mut seek = false;
        scan(&from, inclusive, &mut |entry| {
            let name = entry.name().to_owned();
            if !name.starts_with(head.as_str()) {
                return Ok(Step::Done);
            }
            if !like_prefix(&name, &p.prefix) {
                lower = name.into_bytes();
                inclusive = false;
                return Ok(Step::More);
            }
            if p.delimiter.is_some() && !name.starts_with(p.prefix.as_str()) {
                // buckets-api asserts `name.startsWith(prefix)` when grouping
                // (lib/buckets/common.js): the process aborts.
                tracing::error!(
                    prefix = %p.prefix,
                    %name,
                    "the real buckets-api aborts here: a LIKE match that does not start with the prefix, with a delimiter"
                );
                return Err(ApiError::Internal);
            }
            if let Some(g) = group_of(&name) {
                // One indexed seek past the whole group, not a scan through it.
                lower = prefix_upper_bound(&g);
                inclusive = true;
                entries.push(Entry::Group { name: g });
                seek = entries.len() < p.limit;
                return Ok(if seek { Step::Seek } else { Step::Done });
            }
            lower = name.into_bytes();
            inclusive = false;
            entries.push(entry);
            Ok(if entries.len() == p.limit {
                Step::Done
            } else {
                Step::More
            })
        })?;
        if !seek {
            break;
        }
    }
    let truncated = entries.len() == p.limit;
    if truncated && !p.groups_may_end_pages && matches!(entries.last(), Some(Entry::Group { .. })) {
        // Group entries carry no raw record, and a truncated page needs the
        // last one's: `lastRaw (object) is required`, the process aborts
        // (lib/buckets/objects/list.js).
        tracing::error!(
            prefix = %p.prefix,
            "the real buckets-api aborts here: a truncated listing page ending on a group"
        );
        return Err(ApiError::Internal);
    }
    Ok(Page { entries, truncated })
}

#[cfg(test)]
mod like_tests {
    use super::{like_head, like_prefix};

    #[test]
    fn prefix_is_an_unescaped_like_pattern() {
        assert!(like_prefix("a_b/x", "a_b"));
        assert!(like_prefix("axb/x", "a_b"), "_ is any one character");
        assert!(!like_prefix("ab/x", "a_b"));
        assert!(like_prefix("a/zzz/b", "a%b"), "% is any run");
        assert!(like_prefix("ab", "a%b"));
        assert!(like_prefix("a_b", "a\\_b"), "\\ escapes");
        assert!(!like_prefix("axb", "a\\_b"));
        // A trailing `\` escapes the appended `%`: only the name "a%" matches.
        assert!(like_prefix("a%", "a\\"));
        assert!(!like_prefix("a%x", "a\\"));
        assert!(!like_prefix("a\\x", "a\\"));
        assert!(
            like_prefix("日本_", "日_"),
            "_ is one character, not one byte"
        );
        assert!(like_prefix("anything", ""));
        assert_eq!(like_head("dir_1/"), "dir");
        assert_eq!(like_head("a\\_b%c"), "a_b");
        assert_eq!(like_head("plain/"), "plain/");
    }
}

#[cfg(test)]
mod list_cost_tests {
    use super::*;

    /// A store in a fresh directory under the system temp dir, removed on drop.
    struct TempStore {
        dir: PathBuf,
        store: Store,
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// `groups` directories of `per_group` keys each (`dNNN/kNNNN`), plus
    /// the `extra` names, in bucket `b` of account `a`.
    fn seeded(tag: &str, groups: u32, per_group: u32, extra: &[&str]) -> TempStore {
        let dir = std::env::temp_dir().join(format!(
            "buckets-lite-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let store = Store::open(&dir, 2).unwrap();
        store.create_bucket("a", "b", 0).unwrap();
        let mut names: Vec<String> = (0..groups)
            .flat_map(|g| (0..per_group).map(move |k| format!("d{g:03}/k{k:04}")))
            .collect();
        names.extend(extra.iter().map(|e| e.to_string()));
        {
            let mut conn = store.writer.lock().unwrap();
            let tx = conn.transaction().unwrap();
            for (i, n) in names.iter().enumerate() {
                tx.execute(
                    "INSERT INTO objects (account, bucket, name, id, size, content_type, md5, \
                     created_ms, modified_ms, durability, headers) \
                     VALUES ('a', ?1, ?2, ?3, 0, 'x', 'x', 0, 0, 2, '[]')",
                    params![b"b".as_slice(), n.as_bytes(), format!("{i:032x}")],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        TempStore { dir, store }
    }

    fn lp(limit: usize, prefix: &str, delimiter: Option<char>, marker: Option<&str>) -> ListParams {
        ListParams {
            limit,
            marker: marker.map(str::to_owned),
            prefix: prefix.to_owned(),
            delimiter,
            groups_may_end_pages: false,
        }
    }

    #[test]
    fn a_truncated_page_ends_on_a_group_only_with_the_grouped_pages_extension() {
        let t = seeded("grouped", 12, 5, &["d009z"]);
        // The tenth entry is the group `d009/`: the real server aborts there.
        let p = lp(10, "", Some('/'), None);
        assert!(matches!(
            t.store.list_objects("a", "b", &p),
            Err(ApiError::Internal)
        ));
        let p = ListParams {
            groups_may_end_pages: true,
            ..p
        };
        let page = t.store.list_objects("a", "b", &p).unwrap();
        assert!(page.truncated);
        assert_eq!(page.entries.len(), 10);
        assert_eq!(page.entries[9].name(), "d009/");
        // The group as the marker resumes after the whole group.
        let next = ListParams {
            marker: Some("d009/".into()),
            ..p
        };
        let page = t.store.list_objects("a", "b", &next).unwrap();
        assert_eq!(page.entries[0].name(), "d009z");
        assert_eq!(page.entries[1].name(), "d010/");
    }

    /// Rows read by one page, and the page.
    fn cost(s: &Store, p: &ListParams) -> (u64, Page) {
        let before = s.rows_read();
        let page = s.list_objects("a", "b", p).unwrap();
        (s.rows_read() - before, page)
    }

    #[test]
    fn a_delimiter_page_reads_one_row_per_group_not_a_batch() {
        // `d009z` sorts right after the group `d009/`.
        let t = seeded("delim", 60, 40, &["d009z", "z1", "z2"]);
        // 10 groups of 40 keys and one key: one row per group (then one seek
        // past it) and the key.
        let (rows, page) = cost(&t.store, &lp(11, "", Some('/'), None));
        assert_eq!(page.entries.len(), 11);
        assert!(page.truncated);
        assert_eq!(page.entries[9].name(), "d009/");
        assert_eq!(page.entries[10].name(), "d009z");
        assert!(rows <= 11, "read {rows} rows for 11 entries");
        // Every group and the 3 plain keys: 63 entries, 63 rows, nothing more.
        let (rows, page) = cost(&t.store, &lp(1000, "", Some('/'), None));
        assert_eq!(page.entries.len(), 63);
        assert!(!page.truncated);
        assert!(rows <= 63, "read {rows} rows for 63 entries over 2403 keys");
        // Resuming after a group named as the marker: no row of that group.
        let (rows, page) = cost(&t.store, &lp(1000, "", Some('/'), Some("d055/")));
        assert_eq!(page.entries[0].name(), "d056/");
        assert_eq!(page.entries.len(), 6);
        assert!(rows <= 6, "read {rows} rows for 6 entries");
    }

    #[test]
    fn a_prefix_page_reads_its_keys_and_one_more() {
        let t = seeded("prefix", 60, 40, &[]);
        // A prefix matching 10 keys of 2400: at most those and one row past them.
        let (rows, page) = cost(&t.store, &lp(1000, "d007/k001", None, None));
        assert_eq!(page.entries.len(), 10);
        assert!(rows <= 11, "read {rows} rows for a 10-key answer");
        // A full page of 25 stops at 25 rows.
        let (rows, page) = cost(&t.store, &lp(25, "d00", None, None));
        assert!(page.truncated);
        assert_eq!(page.entries.len(), 25);
        assert_eq!(rows, 25);
    }
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    /// A crash can leave a compose's segment directory in `tmp/`, or one
    /// renamed into `objects/` whose row never committed: both go at the
    /// next start; a committed composed body stays.
    #[test]
    fn start_sweeps_segment_directories_that_no_row_references() {
        let root = std::env::temp_dir().join(format!(
            "buckets-lite-sweep-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let store = Store::open(&root, 1).unwrap();
        store.create_bucket("a", "b", 0).unwrap();
        let seg_dir = |id: &str, into: &Path| {
            std::fs::create_dir(into).unwrap();
            std::fs::write(into.join("0"), id).unwrap();
        };
        let kept = "aa000000-0000-4000-8000-000000000001";
        let orphan = "ab000000-0000-4000-8000-000000000002";
        let interrupted = "ac000000-0000-4000-8000-000000000003";
        let tmp = store.tmp_path(kept);
        seg_dir(kept, &tmp);
        let row = ObjectRow {
            id: kept.into(),
            size: kept.len() as u64,
            content_type: "x".into(),
            md5: String::new(),
            created_ms: 0,
            modified_ms: 0,
            durability: 2,
            headers: vec![],
        };
        store
            .commit_put("a", "b", "k", &Conditions::default(), &tmp, &row)
            .unwrap();
        seg_dir(orphan, &store.bodies().path(orphan));
        seg_dir(interrupted, &store.tmp_path(interrupted));
        drop(store);

        let store = Store::open(&root, 1).unwrap();
        assert!(store.bodies().path(kept).join("0").is_file());
        assert!(!store.bodies().path(orphan).exists());
        assert!(!store.tmp_path(interrupted).exists());
        let Ok(crate::bodies::Opened::Segments(s)) = store.bodies().open_body(kept) else {
            panic!("a segmented body")
        };
        assert_eq!(s.read_all().unwrap(), kept.as_bytes());
        drop(s);
        let _ = std::fs::remove_dir_all(&root);
    }
}
