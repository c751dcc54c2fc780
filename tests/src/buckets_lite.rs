//! A real `buckets-lite` PROCESS for tests, and a small signed native client.
//!
//! ```no_run
//! # async fn demo() {
//! use s3gw_tests::buckets_lite::BucketsLite;
//! let lite = BucketsLite::start(); // fresh temp dir, port 0, generated keys
//! let op = lite.client(); // signs as "operator", addresses /operator/...
//! let alice = lite.client_as("alice"); // signs as alice, addresses /alice/...
//! assert_eq!(alice.create_bucket("photos").await.status, 204);
//! let r = op.for_account("alice").get(&op.for_account("alice").bucket_path("photos"), &[]).await;
//! # let _ = r;
//! # }
//! ```
//!
//! Layout of a started instance: `data_dir` is the server's data directory;
//! the harness writes its configuration to `data_dir/buckets-lite.toml` and
//! the server's stderr (tracing logs) to `data_dir/buckets-lite.log` (the
//! server ignores unknown files in its data directory).
//!
//! Accounts of [`BucketsLiteConfigSpec::standard`]: `operator` (in the
//! operators group, with sub-user `operator/sub`), `alice` (with sub-users
//! `alice/sub`, which no RBAC rule grants anything, and `alice/ci`, granted
//! alice's buckets), `bob`, and `blocked` (an account with `blocked =
//! true`). Every key is a fresh ECDSA P-256 key (the real server refuses
//! Ed25519 signatures); [`BucketsLite::signer`] gives the [`Signer`] of any
//! of them (sub-users as `"alice/sub"`).
//!
//! Lifecycle: [`BucketsLite::start`] / [`BucketsLite::start_with`] own a temp
//! dir (deleted when the last handle goes); [`BucketsLite::start_in`] runs over
//! a directory the caller owns; [`BucketsLite::restart`] is SIGTERM + start
//! over the same data; [`BucketsLite::kill9`] / [`BucketsLite::stop`] give a
//! [`StoppedBucketsLite`] whose [`StoppedBucketsLite::start`] brings the same
//! data back. Dropping a `BucketsLite` stops the process (SIGTERM, then
//! SIGKILL after [`crate::procs::STOP_DEADLINE`]).
//!
//! The binary must have been built (`cargo build --bins`, or
//! `cargo build -p buckets-lite`); see [`crate::procs::workspace_bin`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use s3gw_httpsig::{KeyId, PrivateKey, Signer};

use crate::procs::{spawn_and_wait_for_line, ChildProcess};

/// What the server prints on stdout once bound.
pub const LISTENING_PREFIX: &str = "buckets-lite listening on ";

/// How long a start may take before the test fails (a loaded 2-core machine).
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// The login of the standard operator account.
pub const OPERATOR: &str = "operator";

/// Bytes sent as-is in a path segment: RFC 3986 unreserved characters.
/// Everything else, `/` included, is percent-encoded (buckets-api.md "Paths").
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A sub-user of an account.
#[derive(Clone)]
pub struct SubuserSpec {
    pub login: String,
    /// The private key (OpenSSH text); the config gets its public half.
    pub key_openssh: String,
    /// An RBAC rule grants it its account's buckets (`granted = true`).
    pub granted: bool,
}

impl SubuserSpec {
    /// A sub-user with a fresh P-256 key.
    pub fn new(login: &str, granted: bool) -> Self {
        SubuserSpec {
            login: login.to_owned(),
            key_openssh: new_key_pem(),
            granted,
        }
    }
}

/// A fresh ECDSA P-256 private key (OpenSSH text): the key type the real
/// server accepts that the gateway uses by default.
pub fn new_key_pem() -> String {
    PrivateKey::generate_ecdsa(256)
        .expect("P-256 is supported")
        .to_openssh_pem()
}

/// One `[[accounts]]` entry.
#[derive(Clone)]
pub struct AccountSpec {
    pub login: String,
    pub operator: bool,
    pub blocked: bool,
    /// The private key (OpenSSH text); the config gets its public half.
    pub key_openssh: String,
    pub subusers: Vec<SubuserSpec>,
}

