//! Routing and the operations of buckets-api.md, one function per row.
//!
//! The path is parsed raw (no normalisation): `/:account/buckets[/:bucket
//! [/objects[/:object[/metadata]]]]`, each segment percent-decoded once.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_web::body::SizedStream;
use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use percent_encoding::percent_decode_str;

use crate::auth::{authenticate, authorize};
use crate::bodies::{Opened, Segments};
use crate::conditions::{parse_range, Conditions, Outcome};
use crate::config::{Accounts, Limits};
use crate::error::ApiError;
use crate::names::{BucketName, ObjectName};
use crate::store::{Entry, ListParams, ObjectRow, Store};

/// Shared by every worker.
pub struct State {
    pub store: Arc<Store>,
    pub accounts: Accounts,
    pub limits: Limits,
    pub extensions: crate::config::Extensions,
    pub server_name: String,
    /// Connections accepted and requests served (the `stats` extension).
    pub counters: Arc<Counters>,
}

/// Work counters, always kept (relaxed atomics), shown by the `stats`
/// extension at `GET /stats` (docs/buckets-lite.md): what a benchmark
/// needs to tell connection churn and extra requests apart.
#[derive(Debug, Default)]
pub struct Counters {
    /// TCP connections accepted.
    pub connections: std::sync::atomic::AtomicU64,
    /// API requests dispatched (`GET /stats` itself not counted).
    pub requests: std::sync::atomic::AtomicU64,
}

/// `GET /stats` (extension): the counters and the rows listings have read.
fn stats_response(state: &State) -> HttpResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let body = serde_json::json!({
        "connections": state.counters.connections.load(Relaxed),
        "requests": state.counters.requests.load(Relaxed),
        "list_rows": state.store.rows_read(),
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.to_string())
}

/// The routes of buckets-api.md "Paths".
#[derive(Debug)]
enum Route {
    Buckets,
    Bucket(String),
    Objects(String),
    Object(String, String),
    Metadata(String, String),
}

fn decode(seg: &str) -> Option<String> {
    percent_decode_str(seg)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// `(account, route)`, or `None` for a path outside the API (404).
fn parse_path(path: &str) -> Option<Result<(String, Route), ApiError>> {
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segs.len() < 2 || segs[1] != "buckets" || segs[0].is_empty() {
        return None;
    }
    let account = decode(segs[0])?;
    let bucket = |s: &str| decode(s).unwrap_or_else(|| s.to_owned());
    let object =
        |s: &str| decode(s).ok_or_else(|| ApiError::InvalidBucketObjectName("not UTF-8".into()));
    let route = match segs.as_slice() {
        [_, _] => Route::Buckets,
        [_, _, b] => Route::Bucket(bucket(b)),
        [_, _, b, "objects"] => Route::Objects(bucket(b)),
        [_, _, b, "objects", o] => match object(o) {
            Ok(o) => Route::Object(bucket(b), o),
            Err(e) => return Some(Err(e)),
        },
        [_, _, b, "objects", o, "metadata"] => match object(o) {
            Ok(o) => Route::Metadata(bucket(b), o),
            Err(e) => return Some(Err(e)),
        },
        _ => return None,
    };
    Some(Ok((account, route)))
}

fn allowed(route: &Route, compose: bool) -> &'static [&'static str] {
    match route {
        Route::Buckets => &["OPTIONS", "GET"],
        Route::Bucket(_) => &["PUT", "HEAD", "DELETE"],
        Route::Objects(_) => &["GET"],
        // POST: the compose extension (compose.rs), absent from the contract.
        Route::Object(..) if compose => &["PUT", "GET", "HEAD", "DELETE", "POST"],
        Route::Object(..) => &["PUT", "GET", "HEAD", "DELETE"],
        Route::Metadata(..) => &["PUT"],
    }
}

pub(crate) fn bucket_name(b: &str) -> Result<BucketName, ApiError> {
    BucketName::parse(b).ok_or_else(|| ApiError::InvalidBucketName(b.to_owned()))
}

pub(crate) fn object_name(o: &str) -> Result<ObjectName, ApiError> {
    ObjectName::parse(o).ok_or_else(|| {
        ApiError::InvalidBucketObjectName("names are 1..1024 bytes of UTF-8 without NUL".into())
    })
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn http_date_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

fn iso_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Internal)?
}

