//! ListObjects (v1, v2, and ListObjectVersions, which the gateway builds on
//! it) over native listing pages.
//!
//! The native listing takes a prefix, an exclusive marker and a
//! one-character delimiter, and pages by `Next-Marker`. The real server
//! (buckets-api.md "Where the real server differs") matches `prefix` as an
//! unescaped SQL `LIKE 'prefix%'` pattern, and aborts its process when a
//! truncated page ends on a delimiter group. So:
//! - the native prefix is the S3 prefix cut before its first `_`, `%` or
//!   `\` ([`native_prefix`]): what the store matches is then literal and a
//!   superset; the client's `list_page` (for every caller, multipart
//!   listings included) filters by the whole literal prefix, starts just
//!   below it and ends at the first name past it;
//! - the real store is NEVER asked to group (no native `delimiter`): a
//!   store that advertises buckets-lite's `grouped-pages` extension (s3gw's
//!   embedded store) groups a one-character delimiter under a literal
//!   prefix, one entry per common prefix; otherwise every delimiter is
//!   grouped here, and when a page ends inside a common prefix
//!   the next native request jumps past the whole prefix
//!   (`<prefix>U+10FFFF`), and keys still inside it are skipped; the
//!   native `limit` adapts ([`next_group_limit`]): after a page that ended
//!   inside a group the next one asks for few entries, so large groups
//!   cost one short request each instead of a read of all their keys;
//! - max-keys 0..=1000 and an exact `IsTruncated`: we read one entry past
//!   the page, so a page is truncated only when something visible follows;
//! - the gateway's hidden objects ([`HIDDEN_PREFIX`]) are skipped, and the
//!   first one seen makes the next request jump past the whole hidden
//!   range, so thousands of parts cost one extra request, and an S3 page is
//!   never shortened by them;
//! - a native marker may not contain control characters (buckets-api.md),
//!   though names may: such a marker is cut before the first one, and
//!   entries not after the last name already seen are skipped, so pages
//!   stay exact (at the cost of re-reading a few entries).

use super::client::enc;
use super::meta::{md5_from_b64, split_content_type};
use super::wire::{parse_mtime, EntryKind, ListEntry, MAX_NATIVE_LIMIT};
use super::{Inner, Native};
use crate::backend::*;
use crate::types::*;

/// Most keys one S3 listing page returns.
pub const MAX_KEYS: u32 = 1000;
/// Longest native marker (buckets-api.md "Listing").
const MAX_MARKER_BYTES: usize = 1024;
/// The highest code point: `p` + this sorts after every name starting with
/// `p` except those continuing with it (which are then filtered).
const JUMP: char = '\u{10FFFF}';

/// The native `limit` of a delimiter walk's first page: a listing with
/// groups often opens one at once, and every row read inside a group is
/// wasted; a flat listing grows to full pages in two more requests.
const FIRST_DELIMITER_LIMIT: usize = 64;

/// The native `limit` for a delimiter walk's next page, from what the last
/// page (read with `limit`) held: `useful` entries became S3 items,
/// `wasted` were keys inside an already open common prefix, and
/// `jumped_group` says the page ended inside a group, so the next request
/// starts past it.
///
/// A page that ended in a group asks next for as many entries as it found
/// useful (at least one): keys in large groups then cost one row and one
/// short request per group, the least a walk that never lets the store
/// group can do (the real store aborts when a truncated page ends on a
/// group, buckets-api.md). A page of mostly wasted rows that did not end in
/// a group keeps its limit; a page without waste quadruples it (flat keys
/// reach full pages quickly). The caller still caps it by what the S3 page
/// needs.
fn next_group_limit(limit: usize, useful: usize, wasted: usize, jumped_group: bool) -> usize {
    if jumped_group {
        useful.max(1)
    } else if wasted > useful {
        limit
    } else {
        (limit * 4).min(MAX_NATIVE_LIMIT)
    }
}

/// The smallest marker we can send that is not after `name`.
pub(crate) fn safe_marker(name: &str) -> Option<String> {
    let mut end = name.find(|c: char| c.is_control()).unwrap_or(name.len());
    if end > MAX_MARKER_BYTES {
        end = MAX_MARKER_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
    }
    (end > 0).then(|| name[..end].to_owned())
}