impl AccountSpec {
    /// An account with a fresh P-256 key.
    pub fn new(login: &str) -> Self {
        AccountSpec {
            login: login.to_owned(),
            operator: false,
            blocked: false,
            key_openssh: new_key_pem(),
            subusers: Vec::new(),
        }
    }
}

/// What the harness writes into the server's TOML configuration.
#[derive(Clone)]
pub struct BucketsLiteConfigSpec {
    pub accounts: Vec<AccountSpec>,
    /// Appended verbatim to the generated TOML (e.g. a `[limits]` table).
    pub extra_toml: String,
    /// `RUST_LOG` for the server (default `info`).
    pub log_filter: String,
}

impl BucketsLiteConfigSpec {
    /// `operator` (operators group), `alice` (+ sub-user `sub`), `bob`, `blocked`.
    pub fn standard() -> Self {
        let mut operator = AccountSpec::new(OPERATOR);
        operator.operator = true;
        operator.subusers.push(SubuserSpec::new("sub", false));
        let mut alice = AccountSpec::new("alice");
        alice.subusers.push(SubuserSpec::new("sub", false));
        alice.subusers.push(SubuserSpec::new("ci", true));
        let mut blocked = AccountSpec::new("blocked");
        blocked.blocked = true;
        BucketsLiteConfigSpec {
            accounts: vec![operator, alice, AccountSpec::new("bob"), blocked],
            extra_toml: String::new(),
            log_filter: "info".to_owned(),
        }
    }

    /// The configuration file (without `listen`/`data_dir`: the harness
    /// passes `--listen 127.0.0.1:0 --data DIR`).
    pub fn to_toml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let public = |pem: &str| {
            PrivateKey::from_pem_or_openssh(pem)
                .expect("spec keys parse")
                .public_key()
                .to_openssh()
        };
        let mut out = String::new();
        for a in &self.accounts {
            out.push_str("[[accounts]]\n");
            out.push_str(&format!("login = {}\n", q(&a.login)));
            out.push_str(&format!("keys = [{}]\n", q(&public(&a.key_openssh))));
            if a.operator {
                out.push_str("operator = true\n");
            }
            if a.blocked {
                out.push_str("blocked = true\n");
            }
            for s in &a.subusers {
                out.push_str("[[accounts.subusers]]\n");
                out.push_str(&format!("login = {}\n", q(&s.login)));
                out.push_str(&format!("keys = [{}]\n", q(&public(&s.key_openssh))));
                if s.granted {
                    out.push_str("granted = true\n");
                }
            }
            out.push('\n');
        }
        out.push_str(&self.extra_toml);
        out
    }
}

impl Default for BucketsLiteConfigSpec {
    fn default() -> Self {
        Self::standard()
    }
}

/// A signing identity of the started server.
#[derive(Clone)]
pub struct Account {
    /// The account login (for a sub-user: its parent account's login).
    pub login: String,
    pub subuser: Option<String>,
    pub signer: Arc<Signer>,
    /// The private key, OpenSSH text.
    pub key_pem: String,
}

/// A started `buckets-lite` process.
pub struct BucketsLite {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The `operator` account's signer.
    pub operator: Arc<Signer>,
    /// Every identity by name: `"alice"`, `"alice/sub"`, ...
    pub accounts: BTreeMap<String, Account>,
    pub spec: BucketsLiteConfigSpec,
    child: ChildProcess,
    tmp: Option<Arc<tempfile::TempDir>>,
}

/// The data of a stopped (or killed) instance, ready to start again.
pub struct StoppedBucketsLite {
    pub data_dir: PathBuf,
    pub spec: BucketsLiteConfigSpec,
    /// Whether the process exited by itself after SIGTERM (false for kill9).
    pub exited_cleanly: bool,
    tmp: Option<Arc<tempfile::TempDir>>,
}