/// The one entry point (actix default service).
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> HttpResponse {
    if state.extensions.stats && req.path() == "/stats" && req.method() == "GET" {
        return stats_response(&state);
    }
    state
        .counters
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let request_id = header(&req, "x-request-id")
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut resp = match route(&req, payload, &state).await {
        Ok(r) => r,
        Err(e) => {
            let (code, status) = e.code_and_status();
            if status >= 500 {
                tracing::warn!(%request_id, code, "{} {}", req.method(), req.path());
            } else {
                tracing::debug!(%request_id, code, "{} {}", req.method(), req.path());
            }
            e.to_response()
        }
    };
    let h = resp.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(actix_web::http::header::HeaderName::from_static(name), v);
        }
    };
    put("date", &httpdate::fmt_http_date(SystemTime::now()));
    put("server", "Manta/2");
    put("x-request-id", &request_id);
    put(
        "x-response-time",
        &started.elapsed().as_millis().to_string(),
    );
    put("x-server-name", &state.server_name);
    resp
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let Some(parsed) = parse_path(req.path()) else {
        return Err(ApiError::ResourceNotFound(req.path().to_owned()));
    };
    let (account, route) = parsed?;
    let method = req.method().as_str();
    let allowed = allowed(&route, state.extensions.compose);
    if !allowed.contains(&method) {
        // buckets-api.md: "Any other method on these paths: 405 with no body."
        return Ok(HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", allowed.join(", ")))
            .finish());
    }
    let caller = authenticate(req, &state.accounts, &state.limits, &state.extensions)?;
    authorize(&caller, &account)?;
    tracing::trace!(login = %caller.login, subuser = ?caller.subuser, %account, "authorized");
    match (method, route) {
        ("OPTIONS", Route::Buckets) => {
            let mut resp = HttpResponse::NoContent();
            resp.insert_header(("Allow", "OPTIONS, GET"));
            // Extensions are advertised here, the route a client probes
            // once (the real server sends no such header).
            let ext = state.extensions.advertised(state.store.bodies().links());
            if !ext.is_empty() {
                resp.insert_header((crate::compose::H_EXTENSIONS, ext.join(", ")));
            }
            Ok(resp.finish())
        }
        ("GET", Route::Buckets) => list_buckets(req, state, account).await,
        ("PUT", Route::Bucket(b)) => create_bucket(state, account, b).await,
        ("HEAD", Route::Bucket(b)) => head_bucket(state, account, b).await,
        ("DELETE", Route::Bucket(b)) => delete_bucket(state, account, b).await,
        ("GET", Route::Objects(b)) => list_objects(req, state, account, b).await,
        ("PUT", Route::Object(b, o)) => put_object(req, payload, state, account, b, o).await,
        ("GET", Route::Object(b, o)) => get_object(req, state, account, b, o, false).await,
        ("HEAD", Route::Object(b, o)) => get_object(req, state, account, b, o, true).await,
        ("DELETE", Route::Object(b, o)) => delete_object(req, state, account, b, o).await,
        ("PUT", Route::Metadata(b, o)) => update_metadata(req, state, account, b, o).await,
        ("POST", Route::Object(b, o)) => {
            crate::compose::compose_object(req, payload, state, account, b, o).await
        }
        _ => Err(ApiError::Internal),
    }
}

