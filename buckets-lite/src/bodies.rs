//! Object bodies on disk. `objects/<2 hex>/<object id>` is either
//!
//! - one file (every PUT), or
//! - a directory of segment files `0`, `1`, ... whose bytes, in that order,
//!   are the body (a compose, compose.rs). Each segment is a hard link to a
//!   part's file, so a compose copies no byte, whatever the filesystem.
//!
//! Both are immutable once their row is committed: a new PUT or compose is
//! a new id and a new path, and nothing ever writes into a committed file
//! (so a part and the composed object may share an inode).
//!
//! Removal while a GET streams. An open file keeps its bytes after unlink,
//! so a reader of a one-file body is never cut short by a DELETE or an
//! overwrite. A segmented body is opened one segment at a time as the
//! reader goes (a 10,000-part object would otherwise hold 10,000 fds per
//! GET), so every reader of one holds a [`Lease`] on its id: a removal
//! while it is leased only marks it, and the last reader out removes it.
//! Removal renames the directory into `trash/` under the lease lock (one
//! syscall), then deletes it from there outside the lock. `tmp/` and
//! `trash/` are emptied at start; an unreferenced body is swept
//! (store.rs).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Most segments one body may have (a compose of composed objects links
/// their segments, so the count can exceed the part count).
pub const MAX_SEGMENTS: usize = 100_000;

pub struct Bodies {
    objects: PathBuf,
    leases: Arc<Leases>,
    /// Whether the data directory's filesystem takes hard links (probed at
    /// start): then a compose costs its part count, not its bytes.
    links: bool,
}

struct Leases {
    trash: PathBuf,
    /// Segmented bodies being read: readers, and whether a removal waits.
    held: Mutex<HashMap<String, Held>>,
}

struct Held {
    readers: usize,
    doomed: bool,
}

impl Leases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves `dir` out of `objects/` into `trash/` (one rename; the caller
    /// holds the lock, so no reader can lease it meanwhile). Returns where
    /// it went, to be deleted outside the lock.
    fn to_trash(&self, id: &str, dir: &Path) -> Option<PathBuf> {
        let dest = self.trash.join(id);
        std::fs::rename(dir, &dest).ok().map(|()| dest)
    }
}

/// A reader's hold on a segmented body: it stays on disk until dropped.
pub struct Lease {
    leases: Arc<Leases>,
    id: String,
    dir: PathBuf,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut map = self.leases.lock();
        let Some(h) = map.get_mut(&self.id) else {
            return;
        };
        h.readers -= 1;
        if h.readers > 0 {
            return;
        }
        let doomed = map.remove(&self.id).is_some_and(|h| h.doomed);
        // The last reader out moves it away before anyone can lease it
        // again, then deletes it off the async workers when there are some
        // (a stream is dropped on one).
        let Some(trashed) = doomed
            .then(|| self.leases.to_trash(&self.id, &self.dir))
            .flatten()
        else {
            return;
        };
        drop(map);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || remove_path(&trashed));
            }
            Err(_) => remove_path(&trashed),
        }
    }
}

/// An opened body.
pub enum Opened {
    File(File),
    Segments(Segments),
}

/// A segmented body: its segments' paths and sizes, leased.
pub struct Segments {
    lease: Lease,
    sizes: Vec<u64>,
}

impl Segments {
    pub fn len(&self) -> u64 {
        self.sizes.iter().sum()
    }

    /// The reads that make bytes `first..first + len`: each segment
    /// touched, the offset in it and how many bytes.
    pub fn plan(&self, first: u64, len: u64) -> Vec<(PathBuf, u64, u64)> {
        let mut out = Vec::new();
        let (mut at, mut left) = (0u64, len);
        for (i, &size) in self.sizes.iter().enumerate() {
            if left == 0 {
                break;
            }
            let end = at + size;
            if end > first {
                let off = first.saturating_sub(at);
                let n = (size - off).min(left);
                if n > 0 {
                    out.push((segment(&self.lease.dir, i), off, n));
                    left -= n;
                }
            }
            at = end;
        }
        out
    }

    /// The whole body (small bodies only).
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        use std::io::Read as _;
        let mut buf = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        for (path, _, n) in self.plan(0, self.len()) {
            File::open(path)?.take(n).read_to_end(&mut buf)?;
        }
        Ok(buf)
    }

    /// Keeps the body on disk for as long as the returned lease lives.
    pub fn into_lease(self) -> Lease {
        self.lease
    }
}

fn segment(dir: &Path, i: usize) -> PathBuf {
    dir.join(i.to_string())
}

/// Removes a file or a directory tree, ignoring errors (cleanup).
pub fn remove_path(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(p);
        }
        Err(_) => {}
    }
}