/// A marker past every name starting with `p` (when it can be sent).
fn jump_past(p: &str) -> Option<String> {
    let mut s = String::with_capacity(p.len() + 4);
    s.push_str(p);
    s.push(JUMP);
    (s.len() <= MAX_MARKER_BYTES && !s.contains(|c: char| c.is_control())).then_some(s)
}

pub(crate) enum Item {
    Object(ObjectSummary),
    Prefix(String),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Object(o) => &o.key,
            Item::Prefix(p) => p,
        }
    }
}

pub(crate) fn summary(e: &ListEntry) -> Result<ObjectSummary, String> {
    let (_, mp) = split_content_type(e.content_type.as_deref().unwrap_or(""));
    let etag = match mp {
        Some(t) => t,
        None => ETag::from_md5(
            &e.content_md5
                .as_deref()
                .and_then(md5_from_b64)
                .ok_or_else(|| format!("listing entry {:?} without contentMD5", e.name))?,
        ),
    };
    Ok(ObjectSummary {
        key: e.name.clone(),
        size: e.size.unwrap_or(0),
        etag,
        last_modified: e
            .mtime
            .as_deref()
            .and_then(parse_mtime)
            .ok_or_else(|| format!("listing entry {:?} without mtime", e.name))?,
        storage_class: StorageClass::Standard,
    })
}

/// The part of an S3 prefix the native store can be asked for, literally:
/// everything before the first SQL `LIKE` metacharacter (`_`, `%`, `\\`: the
/// real store matches `prefix` as an unescaped LIKE pattern) or control
/// character (which it refuses in `prefix`), and at most 1024 bytes
/// (buckets-api.md). The rest is filtered in the translator.
pub(crate) fn native_prefix(prefix: &str) -> &str {
    let mut end = prefix
        .find(|c: char| matches!(c, '_' | '%' | '\\') || c.is_control())
        .unwrap_or(prefix.len());
    if end > MAX_MARKER_BYTES {
        end = MAX_MARKER_BYTES;
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
    }
    &prefix[..end]
}

/// An exclusive marker below every name starting with `prefix` (the prefix
/// without its last character), or `None` for an empty prefix.
pub(crate) fn below(prefix: &str) -> Option<&str> {
    let (i, _) = prefix.char_indices().next_back()?;
    (i > 0).then(|| &prefix[..i])
}