async fn create_bucket(
    state: &State,
    account: String,
    b: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let store = state.store.clone();
    blocking(move || store.create_bucket(&account, bucket.as_str(), now_ms())).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn head_bucket(state: &State, account: String, b: String) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let store = state.store.clone();
    blocking(move || store.head_bucket(&account, bucket.as_str())).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn delete_bucket(
    state: &State,
    account: String,
    b: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let store = state.store.clone();
    blocking(move || store.delete_bucket(&account, bucket.as_str())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Longest listing prefix the real server accepts, in UTF-16 code units
/// (JavaScript string length).
const MAX_PREFIX_UTF16: usize = 1000;

/// Listing parameters (buckets-api.md "Listing"). An empty value counts as
/// absent, as in the real server's `if (param)` checks.
fn list_params(req: &HttpRequest) -> Result<ListParams, ApiError> {
    let q = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| ApiError::InvalidParameter("malformed query string".into()))?;
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let limit = match get("limit") {
        None => 1024,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => n,
            _ => return Err(ApiError::InvalidArgument("limit must be 1..1024".into())),
        },
    };
    let checked = |k: &str| -> Result<Option<String>, ApiError> {
        match get(k) {
            Some(v) if v.len() > 1024 || v.chars().any(char::is_control) => Err(
                ApiError::InvalidParameter(format!("{k} is too long or has control characters")),
            ),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let marker = checked("marker")?;
    let prefix = checked("prefix")?.unwrap_or_default();
    // The real server (master) also refuses these prefixes.
    if prefix.contains("../") || prefix.encode_utf16().count() > MAX_PREFIX_UTF16 {
        return Err(ApiError::InvalidParameter(format!(
            "prefix must not contain \"../\" or exceed {MAX_PREFIX_UTF16} characters"
        )));
    }
    let delimiter = match get("delimiter") {
        None => None,
        Some(d) => {
            let mut chars = d.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    return Err(ApiError::InvalidParameter(
                        "delimiter must be one character".into(),
                    ))
                }
            }
        }
    };
    Ok(ListParams {
        limit,
        marker,
        prefix,
        delimiter,
        groups_may_end_pages: false,
    })
}

fn listing_response(page: crate::store::Page, kind: &str) -> HttpResponse {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Obj<'a> {
        name: &'a str,
        etag: &'a str,
        size: u64,
        content_type: &'a str,
        /// Absent for a composed object (compose.rs: no whole-body MD5).
        #[serde(rename = "contentMD5", skip_serializing_if = "str::is_empty")]
        content_md5: &'a str,
        mtime: String,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Bucket<'a> {
        name: &'a str,
        mtime: String,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Group<'a> {
        name: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    let mut body = Vec::with_capacity(page.entries.len() * 200);
    for e in &page.entries {
        let r = match e {
            Entry::Object { name, row } => serde_json::to_writer(
                &mut body,
                &Obj {
                    name,
                    etag: &row.id,
                    size: row.size,
                    content_type: &row.content_type,
                    content_md5: &row.md5,
                    mtime: iso_ms(row.created_ms),
                    kind: "bucketobject",
                },
            ),
            Entry::Bucket { name, created_ms } => serde_json::to_writer(
                &mut body,
                &Bucket {
                    name,
                    mtime: iso_ms(*created_ms),
                    kind: "bucket",
                },
            ),
            Entry::Group { name } => serde_json::to_writer(
                &mut body,
                &Group {
                    name,
                    kind: "group",
                },
            ),
        };
        r.expect("listing entries serialise");
        body.push(b'\n');
    }
    let mut resp = HttpResponse::Ok();
    resp.content_type(format!("application/x-json-stream; type={kind}"));
    if page.truncated {
        if let Some(last) = page.entries.last() {
            // The raw UTF-8 name (obs-text bytes are legal in a header value).
            // A name with control characters cannot travel raw; it could not
            // be passed back as `marker` either (400), so it goes
            // percent-encoded, still signalling that the page was cut.
            let value = HeaderValue::from_bytes(last.name().as_bytes()).unwrap_or_else(|_| {
                HeaderValue::from_str(
                    &percent_encoding::utf8_percent_encode(last.name(), percent_encoding::CONTROLS)
                        .to_string(),
                )
                .expect("percent-encoded text is a valid header value")
            });
            resp.insert_header(("Next-Marker", value));
        }
    }
    resp.body(body)
}

async fn list_buckets(
    req: &HttpRequest,
    state: &State,
    account: String,
) -> Result<HttpResponse, ApiError> {
    let params = list_params(req)?;
    let store = state.store.clone();
    let page = blocking(move || store.list_buckets(&account, &params)).await?;
    Ok(listing_response(page, "bucket"))
}

async fn list_objects(
    req: &HttpRequest,
    state: &State,
    account: String,
    b: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let mut params = list_params(req)?;
    params.groups_may_end_pages = state.extensions.grouped_pages;
    let store = state.store.clone();
    let page = blocking(move || store.list_objects(&account, bucket.as_str(), &params)).await?;
    Ok(listing_response(page, "bucketobject"))
}

/// The real server's custom-header rule: `/^m-\w+/` (JavaScript `\w`).
fn is_custom_header(name: &str) -> bool {
    name.strip_prefix("m-")
        .and_then(|r| r.bytes().next())
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What a header value costs against the `m-*` budget as the real server
/// counts it: Node reads header bytes as Latin-1 and `Buffer.byteLength`
/// measures that as UTF-8, so every byte >= 0x80 counts twice.
fn budget_len(value: &[u8]) -> usize {
    value.len() + value.iter().filter(|b| **b >= 0x80).count()
}

/// Headers stored with an object and returned on GET (buckets-api.md
/// "PUT"): `m-*` matching `/^m-\w+/` (running total of values, as the real
/// server counts it, under `max_metadata_bytes`: once past it, the rest is
/// dropped silently), `Cache-Control`, `Surrogate-Key`, CORS response
/// headers.
pub(crate) fn stored_headers(req: &HttpRequest, limits: &Limits) -> Vec<(String, String)> {
    const KEPT: [&str; 7] = [
        "cache-control",
        "surrogate-key",
        "access-control-allow-headers",
        "access-control-allow-origin",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-allow-methods",
    ];
    let mut out = Vec::new();
    let mut meta_bytes = 0usize;
    for (name, value) in req.headers() {
        let name = name.as_str();
        // As the real server (Node) reads header values: each byte one
        // Latin-1 character; written back the same way, so any byte
        // round-trips.
        let raw = value.as_bytes();
        let value: String = raw.iter().map(|&b| b as char).collect();
        let value = value.as_str();
        if is_custom_header(name) {
            // buckets-api: `hdrSize += Buffer.byteLength(v); if (hdrSize <
            // MAX) keep`: the UTF-8 length of the Latin-1 text (a non-ASCII
            // byte counts twice), and a dropped value still counts.
            meta_bytes += budget_len(raw);
            if meta_bytes >= limits.max_metadata_bytes {
                continue;
            }
            out.push((name.to_owned(), value.to_owned()));
        } else if KEPT.contains(&name) {
            out.push((name.to_owned(), value.to_owned()));
        }
    }
    out
}

/// The stored Content-Type. The real server replaces a value without `/`
/// by a lookup from the object name, losing any parameters
/// (`middleware.js`); buckets-lite replaces it by the lookup's default,
/// `application/octet-stream`.
pub(crate) fn content_type(req: &HttpRequest) -> String {
    header(req, "content-type")
        .filter(|v| v.contains('/'))
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Removes an upload's temp file (a compose's: directory) unless the
/// commit took it (Drop guard: every early return and a dropped request
/// future clean up).
pub(crate) struct TmpGuard(pub(crate) Option<std::path::PathBuf>);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            crate::bodies::remove_path(&p);
        }
    }
}