impl Bodies {
    /// Bodies under `root` (`objects/` and `trash/`; `trash/` emptied).
    pub fn open(root: &Path) -> io::Result<Bodies> {
        let trash = root.join("trash");
        std::fs::create_dir_all(&trash)?;
        for entry in std::fs::read_dir(&trash)? {
            remove_path(&entry?.path());
        }
        let probe = trash.join("link-probe");
        std::fs::write(&probe, b"")?;
        let links = std::fs::hard_link(&probe, trash.join("link-probe.2")).is_ok();
        remove_path(&trash.join("link-probe.2"));
        remove_path(&probe);
        if !links {
            tracing::warn!(dir = %root.display(), "no hard links here: a compose copies its parts");
        }
        Ok(Bodies {
            links,
            objects: root.join("objects"),
            leases: Arc::new(Leases {
                trash,
                held: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Whether a compose links its parts (else it copies them).
    pub fn links(&self) -> bool {
        self.links
    }

    /// Where a committed body lives (a file or a segment directory).
    pub fn path(&self, id: &str) -> PathBuf {
        self.objects.join(&id[..2]).join(id)
    }

    /// Opens a committed body. `NotFound` when it is gone (an overwrite or
    /// delete since its row was read: read the row again).
    pub fn open_body(&self, id: &str) -> io::Result<Opened> {
        let path = self.path(id);
        let f = File::open(&path)?;
        if !f.metadata()?.is_dir() {
            return Ok(Opened::File(f));
        }
        drop(f);
        let lease = {
            let mut map = self.leases.lock();
            map.entry(id.to_owned())
                .or_insert(Held {
                    readers: 0,
                    doomed: false,
                })
                .readers += 1;
            Lease {
                leases: self.leases.clone(),
                id: id.to_owned(),
                dir: path,
            }
        };
        // Removed between the open and the lease: it went to trash/.
        if !lease.dir.is_dir() {
            return Err(io::ErrorKind::NotFound.into());
        }
        let mut sizes = Vec::new();
        loop {
            match std::fs::metadata(segment(&lease.dir, sizes.len())) {
                Ok(m) => sizes.push(m.len()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        Ok(Opened::Segments(Segments { lease, sizes }))
    }

    /// Removes a body that lost its row (overwritten, deleted, or never
    /// committed). A leased segmented body goes when its last reader does.
    pub fn remove(&self, id: &str) {
        let path = self.path(id);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                let mut map = self.leases.lock();
                if let Some(h) = map.get_mut(id) {
                    h.doomed = true;
                    return;
                }
                let trashed = self.leases.to_trash(id, &path);
                drop(map);
                if let Some(t) = trashed {
                    remove_path(&t);
                }
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
            }
            Err(_) => {}
        }
    }

    /// Appends body `id`'s bytes to the segment directory `dir` being
    /// built, as segments `*next..`: hard links to its file (or to each of
    /// its segments), a copy where the filesystem refuses the link. Returns
    /// the bytes added; `NotFound` when the body is gone.
    pub fn link_into(&self, dir: &Path, next: &mut usize, id: &str) -> io::Result<u64> {
        let src = self.path(id);
        let meta = std::fs::metadata(&src)?;
        if !meta.is_dir() {
            return link_one(&src, dir, next);
        }
        let mut total = 0;
        for i in 0.. {
            match link_one(&segment(&src, i), dir, next) {
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::NotFound && i > 0 => {
                    // The end of the segments, unless the source went away
                    // meanwhile (then its directory is gone too).
                    if !src.is_dir() {
                        return Err(e);
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// Links (or copies) one file as the next segment of `dir`.
fn link_one(src: &Path, dir: &Path, next: &mut usize) -> io::Result<u64> {
    if *next >= MAX_SEGMENTS {
        return Err(io::Error::other(TooManySegments));
    }
    let dest = segment(dir, *next);
    match std::fs::hard_link(src, &dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
        Err(e) => {
            // No hard links here (or too many to one inode): copy, which
            // is copy_file_range(2) on Linux, and make it durable.
            tracing::debug!(error = %e, "hard link refused; copying the segment");
            let mut from = File::open(src)?;
            let mut to = File::create(&dest)?;
            io::copy(&mut from, &mut to)?;
            to.sync_all()?;
        }
    }
    *next += 1;
    Ok(std::fs::metadata(&dest)?.len())
}

/// A compose would make a body of more than [`MAX_SEGMENTS`] segments.
#[derive(Debug)]
pub struct TooManySegments;

impl std::fmt::Display for TooManySegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {MAX_SEGMENTS} segments")
    }
}

impl std::error::Error for TooManySegments {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fresh(tag: &str) -> (Dir, Bodies) {
        let root = std::env::temp_dir().join(format!(
            "bodies-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        for i in 0..=255u8 {
            std::fs::create_dir_all(root.join("objects").join(format!("{i:02x}"))).unwrap();
        }
        let b = Bodies::open(&root).unwrap();
        (Dir(root), b)
    }

    fn put(b: &Bodies, id: &str, bytes: &[u8]) {
        std::fs::write(b.path(id), bytes).unwrap();
    }

    /// Builds segmented body `id` from `parts` as compose does.
    fn compose(b: &Bodies, id: &str, parts: &[&str]) -> u64 {
        let tmp = b.leases.trash.parent().unwrap().join(format!("tmp-{id}"));
        std::fs::create_dir(&tmp).unwrap();
        let mut next = 0;
        let mut n = 0;
        for p in parts {
            n += b.link_into(&tmp, &mut next, p).unwrap();
        }
        std::fs::rename(&tmp, b.path(id)).unwrap();
        n
    }

    fn read(b: &Bodies, id: &str, first: u64, len: u64) -> Vec<u8> {
        use std::io::{Read as _, Seek as _};
        match b.open_body(id).unwrap() {
            Opened::File(mut f) => {
                f.seek(io::SeekFrom::Start(first)).unwrap();
                let mut v = Vec::new();
                f.take(len).read_to_end(&mut v).unwrap();
                v
            }
            Opened::Segments(s) => {
                let mut v = Vec::new();
                for (p, off, n) in s.plan(first, len) {
                    let mut f = File::open(p).unwrap();
                    f.seek(io::SeekFrom::Start(off)).unwrap();
                    f.take(n).read_to_end(&mut v).unwrap();
                }
                v
            }
        }
    }

    #[test]
    fn a_compose_links_every_part_and_copies_no_byte() {
        let (_d, b) = fresh("link");
        put(&b, "aa1", b"hello ");
        put(&b, "aa2", b"");
        put(&b, "aa3", b"world");
        assert_eq!(compose(&b, "bb1", &["aa1", "aa2", "aa3", "aa1"]), 17);
        // Segment 0 IS part aa1's file: one inode, two names.
        let part = std::fs::metadata(b.path("aa1")).unwrap();
        let seg = std::fs::metadata(b.path("bb1").join("0")).unwrap();
        assert_eq!((seg.ino(), seg.dev()), (part.ino(), part.dev()));
        assert_eq!(part.nlink(), 3, "aa1 is linked twice");
        assert_eq!(read(&b, "bb1", 0, 17), b"hello worldhello ");
        // Ranges across segment boundaries, and an empty segment skipped.
        assert_eq!(read(&b, "bb1", 4, 4), b"o wo");
        assert_eq!(read(&b, "bb1", 6, 5), b"world");
        assert_eq!(read(&b, "bb1", 16, 1), b" ");
        // Parts removed: the composed body keeps its bytes.
        for p in ["aa1", "aa2", "aa3"] {
            b.remove(p);
        }
        assert_eq!(read(&b, "bb1", 0, 17), b"hello worldhello ");
        // A compose of a composed body links its segments (flattened).
        put(&b, "aa4", b"!");
        assert_eq!(compose(&b, "bb2", &["bb1", "aa4"]), 18);
        assert!(std::fs::metadata(b.path("bb2").join("4"))
            .unwrap()
            .is_file());
        assert_eq!(read(&b, "bb2", 0, 18), b"hello worldhello !");
    }

    #[test]
    fn a_leased_segmented_body_outlives_its_removal_until_the_last_reader() {
        let (_d, b) = fresh("lease");
        put(&b, "aa1", b"abc");
        put(&b, "aa2", b"def");
        compose(&b, "bb1", &["aa1", "aa2"]);
        let Opened::Segments(r1) = b.open_body("bb1").unwrap() else {
            panic!("segmented")
        };
        let Opened::Segments(r2) = b.open_body("bb1").unwrap() else {
            panic!("segmented")
        };
        assert_eq!(r1.len(), 6);
        b.remove("bb1");
        assert!(b.path("bb1").is_dir(), "leased: still there");
        assert_eq!(r1.read_all().unwrap(), b"abcdef");
        drop(r1);
        assert!(b.path("bb1").is_dir(), "one reader left");
        let lease = r2.into_lease();
        drop(lease);
        assert!(!b.path("bb1").exists(), "the last reader removed it");
        assert_eq!(
            std::fs::read_dir(&b.leases.trash).unwrap().count(),
            0,
            "nothing left in trash/"
        );
        assert!(b.leases.lock().is_empty());
        assert_eq!(
            b.open_body("bb1").err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        // Unleased: removed at once.
        compose(&b, "bb2", &["aa1"]);
        b.remove("bb2");
        assert!(!b.path("bb2").exists());
    }

    #[test]
    fn a_missing_part_is_not_found() {
        let (_d, b) = fresh("missing");
        let tmp = b.leases.trash.parent().unwrap().join("tmp-x");
        std::fs::create_dir(&tmp).unwrap();
        let mut next = 0;
        let e = b.link_into(&tmp, &mut next, "ab-gone").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(next, 0);
    }
}