impl StoppedBucketsLite {
    pub fn start(self) -> BucketsLite {
        BucketsLite::launch(&self.data_dir, self.spec, self.tmp)
    }
}

impl BucketsLite {
    /// A fresh instance with [`BucketsLiteConfigSpec::standard`] accounts.
    pub fn start() -> BucketsLite {
        Self::start_with(BucketsLiteConfigSpec::standard())
    }

    /// A fresh instance (new temp dir) with the given accounts.
    pub fn start_with(spec: BucketsLiteConfigSpec) -> BucketsLite {
        let tmp = tempfile::Builder::new()
            .prefix("buckets-lite-test-")
            .tempdir()
            .expect("temp dir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        Self::launch(&data, spec, Some(Arc::new(tmp)))
    }

    /// Starts over `data_dir` (existing data is kept); the caller owns the dir.
    pub fn start_in(data_dir: &Path, spec: &BucketsLiteConfigSpec) -> BucketsLite {
        Self::launch(data_dir, spec.clone(), None)
    }

    fn launch(
        data_dir: &Path,
        spec: BucketsLiteConfigSpec,
        tmp: Option<Arc<tempfile::TempDir>>,
    ) -> BucketsLite {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let config = data_dir.join("buckets-lite.toml");
        std::fs::write(&config, spec.to_toml()).expect("writing buckets-lite.toml");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("buckets-lite.log"))
            .expect("log file");
        let mut cmd = Command::new(crate::procs::workspace_bin("buckets-lite"));
        cmd.arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data_dir)
            .env("RUST_LOG", &spec.log_filter)
            .stdin(Stdio::null())
            .stderr(log);
        let (child, url) = spawn_and_wait_for_line(cmd, LISTENING_PREFIX, START_DEADLINE);
        let addr: SocketAddr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected listening line: {url}"));