enum Chunk {
    Data(Bytes),
    Done,
}

/// Writes the body into `tmp` on a blocking thread, computing its MD5, and
/// fsyncs it. The channel closing without `Done` (client gone, timeout,
/// limit) aborts the write.
fn write_body(
    tmp: &std::path::Path,
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
    buf: usize,
) -> Result<([u8; 16], u64), ApiError> {
    use std::io::Write as _;
    let file = std::fs::File::create(tmp)?;
    let mut w = std::io::BufWriter::with_capacity(buf, file);
    let mut md5 = Md5::new();
    let mut size = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Data(b) => {
                md5.update(&b);
                size += b.len() as u64;
                w.write_all(&b)?;
            }
            Chunk::Done => {
                let file = w.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                return Ok((md5.finalize().into(), size));
            }
        }
    }
    Err(ApiError::BadRequest("upload aborted".into()))
}

/// The `durability-level` header of an object write: 2 when absent, else
/// 1..=6.
pub(crate) fn durability_level(req: &HttpRequest) -> Result<u8, ApiError> {
    match header(req, "durability-level") {
        None => Ok(2),
        Some(v) => match v.trim().parse::<u8>() {
            Ok(n) if (1..=6).contains(&n) => Ok(n),
            _ => Err(ApiError::InvalidDurabilityLevel),
        },
    }
}