pub(crate) async fn list_objects(
    inner: &Inner,
    cx: &RequestContext,
    input: ListObjectsInput,
) -> BackendResult<ListObjectsOutput> {
    let max = input.max_keys.min(MAX_KEYS) as usize;
    let url = format!(
        "{}/objects",
        inner
            .client
            .bucket_url(&cx.tenant.login, input.bucket.as_str())
    );
    let prefix = input.prefix.as_str();
    let delim = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let empty = ListObjectsOutput {
        objects: vec![],
        common_prefixes: vec![],
        is_truncated: false,
        next_start_after: None,
    };
    if max == 0 || prefix.starts_with(HIDDEN_PREFIX) {
        // Still answer NoSuchBucket for a missing bucket.
        inner
            .client
            .list_page(&url, &cx.request_id, "", None, None, 1)
            .await
            .native()?;
        return Ok(empty);
    }
    let cut = native_prefix(prefix).len() < prefix.len();

    // The greatest name already consumed: everything up to it is skipped.
    let mut last_seen: Option<String> = input.start_after.clone();
    // The common prefix whose keys are being skipped. Listing is exclusive
    // of the start-after for common prefixes too: the group a start-after
    // falls in (itself, for S3's NextMarker of a page ending on a prefix,
    // or any key inside it) sorts at or before it and is not listed again,
    // so the listing continues after that whole group.
    let mut open_cp: Option<String> = None;
    if let (Some(d), Some(sa)) = (delim, input.start_after.as_deref()) {
        if let Some(rest) = sa.strip_prefix(prefix) {
            if let Some(i) = rest.find(d) {
                open_cp = Some(sa[..prefix.len() + i + d.len()].to_owned());
            }
        }
    }
    let mut marker: Option<String> = match &open_cp {
        Some(cp) => jump_past(cp).or_else(|| safe_marker(cp)),
        None => last_seen.as_deref().and_then(safe_marker),
    };

    // A store whose pages may end on a group (buckets-lite's `grouped-pages`
    // extension, s3gw's embedded store) groups a one-character delimiter
    // itself, one entry per common prefix, when the prefix is literal. Never
    // the real store: it aborts on such a page.
    let mut native_delim = None;
    if let Some(d) = delim {
        let mut chars = d.chars();
        // A group that would hold both user keys and the gateway's hidden
        // objects (prefix "" and delimiter ".", say) must be grouped here,
        // where hidden names are skipped first.
        let mixes_hidden = HIDDEN_PREFIX
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix('/'))
            .is_some_and(|inner| inner.contains(d));
        if let (Some(c), None, false, false) = (chars.next(), chars.next(), cut, mixes_hidden) {
            if inner.groups_pages(&cx.request_id).await {
                native_delim = Some(c);
            }
        }
    }

    let mut items: Vec<Item> = Vec::with_capacity(max + 1);
    // Grouping ourselves, the native `limit` follows what pages turn out to
    // hold (see [`next_group_limit`]): small while groups are large, so
    // that a walk costs about one short request per group, not a read of
    // every key inside the groups.
    let mut group_limit = delim
        .filter(|_| native_delim.is_none())
        .map(|_| FIRST_DELIMITER_LIMIT);
    // Raised when a full page did not move the marker (names cut at a
    // control character all give the same marker): read more at once.
    let mut min_limit = 1;
    'pages: loop {
        let need = max + 1 - items.len();
        // Filtering by a cut prefix, some names may not count: read more
        // than needed.
        let limit = match group_limit {
            // Each entry may be a new item: no more than `need` are useful
            // (the limit grows again when entries turn out not to count).
            Some(g) => g.min(need),
            None if cut => need * 4 + 32,
            None => need,
        };
        let limit = limit.clamp(min_limit, MAX_NATIVE_LIMIT);
        // Per page: entries that became an item, entries skipped inside an
        // open common prefix.
        let (mut useful, mut wasted) = (0usize, 0usize);
        let page = inner
            .client
            .list_page(
                &url,
                &cx.request_id,
                prefix,
                marker.as_deref(),
                native_delim,
                limit,
            )
            .await
            .native()?;
        let mut jump_hidden = false;
        let mut last_name: Option<&str> = None;
        for e in &page.entries {
            let name = e.name.as_str();
            last_name = Some(name);
            if last_seen.as_deref().is_some_and(|s| name <= s) {
                continue;
            }
            // Names the cut native prefix let through: before the wanted
            // range they are skipped; past it the listing is over.
            if !name.starts_with(prefix) {
                if name < prefix {
                    continue;
                }
                break 'pages;
            }
            if name.starts_with(HIDDEN_PREFIX) {
                jump_hidden = true;
                break;
            }
            last_seen = Some(name.to_owned());
            if open_cp.as_deref().is_some_and(|cp| name.starts_with(cp)) {
                wasted += 1;
                continue;
            }
            useful += 1;
            match e.kind {
                // The store grouped (`native_delim`): the entry's name is
                // the common prefix, delimiter included.
                EntryKind::Group if native_delim.is_some() => {
                    open_cp = Some(name.to_owned());
                    items.push(Item::Prefix(name.to_owned()));
                }
                EntryKind::Group => {
                    return Err(super::map_native(super::NativeFailure::Protocol(
                        "group entry in a listing sent without a delimiter".into(),
                    )))
                }
                EntryKind::Bucketobject => {
                    let cp = delim.and_then(|d| {
                        name.get(prefix.len()..)
                            .and_then(|rest| rest.find(d))
                            .map(|i| name[..prefix.len() + i + d.len()].to_owned())
                    });
                    match cp {
                        Some(cp) => {
                            open_cp = Some(cp.clone());
                            items.push(Item::Prefix(cp));
                        }
                        None => {
                            items.push(Item::Object(summary(e).map_err(|d| {
                                super::map_native(super::NativeFailure::Protocol(d))
                            })?))
                        }
                    }
                }
                EntryKind::Bucket => {
                    return Err(super::map_native(super::NativeFailure::Protocol(
                        "bucket entry in an object listing".into(),
                    )))
                }
            }
            if items.len() > max {
                break 'pages;
            }
        }
        let mut jumped_group = false;
        let next = if jump_hidden {
            jump_past(HIDDEN_PREFIX)
        } else {
            match page.next_marker {
                None => break 'pages,
                Some(m) => {
                    // Jump past a common prefix the page ended inside.
                    let inside = open_cp.as_deref().filter(|cp| {
                        m.starts_with(cp) || last_name.is_some_and(|n| n.starts_with(cp))
                    });
                    match inside.and_then(jump_past) {
                        Some(j) if j.as_str() > m.as_str() => {
                            jumped_group = true;
                            Some(j)
                        }
                        _ => safe_marker(&m),
                    }
                }
            }
        };
        if let Some(g) = group_limit.as_mut() {
            *g = next_group_limit(*g, useful, wasted, jumped_group);
        }
        // Progress guard: a marker that does not advance would loop forever
        // against a misbehaving store.
        if next.is_none() || next == marker {
            if page.entries.is_empty() {
                break 'pages;
            }
            if next.is_some() && page.entries.len() >= limit && limit < MAX_NATIVE_LIMIT {
                min_limit = (limit * 4).min(MAX_NATIVE_LIMIT);
                continue;
            }
            return Err(super::map_native(super::NativeFailure::Protocol(format!(
                "listing marker did not advance past {:?} ({} in {})",
                next,
                enc(prefix),
                input.bucket
            ))));
        }
        marker = next;
    }
    let is_truncated = items.len() > max;
    items.truncate(max);
    let next_start_after = if is_truncated {
        items.last().map(|i| i.name().to_owned())
    } else {
        None
    };
    let mut out = ListObjectsOutput {
        objects: Vec::with_capacity(items.len()),
        common_prefixes: Vec::new(),
        is_truncated,
        next_start_after,
    };
    for i in items {
        match i {
            Item::Object(o) => out.objects.push(o),
            Item::Prefix(p) => out.common_prefixes.push(p),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(safe_marker("a\tb"), Some("a".into()));
        assert_eq!(safe_marker("\tb"), None);
        assert_eq!(safe_marker(&"é".repeat(600)).unwrap().len(), 1024);
        assert!(jump_past("a/").unwrap().as_str() > "a/zzzz");
        assert!(jump_past("a/").unwrap().as_str() < "a0");
    }

    #[test]
    fn group_limits_follow_the_pages() {
        // Ending in a group: ask for what was useful, at least one.
        assert_eq!(next_group_limit(64, 1, 63, true), 1);
        assert_eq!(next_group_limit(1, 1, 0, true), 1);
        assert_eq!(next_group_limit(64, 9, 40, true), 9);
        assert_eq!(next_group_limit(64, 0, 64, true), 1);
        // Mostly waste, not ending in a group: keep.
        assert_eq!(next_group_limit(16, 2, 10, false), 16);
        // No waste: grow to full pages.
        assert_eq!(next_group_limit(1, 1, 0, false), 4);
        assert_eq!(next_group_limit(64, 64, 0, false), 256);
        assert_eq!(next_group_limit(512, 512, 0, false), MAX_NATIVE_LIMIT);
    }

    #[test]
    fn native_prefix_is_cut_before_like_metacharacters() {
        assert_eq!(native_prefix("dir/a"), "dir/a");
        assert_eq!(native_prefix("dir_1/a"), "dir");
        assert_eq!(native_prefix("50%/x"), "50");
        assert_eq!(native_prefix("a\\b_c"), "a");
        assert_eq!(native_prefix("_x"), "");
        assert_eq!(native_prefix("ü_"), "ü");
        assert_eq!(below("a_b"), Some("a_"));
        assert_eq!(below("ü"), None);
        assert_eq!(below(""), None);
        assert!("a_b/c" > below("a_b").unwrap());
    }

    #[test]
    fn prefixes_the_store_refuses_are_cut() {
        assert_eq!(native_prefix("a/b"), "a/b");
        assert_eq!(native_prefix("a\u{1}b"), "a");
        assert_eq!(native_prefix("\tb"), "");
        assert_eq!(native_prefix(&"x".repeat(2000)).len(), 1024);
        assert_eq!(native_prefix(&"é".repeat(600)).len(), 1024);
    }
}