        let mut accounts = BTreeMap::new();
        for a in &spec.accounts {
            accounts.insert(
                a.login.clone(),
                make_account(&a.login, None, &a.key_openssh),
            );
            for s in &a.subusers {
                accounts.insert(
                    format!("{}/{}", a.login, s.login),
                    make_account(&a.login, Some(&s.login), &s.key_openssh),
                );
            }
        }
        let operator = spec
            .accounts
            .iter()
            .find(|a| a.operator)
            .map(|a| accounts[&a.login].signer.clone())
            .unwrap_or_else(|| Arc::new(signer_for(OPERATOR, None, &new_key_pem())));
        BucketsLite {
            url,
            addr,
            data_dir: data_dir.to_path_buf(),
            operator,
            accounts,
            spec,
            child,
            tmp,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// SIGTERM, wait, start again over the same data (new port).
    pub fn restart(self) -> BucketsLite {
        self.stop().start()
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(mut self) -> StoppedBucketsLite {
        let status = self.child.stop();
        StoppedBucketsLite {
            data_dir: self.data_dir.clone(),
            spec: self.spec.clone(),
            exited_cleanly: status.is_some_and(|s| s.success()),
            tmp: self.tmp.take(),
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) -> StoppedBucketsLite {
        self.child.kill9();
        StoppedBucketsLite {
            data_dir: self.data_dir.clone(),
            spec: self.spec.clone(),
            exited_cleanly: false,
            tmp: self.tmp.take(),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().is_none()
    }

    /// The server's stderr so far (tracing output).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("buckets-lite.log")).unwrap_or_default()
    }

    /// The operator's private key (OpenSSH text), for a translator or gateway
    /// that signs as the operator.
    pub fn operator_key_pem(&self) -> String {
        self.operator.private_key().to_openssh_pem()
    }

    /// The signer of an identity (`"alice"`, `"alice/sub"`).
    pub fn signer(&self, name: &str) -> Arc<Signer> {
        self.accounts
            .get(name)
            .unwrap_or_else(|| panic!("no account {name} in the spec"))
            .signer
            .clone()
    }

    /// A client signing as the operator, addressing `/operator/...`.
    pub fn client(&self) -> NativeClient {
        NativeClient::new(&self.url, OPERATOR, Some(self.operator.clone()))
    }

    /// A client signing as `name`, addressing its account's namespace.
    pub fn client_as(&self, name: &str) -> NativeClient {
        let account = &self
            .accounts
            .get(name)
            .unwrap_or_else(|| panic!("no account {name} in the spec"))
            .login;
        NativeClient::new(&self.url, account, Some(self.signer(name)))
    }

    /// A client that sends no Authorization header.
    pub fn unsigned_client(&self, account: &str) -> NativeClient {
        NativeClient::new(&self.url, account, None)
    }
}

fn signer_for(login: &str, subuser: Option<&str>, pem: &str) -> Signer {
    let key = PrivateKey::from_pem_or_openssh(pem).expect("spec key parses");
    let key_id = KeyId {
        login: login.to_owned(),
        subuser: subuser.map(str::to_owned),
        fingerprint: key.public_key().md5_fingerprint(),
    };
    Signer::new(key_id, key)
}

fn make_account(login: &str, subuser: Option<&str>, pem: &str) -> Account {
    Account {
        login: login.to_owned(),
        subuser: subuser.map(str::to_owned),
        signer: Arc::new(signer_for(login, subuser, pem)),
        key_pem: pem.to_owned(),
    }
}

/// A buffered native response.
#[derive(Debug, Clone)]
pub struct NativeResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl NativeResponse {
    /// A header's value as UTF-8 text (`None` when absent or not UTF-8;
    /// buckets-lite sends non-ASCII names, e.g. in `Next-Marker`, as raw
    /// UTF-8).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| String::from_utf8(v.as_bytes().to_vec()).ok())
    }

    /// The `code` of a JSON error body, flat (`{"code":..}`) or nested as
    /// the real server's 409s (`{"statusCode":409,"body":{"code":..}}`).
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("code")
            .or_else(|| v.get("body")?.get("code"))?
            .as_str()
            .map(str::to_owned)
    }

    /// The body as JSON lines (a listing), panicking on malformed lines or
    /// a last line without `\n`.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        let text = std::str::from_utf8(&self.body).expect("listing is UTF-8");
        if text.is_empty() {
            return Vec::new();
        }
        assert!(
            text.ends_with('\n'),
            "every listing line ends with \\n: {text:?}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A small signed client of the native API (reqwest, HTTP/1.1, keep-alive).
///
/// Every request gets a `Date` (now) and, with a signer, an `Authorization`
/// signing `date`. A caller-supplied `date` or `authorization` header replaces
/// the generated one (the signature is then made over the supplied date, or
/// not made at all when `authorization` is given), so auth tests can send
/// anything.
#[derive(Clone)]
pub struct NativeClient {
    http: reqwest::Client,
    base: String,
    signer: Option<Arc<Signer>>,
    /// The account whose namespace the path helpers address.
    pub account: String,
}

/// A plain-HTTP reqwest client; rustls gets the ring provider explicitly
/// (the workspace enables both ring and aws-lc-rs, see common rules).
pub fn http_client() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(600))
        .build()
        .expect("reqwest client")
}

impl NativeClient {
    pub fn new(base_url: &str, account: &str, signer: Option<Arc<Signer>>) -> Self {
        NativeClient {
            http: http_client(),
            base: base_url.trim_end_matches('/').to_owned(),
            signer,
            account: account.to_owned(),
        }
    }

    /// The same connection pool, addressing another account's namespace.
    pub fn for_account(&self, account: &str) -> Self {
        NativeClient {
            account: account.to_owned(),
            ..self.clone()
        }
    }