/// The start of an object write (PUT and compose), before any data is
/// accepted: checks its conditions and the bucket, and names the new
/// object's id and temporary file, with the guard that removes that file
/// unless the write commits.
pub(crate) async fn begin_put(
    state: &State,
    account: &str,
    bucket: &BucketName,
    name: &ObjectName,
    conds: &Conditions,
) -> Result<(String, std::path::PathBuf, TmpGuard), ApiError> {
    let (store, acct, bk, nm, c) = (
        state.store.clone(),
        account.to_owned(),
        bucket.clone(),
        name.clone(),
        conds.clone(),
    );
    blocking(move || store.precheck_put(&acct, bk.as_str(), nm.as_str(), &c)).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let tmp = state.store.tmp_path(&id);
    let guard = TmpGuard(Some(tmp.clone()));
    Ok((id, tmp, guard))
}

async fn put_object(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &State,
    account: String,
    b: String,
    o: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let name = object_name(&o)?;
    let limits = &state.limits;

    let content_length = match header(req, "content-length") {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest("invalid content-length".into()))?,
        ),
        None => None,
    };
    let chunked = header(req, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if content_length.is_none() && !chunked {
        return Err(ApiError::ContentLengthRequired);
    }
    let max_len = match header(req, "max-content-length") {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::BadRequest("invalid max-content-length".into()))?,
        None => limits.default_max_content_length,
    };
    let expected_md5 = header(req, "content-md5").map(str::to_owned);
    let durability = durability_level(req)?;
    let conds = Conditions::from_request(req)?;
    let ctype = content_type(req);
    let headers = stored_headers(req, limits);

    let (id, tmp, mut guard) = begin_put(state, &account, &bucket, &name, &conds).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(8);
    let writer = {
        let tmp = tmp.clone();
        let buf = limits.io_buffer_bytes;
        tokio::task::spawn_blocking(move || write_body(&tmp, rx, buf))
    };
    let mut received = 0u64;
    let outcome: Result<(), ApiError> = async {
        loop {
            let next = tokio::time::timeout(limits.upload_idle_timeout, payload.next()).await;
            match next {
                Err(_) => return Err(ApiError::UploadTimeout),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(ApiError::BadRequest(format!("request body: {e}")));
                }
                Ok(Some(Ok(bytes))) => {
                    received += bytes.len() as u64;
                    if chunked && content_length.is_none() && received > max_len {
                        return Err(ApiError::MaxContentLengthExceeded(max_len));
                    }
                    if tx.send(Chunk::Data(bytes)).await.is_err() {
                        return Err(ApiError::Internal);
                    }
                }
            }
        }
        if content_length.is_some_and(|n| n != received) {
            return Err(ApiError::BadRequest(
                "body shorter than content-length".into(),
            ));
        }
        tx.send(Chunk::Done).await.map_err(|_| ApiError::Internal)
    }
    .await;
    drop(tx);
    let written = writer.await.map_err(|_| ApiError::Internal)?;
    outcome?;
    let (md5, size) = written?;
    let computed = B64.encode(md5);
    if let Some(expected) = expected_md5 {
        if expected.trim() != computed {
            return Err(ApiError::ContentMd5Mismatch { expected, computed });
        }
    }

    let now = now_ms();
    let row = ObjectRow {
        id,
        size,
        content_type: ctype,
        md5: computed,
        created_ms: now,
        modified_ms: now,
        durability,
        headers,
    };
    let store = state.store.clone();
    let row2 = row.clone();
    let tmp2 = tmp.clone();
    blocking(move || {
        store.commit_put(
            &account,
            bucket.as_str(),
            name.as_str(),
            &conds,
            &tmp2,
            &row2,
        )
    })
    .await?;
    guard.0 = None;
    Ok(HttpResponse::NoContent()
        .insert_header(("Etag", row.id.as_str()))
        .insert_header(("Last-Modified", http_date_ms(row.modified_ms)))
        .insert_header(("Computed-MD5", row.md5.as_str()))
        .finish())
}

