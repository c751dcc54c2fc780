//! Raw HTTP/1.1 over a plain socket, with hand-made SigV4 and SigV2
//! signatures: for the requests SDKs will not send (absolute-form targets,
//! encoded sub-resources, tampered queries, slow bodies).
//!
//! Sign first, tamper after: [`RawSigner::v4`] / [`RawSigner::v2`] build a
//! correctly signed [`RawRequest`]; a test then changes its `target`,
//! headers or body to what an attacker would send, and [`send`] writes it
//! byte for byte.
//!
//! ```no_run
//! use s3gw_tests::raw::{send, RawSigner};
//! # let gw: s3gw_tests::gateway::Gateway = unimplemented!();
//! let s = RawSigner::new(&gw);
//! let mut r = s.v4("GET", &s.host(None), "/bucket/key", &[], &[], b"");
//! r.target = format!("http://other.s3.test:{}/key", gw.addr.port());
//! let resp = send(gw.addr, &r.to_bytes());
//! assert_eq!(resp.status, 400);
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::gateway::{Gateway, GatewayKey};

/// How long a raw exchange may take before the test fails (a hang).
pub const RAW_DEADLINE: Duration = Duration::from_secs(60);

/// "UriEncode()": everything but `A-Za-z0-9-._~`.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The same set; for building query strings.
pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, URI_ENCODE).to_string()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `(YYYYMMDDTHHMMSSZ, YYYYMMDD)`.
pub fn amz_date(t: SystemTime) -> (String, String) {
    let t = time::OffsetDateTime::from(t);
    let d = format!("{:04}{:02}{:02}", t.year(), t.month() as u8, t.day());
    (
        format!("{d}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second()),
        d,
    )
}

/// One request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    /// The request-target exactly as sent: origin form (`/b/k?x`) or
    /// absolute form (`http://host/k`).
    pub target: String,
    /// Every header, `host` included, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The request bytes. A `content-length` is added for a body unless a
    /// header already sets one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let has_length = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !has_length && (!self.body.is_empty() || matches!(self.method.as_str(), "PUT" | "POST"))
        {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }
    /// Replaces (or adds) a header, after signing.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// Signs requests with a gateway's key.
#[derive(Debug, Clone)]
pub struct RawSigner {
    pub addr: SocketAddr,
    pub key: GatewayKey,
    pub region: String,
}

impl RawSigner {
    pub fn new(gw: &Gateway) -> RawSigner {
        RawSigner {
            addr: gw.addr,
            key: gw.key.clone(),
            region: "us-east-1".into(),
        }
    }

    /// `<bucket>.s3.test:PORT` (virtual-host style under the harness's
    /// default domain) or `127.0.0.1:PORT` (path style).
    pub fn host(&self, bucket: Option<&str>) -> String {
        match bucket {
            Some(b) => format!("{b}.s3.test:{}", self.addr.port()),
            None => format!("127.0.0.1:{}", self.addr.port()),
        }
    }

    /// The SigV4 signing key for `date` (`YYYYMMDD`), e.g. to sign the
    /// chunks of a raw aws-chunked body.
    pub fn signing_key(&self, date: &str) -> Vec<u8> {
        let k = hmac_sha256(
            format!("AWS4{}", self.key.secret).as_bytes(),
            date.as_bytes(),
        );
        let k = hmac_sha256(&k, self.region.as_bytes());
        let k = hmac_sha256(&k, b"s3");
        hmac_sha256(&k, b"aws4_request")
    }

    /// A SigV4 header-signed request: `path` raw (already encoded) as the
    /// canonical URI, `query` decoded pairs (encoded for the wire and the
    /// canonical query alike), every given header signed, the body's
    /// SHA-256 as `x-amz-content-sha256` unless a header sets it.
    pub fn v4(
        &self,
        method: &str,
        host: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawRequest {
        let (amz, date) = amz_date(SystemTime::now());
        let mut enc: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        let wire_query: Vec<String> = enc.iter().map(|(k, v)| format!("{k}={v}")).collect();
        enc.sort();
        let canonical_query: Vec<String> = enc.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect();
        let payload = match hs.iter().find(|(k, _)| k == "x-amz-content-sha256") {
            Some((_, v)) => v.clone(),
            None => {
                let p = sha256_hex(body);
                hs.push(("x-amz-content-sha256".into(), p.clone()));
                p
            }
        };
        hs.push(("host".into(), host.to_owned()));
        hs.push(("x-amz-date".into(), amz.clone()));
        hs.sort();
        let canonical_headers: String = hs
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        let signed = hs
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let creq = format!(
            "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\n{payload}",
            canonical_query.join("&")
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            sha256_hex(creq.as_bytes())
        );
        let sig = hex::encode(hmac_sha256(&self.signing_key(&date), sts.as_bytes()));
        hs.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={sig}",
                self.key.access_key_id
            ),
        ));
        let target = if wire_query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", wire_query.join("&"))
        };
        RawRequest {
            method: method.to_owned(),
            target,
            headers: hs,
            body: body.to_vec(),
        }
    }

    /// SigV2's signature of a string to sign, base64.
    pub fn v2_signature(&self, string_to_sign: &str) -> String {
        let mut m =
            Hmac::<sha1::Sha1>::new_from_slice(self.key.secret.as_bytes()).expect("any key length");
        m.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    }

    /// A SigV2 header-signed request with `Date: now`. `target` is sent
    /// as is; `resource` is the CanonicalizedResource the client signs
    /// (`/bucket/key?sub`). Headers are sent, and `x-amz-*` ones signed.
    pub fn v2(
        &self,
        method: &str,
        host: &str,
        target: &str,
        resource: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawRequest {
        let date = httpdate::fmt_http_date(SystemTime::now());
        self.v2_dated(method, host, target, resource, headers, body, &date)
    }

    /// [`RawSigner::v2`] with a given `Date` header.
    #[allow(clippy::too_many_arguments)]
    pub fn v2_dated(
        &self,
        method: &str,
        host: &str,
        target: &str,
        resource: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        date: &str,
    ) -> RawRequest {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| *v)
                .unwrap_or("")
        };
        let mut amz: Vec<(String, &str)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), *v))
            .filter(|(k, _)| k.starts_with("x-amz-"))
            .collect();
        amz.sort();
        let amz: String = amz.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let sts = format!(
            "{method}\n{}\n{}\n{date}\n{amz}{resource}",
            get("content-md5"),
            get("content-type")
        );
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        hs.push(("host".into(), host.to_owned()));
        hs.push(("date".into(), date.to_owned()));
        hs.push((
            "authorization".into(),
            format!("AWS {}:{}", self.key.access_key_id, self.v2_signature(&sts)),
        ));
        RawRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: hs,
            body: body.to_vec(),
        }
    }

    /// A SigV2 query-signed link (`AWSAccessKeyId`, `Expires`,
    /// `Signature`) for `path` (no query of its own), signing `resource`.
    pub fn v2_presigned(
        &self,
        method: &str,
        host: &str,
        path: &str,
        resource: &str,
        expires: &str,
    ) -> RawRequest {
        let sts = format!("{method}\n\n\n{expires}\n{resource}");
        let sig = uri_encode(&self.v2_signature(&sts));
        RawRequest {
            method: method.to_owned(),
            target: format!(
                "{path}?AWSAccessKeyId={}&Expires={expires}&Signature={sig}",
                self.key.access_key_id
            ),
            headers: vec![("host".into(), host.to_owned())],
            body: Vec::new(),
        }
    }

    /// Signs and sends; panics on a transport failure.
    pub fn send(&self, r: &RawRequest) -> RawResponse {
        send(self.addr, &r.to_bytes())
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `<Code>` of an S3 error document ("" if none).
    pub fn code(&self) -> String {
        let t = self.text();
        t.split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("")
            .to_owned()
    }
    /// Asserts an S3 error answer: the status, the code, an XML body and
    /// a request id.
    pub fn assert_s3_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.text()
        );
        assert!(
            self.header("x-amz-request-id")
                .is_some_and(|v| !v.is_empty()),
            "x-amz-request-id: {self:?}"
        );
        assert!(
            self.text().contains("<Error>"),
            "an S3 error document: {}",
            self.text()
        );
    }
}