    /// The same client with another (or no) signer.
    pub fn with_signer(&self, signer: Option<Arc<Signer>>) -> Self {
        NativeClient {
            signer,
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `/:account/buckets`
    pub fn buckets_path(&self) -> String {
        format!("/{}/buckets", self.account)
    }

    /// `/:account/buckets/:bucket` (the bucket is percent-encoded).
    pub fn bucket_path(&self, bucket: &str) -> String {
        format!("/{}/buckets/{}", self.account, encode_segment(bucket))
    }

    /// `/:account/buckets/:bucket/objects/:name`, the name as ONE segment.
    pub fn object_path(&self, bucket: &str, name: &str) -> String {
        format!(
            "{}/objects/{}",
            self.bucket_path(bucket),
            encode_segment(name)
        )
    }

    /// Sends a request; the response is returned unread (stream it).
    ///
    /// # Panics
    /// On a transport error (use [`NativeClient::try_send_raw`] to see it).
    pub async fn send_raw(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<reqwest::Body>,
    ) -> reqwest::Response {
        self.try_send_raw(method, path_and_query, headers, body)
            .await
            .unwrap_or_else(|e| panic!("request {path_and_query}: {e:?}"))
    }

    /// Sends a request; transport errors (e.g. a body stream that fails,
    /// the server closing early) are returned.
    pub async fn try_send_raw(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path_and_query));
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| (*v).to_owned())
        };
        let date = find("date").unwrap_or_else(|| s3gw_httpsig::http_date(SystemTime::now()));
        if find("date").is_none() {
            req = req.header("date", &date);
        }
        if find("authorization").is_none() {
            if let Some(signer) = &self.signer {
                req = req.header("authorization", signer.sign_date(&date));
            }
        }
        for (n, v) in headers {
            // from_bytes: non-ASCII values travel as raw UTF-8 (obs-text).
            let value = reqwest::header::HeaderValue::from_bytes(v.as_bytes())
                .unwrap_or_else(|e| panic!("header {n}: {e}"));
            req = req.header(*n, value);
        }
        if let Some(body) = body {
            // hyper sends no Content-Length for an empty body; the native
            // API wants one on a PUT (411 otherwise).
            if body.as_bytes().is_some_and(|b| b.is_empty()) && find("content-length").is_none() {
                req = req.header("content-length", "0");
            }
            req = req.body(body);
        }
        req.send().await
    }

    /// Sends a request and buffers the response.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<reqwest::Body>,
    ) -> NativeResponse {
        let resp = self.send_raw(method, path_and_query, headers, body).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        NativeResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> NativeResponse {
        self.send("GET", path, headers, None).await
    }

    pub async fn head(&self, path: &str, headers: &[(&str, &str)]) -> NativeResponse {
        self.send("HEAD", path, headers, None).await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> NativeResponse {
        self.send("DELETE", path, headers, None).await
    }

    pub async fn put(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> NativeResponse {
        self.send("PUT", path, headers, Some(body.into())).await
    }

    /// `PUT /:account/buckets/:bucket`
    pub async fn create_bucket(&self, bucket: &str) -> NativeResponse {
        self.put(&self.bucket_path(bucket), &[], Vec::new()).await
    }

    /// `PUT .../objects/:name` with `body`.
    pub async fn put_object(
        &self,
        bucket: &str,
        name: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> NativeResponse {
        self.put(&self.object_path(bucket, name), headers, body)
            .await
    }

    /// `GET .../objects/:name`
    pub async fn get_object(
        &self,
        bucket: &str,
        name: &str,
        headers: &[(&str, &str)],
    ) -> NativeResponse {
        self.get(&self.object_path(bucket, name), headers).await
    }

    /// `GET .../objects?<query>` (values percent-encoded here).
    pub async fn list_objects(&self, bucket: &str, query: &[(&str, &str)]) -> NativeResponse {
        let path = format!(
            "{}/objects{}",
            self.bucket_path(bucket),
            query_string(query)
        );
        self.get(&path, &[]).await
    }

    /// `GET /:account/buckets?<query>`
    pub async fn list_buckets(&self, query: &[(&str, &str)]) -> NativeResponse {
        let path = format!("{}{}", self.buckets_path(), query_string(query));
        self.get(&path, &[]).await
    }
}

/// `?k=v&...` with percent-encoded values; empty for no pairs.
pub fn query_string(query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_segment(k), encode_segment(v)))
        .collect();
    format!("?{}", pairs.join("&"))
}