/// GET sends every stored header; HEAD, as the real server, only Etag,
/// Last-Modified, Durability-Level (the number of stored copies: 0 for an
/// empty object), Content-Length, Content-MD5, Content-Type and `m-*`.
fn object_headers(resp: &mut actix_web::HttpResponseBuilder, row: &ObjectRow, head: bool) {
    let copies = if head && row.size == 0 {
        0
    } else {
        row.durability
    };
    resp.insert_header(("Etag", row.id.as_str()))
        .insert_header(("Last-Modified", http_date_ms(row.modified_ms)))
        .insert_header(("Durability-Level", copies.to_string()));
    for (n, v) in &row.headers {
        if head && !is_custom_header(n) {
            continue;
        }
        // Latin-1 back to bytes (see stored_headers); text stored before
        // that (any UTF-8) goes out as it is.
        let latin1: Option<Vec<u8>> = v.chars().map(|c| u8::try_from(c).ok()).collect();
        let bytes = latin1.unwrap_or_else(|| v.as_bytes().to_vec());
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            resp.append_header((n.as_str(), v));
        }
    }
}

/// A GET body: read already (small), a file to stream, or a composed
/// object's segments to stream one after the other (bodies.rs).
enum Body {
    Small(Bytes),
    File(std::fs::File),
    Segments(Segments),
}