/// Opens a connection (read/write deadline [`RAW_DEADLINE`]).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the gateway");
    s.set_read_timeout(Some(RAW_DEADLINE)).expect("timeout");
    s.set_write_timeout(Some(RAW_DEADLINE)).expect("timeout");
    s
}

/// Writes `bytes` on a new connection and reads one response.
pub fn send(addr: SocketAddr, bytes: &[u8]) -> RawResponse {
    let mut s = connect(addr);
    s.write_all(bytes).expect("request written");
    read_response(&mut s).expect("a response")
}

/// Reads one final response (skipping `1xx`); `None` when the connection
/// closed before a status line. Bodies: `content-length`, chunked, or
/// until close; none for 204/304.
pub fn read_response(s: &mut TcpStream) -> Option<RawResponse> {
    read_response_from(s, Vec::new(), true)
}

/// The first thing the server answers, a `1xx` interim response included
/// (`100 Continue` is returned as a response with status 100 and no body).
/// Anything read past it is returned too, to continue with
/// [`read_response_after`].
pub fn read_first_answer(s: &mut TcpStream) -> Option<(RawResponse, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
            if (100..200).contains(&status) {
                let rest = buf[end + 4..].to_vec();
                return Some((
                    RawResponse {
                        status,
                        headers: Vec::new(),
                        body: Vec::new(),
                    },
                    rest,
                ));
            }
            return read_response_from(s, buf, false).map(|r| (r, Vec::new()));
        }
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the response: {e} (a hang?)"),
        }
    }
}

/// The final response after [`read_first_answer`] gave an interim one.
pub fn read_response_after(s: &mut TcpStream, already: Vec<u8>) -> Option<RawResponse> {
    read_response_from(s, already, true)
}

fn read_response_from(
    s: &mut TcpStream,
    start: Vec<u8>,
    skip_interim: bool,
) -> Option<RawResponse> {
    let mut buf = start;
    loop {
        let (status, headers, rest) = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let rest = buf[end + 4..].to_vec();
                let mut lines = head.split("\r\n");
                let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                break (status, headers, rest);
            }
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading the response: {e} (a hang?)"),
            }
        };
        if skip_interim && (100..200).contains(&status) {
            buf = rest;
            continue;
        }
        let mut body = rest;
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if status == 204 || status == 304 {
            body.clear();
        } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while body.len() < len {
                let mut chunk = [0u8; 8192];
                match s.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => body.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("reading the body: {e}"),
                }
            }
            body.truncate(len);
        } else {
            let _ = s.read_to_end(&mut body);
            if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
                body = dechunk(&body);
            }
        }
        return Some(RawResponse {
            status,
            headers,
            body,
        });
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(b, b"\r\n") {
        let size = String::from_utf8_lossy(&b[..eol]);
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        b = &b[eol + 2..];
        if size == 0 || b.len() < size {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
    out
}