async fn get_object(
    req: &HttpRequest,
    state: &State,
    account: String,
    b: String,
    o: String,
    head: bool,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let name = object_name(&o)?;
    let conds = Conditions::from_request(req)?;
    let store = state.store.clone();
    let nm = name.clone();
    // Read the row and open its body together; an overwrite may remove the
    // file between the two, so retry with the new row.
    // Bodies up to one buffer are read in the same blocking call: one hop
    // to the blocking pool per small GET instead of three.
    let small = state.limits.io_buffer_bytes as u64;
    let (row, file) = blocking(move || {
        for _ in 0..5 {
            let Some(row) = store.get_object(&account, bucket.as_str(), nm.as_str())? else {
                return Ok((None, None));
            };
            if head {
                return Ok((Some(row), None));
            }
            let body = match store.bodies().open_body(&row.id) {
                Ok(Opened::File(mut f)) if row.size <= small => {
                    use std::io::Read as _;
                    let mut buf = Vec::with_capacity(row.size as usize);
                    f.read_to_end(&mut buf)?;
                    Body::Small(Bytes::from(buf))
                }
                Ok(Opened::Segments(s)) if row.size <= small => {
                    Body::Small(Bytes::from(s.read_all()?))
                }
                Ok(Opened::File(f)) => Body::File(f),
                Ok(Opened::Segments(s)) => Body::Segments(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            return Ok((Some(row), Some(body)));
        }
        Err(ApiError::Internal)
    })
    .await?;
    match conds.evaluate(row.as_ref().map(ObjectRow::current), true) {
        Outcome::Pass => {}
        Outcome::NotFound => return Err(ApiError::ObjectNotFound(name.to_string())),
        Outcome::PreconditionFailed => return Err(ApiError::PreconditionFailed),
        Outcome::NotModified => {
            let row = row.expect("NotModified needs an object");
            return Ok(HttpResponse::NotModified()
                .insert_header(("Etag", row.id.as_str()))
                .insert_header(("Last-Modified", http_date_ms(row.modified_ms)))
                .finish());
        }
    }
    let Some(row) = row else {
        return Err(ApiError::ObjectNotFound(name.to_string()));
    };
    let range = if head {
        None
    } else {
        parse_range(header(req, "range"), row.size)?
    };
    let mut resp = match range {
        Some(_) => HttpResponse::PartialContent(),
        None => HttpResponse::Ok(),
    };
    object_headers(&mut resp, &row, head);
    resp.content_type(row.content_type.as_str());
    let (first, len) = match range {
        Some(r) => {
            resp.insert_header((
                "Content-Range",
                format!("bytes {}-{}/{}", r.first, r.last, row.size),
            ));
            (r.first, r.last - r.first + 1)
        }
        None => {
            // A composed object has no whole-body MD5 (compose.rs).
            if !row.md5.is_empty() {
                resp.insert_header(("Content-MD5", row.md5.as_str()));
            }
            if !head {
                resp.insert_header(("Accept-Ranges", "bytes"));
            }
            (0, row.size)
        }
    };
    let Some(file) = file else {
        // HEAD: Content-Length of the object, no body (actix writes none for HEAD).
        return Ok(resp.body(SizedStream::new(
            row.size,
            futures_util::stream::empty::<Result<Bytes, std::io::Error>>(),
        )));
    };
    let buf = state.limits.io_buffer_bytes;
    let mut file = match file {
        Body::Small(all) => {
            let end = usize::try_from(first + len).expect("small bodies fit usize");
            return Ok(resp.body(all.slice(first as usize..end)));
        }
        Body::Segments(s) => {
            return Ok(resp.body(SizedStream::new(len, segments_stream(s, first, len, buf))))
        }
        Body::File(f) => f,
    };
    if first > 0 {
        use std::io::Seek as _;
        file.seek(std::io::SeekFrom::Start(first))?;
    }
    use tokio::io::AsyncReadExt as _;
    let reader = tokio::fs::File::from_std(file).take(len);
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, buf);
    Ok(resp.body(SizedStream::new(len, stream)))
}

/// Bytes `first..first + len` of a segmented body: each segment touched
/// is opened when the previous one is drained (one fd at a time), and the
/// lease keeps the body on disk until the stream is dropped.
fn segments_stream(
    s: Segments,
    first: u64,
    len: u64,
    buf: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    use futures_util::stream;
    use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
    let plan = s.plan(first, len);
    let lease = s.into_lease();
    stream::iter(plan)
        .then(move |(path, offset, n)| async move {
            let mut f = tokio::fs::File::open(&path).await?;
            if offset > 0 {
                f.seek(std::io::SeekFrom::Start(offset)).await?;
            }
            Ok(tokio_util::io::ReaderStream::with_capacity(f.take(n), buf))
        })
        .map(|opened: std::io::Result<_>| match opened {
            Ok(s) => s.left_stream(),
            Err(e) => stream::once(async move { Err(e) }).right_stream(),
        })
        .flatten()
        .map(move |chunk| {
            let _held = &lease;
            chunk
        })
}

async fn delete_object(
    req: &HttpRequest,
    state: &State,
    account: String,
    b: String,
    o: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let name = object_name(&o)?;
    let conds = Conditions::from_request(req)?;
    let store = state.store.clone();
    blocking(move || store.delete_object(&account, bucket.as_str(), name.as_str(), &conds)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn update_metadata(
    req: &HttpRequest,
    state: &State,
    account: String,
    b: String,
    o: String,
) -> Result<HttpResponse, ApiError> {
    let bucket = bucket_name(&b)?;
    let name = object_name(&o)?;
    for h in ["content-length", "content-md5", "durability-level"] {
        // The real server refuses the header whatever its value, even
        // `Content-Length: 0`.
        if req.headers().contains_key(h) {
            return Err(ApiError::InvalidUpdate(format!(
                "{h} cannot be sent with a metadata update"
            )));
        }
    }
    let conds = Conditions::from_request(req)?;
    let ctype = content_type(req);
    let headers = stored_headers(req, &state.limits);
    let store = state.store.clone();
    let row = blocking(move || {
        store.update_metadata(
            &account,
            bucket.as_str(),
            name.as_str(),
            &conds,
            &ctype,
            &headers,
            now_ms(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Etag", row.id.as_str()))
        .insert_header(("Last-Modified", http_date_ms(row.modified_ms)))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = |s| parse_path(s).map(|r| r.map(|(a, r)| format!("{a} {r:?}")));
        assert_eq!(p("/a/buckets").unwrap().unwrap(), "a Buckets");
        assert_eq!(p("/a/buckets/b1").unwrap().unwrap(), "a Bucket(\"b1\")");
        assert_eq!(
            p("/a/buckets/b1/objects").unwrap().unwrap(),
            "a Objects(\"b1\")"
        );
        assert_eq!(
            p("/a/buckets/b1/objects/x%2Fy%20z").unwrap().unwrap(),
            "a Object(\"b1\", \"x/y z\")"
        );
        assert_eq!(
            p("/a/buckets/b1/objects/x/metadata").unwrap().unwrap(),
            "a Metadata(\"b1\", \"x\")"
        );
        assert!(p("/a/buckets/b1/objects/x/y").is_none());
        assert!(p("/a/other").is_none());
        assert!(p("/a/buckets/b/objects/%FF").unwrap().is_err());
    }

    #[test]
    fn iso_times_have_milliseconds() {
        assert_eq!(iso_ms(1_571_258_111_259), "2019-10-16T20:35:11.259Z");
        assert_eq!(
            http_date_ms(1_571_258_111_999),
            "Wed, 16 Oct 2019 20:35:11 GMT"
        );
    }
}
