//! S3 answers for what the HTTP layer refuses on its own.
//!
//! actix-http answers some requests before any service of ours runs: a
//! request head it cannot parse (400), one that overflows its buffer (431),
//! one that does not arrive within `limits.header_timeout` (408), a
//! stream that ends where it must not (500). It writes a bare status line
//! with `content-length: 0`: no S3 error document, no `x-amz-request-id`.
//!
//! [`S3Io`] sits between actix-http and the connection (the TCP stream, or
//! the TLS stream after the handshake) and follows the framing of the
//! responses actix-http writes: at each response head it looks at the head
//! once, then passes the body through by its length (Content-Length, or
//! the chunk sizes of a chunked body) without looking at it. A head with
//! an error status, no `x-amz-request-id` and an empty body was written by
//! actix-http itself (every answer of ours carries a request id): it is
//! replaced by an S3 error document with a fresh request id, S3's code for
//! the status ([`s3_error_for`]), `Connection: close`, and a log line with
//! the request id. One exception: actix-http's `408` on a connection that
//! has not sent a single byte (its head timer runs from the connection's
//! start) is dropped, not answered: the connection just closes. Bytes
//! there answer no request; an HTTP client holding that connection idle
//! in its pool reads them as a response to nothing (hyper:
//! `UnexpectedMessage`, failing the request it sends next). Nothing else
//! is ever changed, and a body is never read
//! as a head: a response to HEAD has no body whatever its Content-Length
//! says, so the service notes those ([`ConnTap::note_head_answer`]); a
//! response framed in a way this does not follow (until close, upgrade)
//! makes the rest of the connection pass through untouched.
//!
//! The cost on the normal path: one parse of each response head (a few
//! hundred bytes) and arithmetic on body lengths; no copy, no extra write.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{S3Error, S3ErrorCode};

/// The longest response head followed; a longer one (none of ours is)
/// ends the inspection of the connection.
const MAX_HEAD: usize = 64 * 1024;

/// Shared between a connection's [`S3Io`] and the service answering on it
/// (the connection data, `conn_data::<Rc<ConnTap>>()`).
#[derive(Default, Debug)]
pub struct ConnTap {
    /// Request ids of answers to HEAD requests not yet written.
    head_answers: RefCell<Vec<String>>,
}

impl ConnTap {
    /// The response carrying this `x-amz-request-id` answers a HEAD
    /// request: no body follows its head, whatever its Content-Length says.
    pub fn note_head_answer(&self, request_id: &str) {
        self.head_answers.borrow_mut().push(request_id.to_owned());
    }

    fn take_head_answer(&self, request_id: &[u8]) -> bool {
        let mut v = self.head_answers.borrow_mut();
        match v.iter().position(|id| id.as_bytes() == request_id) {
            Some(i) => {
                v.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

/// What comes after the bytes being skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A response head.
    Head,
    /// A chunk-size line of a chunked body (`HEX\r\n`), parsed so far.
    ChunkLine { size: u64, digits: bool, cr: bool },
    /// Not followed any more: everything passes.
    Through,
}

/// Where the writer is in the response stream: `skip` bytes (the rest of a
/// head of ours, a body, chunk data) pass, then `next`.
#[derive(Debug, Clone, Copy)]
struct Framer {
    skip: u64,
    next: Next,
}

/// How a scan of written bytes stopped.
enum Stop {
    /// Every byte given may pass.
    End,
    /// A response head starts here and does not end in the bytes given.
    PartialHead,
    /// A head written by actix-http itself starts here: `len` bytes,
    /// with an empty body.
    HttpLayer { len: usize, head: LayerHead },
}

/// What the rewrite keeps of actix-http's head.
struct LayerHead {
    status: u16,
    http10: bool,
    date: Option<Vec<u8>>,
}

/// What a complete response head says.
enum Verdict {
    /// A head of ours; its body as framed.
    Ours(Body),
    /// Written by actix-http itself.
    HttpLayer(LayerHead),
}

enum Body {
    Empty,
    Sized(u64),
    Chunked,
    /// Until close, an upgrade, or a head this does not understand.
    Untracked,
}

impl Framer {
    fn new() -> Self {
        Framer {
            skip: 0,
            next: Next::Head,
        }
    }

    /// Walks `buf` from this state: returns how many bytes may pass as
    /// they are and why it stopped, with the state after those bytes.
    fn scan(&mut self, buf: &[u8], tap: &ConnTap) -> (usize, Stop) {
        let mut pos = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min((buf.len() - pos) as u64);
                self.skip -= n;
                pos += n as usize;
            }
            if pos == buf.len() {
                return (pos, Stop::End);
            }
            match self.next {
                Next::Through => {
                    return (buf.len(), Stop::End);
                }
                Next::ChunkLine {
                    mut size,
                    mut digits,
                    mut cr,
                } => {
                    let b = buf[pos];
                    pos += 1;
                    match (b, cr) {
                        (b'\n', true) if digits => {
                            // `0\r\n\r\n` ends the body (actix-http writes
                            // no trailers); else the data and its CRLF.
                            *self = if size == 0 {
                                Framer {
                                    skip: 2,
                                    next: Next::Head,
                                }
                            } else {
                                Framer {
                                    skip: size.saturating_add(2),
                                    next: Next::ChunkLine {
                                        size: 0,
                                        digits: false,
                                        cr: false,
                                    },
                                }
                            };
                            continue;
                        }
                        (b'\r', false) => cr = true,
                        (_, false) if b.is_ascii_hexdigit() && size >> 59 == 0 => {
                            size = size * 16 + u64::from((b as char).to_digit(16).unwrap_or(0));
                            digits = true;
                        }
                        _ => {
                            self.next = Next::Through;
                            continue;
                        }
                    }
                    self.next = Next::ChunkLine { size, digits, cr };
                }
                Next::Head => {
                    let rest = &buf[pos..];
                    let Some(len) = head_end(rest) else {
                        if rest.len() > MAX_HEAD {
                            self.next = Next::Through;
                            continue;
                        }
                        return (pos, Stop::PartialHead);
                    };
                    match judge(&rest[..len], tap) {
                        Verdict::HttpLayer(head) => {
                            // The state stays at this head: the caller
                            // replaces it (and then lets the rest through).
                            return (pos, Stop::HttpLayer { len, head });
                        }
                        Verdict::Ours(body) => {
                            pos += len;
                            *self = match body {
                                Body::Empty => Framer::new(),
                                Body::Sized(n) => Framer {
                                    skip: n,
                                    next: Next::Head,
                                },
                                Body::Chunked => Framer {
                                    skip: 0,
                                    next: Next::ChunkLine {
                                        size: 0,
                                        digits: false,
                                        cr: false,
                                    },
                                },
                                Body::Untracked => Framer {
                                    skip: 0,
                                    next: Next::Through,
                                },
                            };
                        }
                    }
                }
            }
        }
    }
}

/// The length of the head at the start of `buf` (through its blank line).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads one complete response head.
fn judge(head: &[u8], tap: &ConnTap) -> Verdict {
    let mut headers = [httparse::EMPTY_HEADER; 160];
    let mut res = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = res.parse(head) else {
        return Verdict::Ours(Body::Untracked);
    };
    let status = res.code.unwrap_or(0);
    let (mut request_id, mut length, mut chunked, mut date) = (None, None, false, None);
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("x-amz-request-id") {
            request_id = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.to_ascii_lowercase().ends_with(b"chunked");
        } else if h.name.eq_ignore_ascii_case("date") {
            date = Some(h.value.to_vec());
        }
    }
    if request_id.is_none() && status >= 400 && !chunked && length.unwrap_or(0) == 0 {
        return Verdict::HttpLayer(LayerHead {
            status,
            http10: res.version == Some(0),
            date,
        });
    }
    let head_answer = request_id.is_some_and(|id| tap.take_head_answer(id));
    Verdict::Ours(match status {
        101 => Body::Untracked,
        100..=199 | 204 | 304 => Body::Empty,
        _ if head_answer => Body::Empty,
        _ if chunked => Body::Chunked,
        _ => match length {
            Some(n) => Body::Sized(n),
            None => Body::Untracked,
        },
    })
}

/// S3's answer for a status actix-http chose: S3 answers an unparseable
/// request `400 BadRequest` ("An error occurred when parsing the HTTP
/// request."), a head that never completes `400 RequestTimeout`, an
/// oversized header section `400 RequestHeaderSectionTooLarge`.
pub fn s3_error_for(status: u16) -> S3Error {
    S3Error::new(match status {
        408 => S3ErrorCode::RequestTimeout,
        414 | 431 => S3ErrorCode::RequestHeaderSectionTooLarge,
        400..=499 => S3ErrorCode::BadRequest,
        _ => S3ErrorCode::InternalError,
    })
}

/// The S3 error answer replacing actix-http's own head.
fn rewrite(head: &LayerHead) -> Vec<u8> {
    let e = s3_error_for(head.status);
    let (request_id, id2) = crate::server::request_ids();
    tracing::info!(
        request_id = %request_id,
        http_status = head.status,
        status = e.status(),
        code = e.code.as_str(),
        "request refused by the HTTP layer (unparseable head, oversized or late headers)"
    );
    let body = crate::xml::error_document(&e, "", &request_id, true);
    let status = actix_web::http::StatusCode::from_u16(e.status())
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let mut out = Vec::with_capacity(320 + body.len());
    out.extend_from_slice(if head.http10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/xml\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\nx-amz-request-id: ");
    out.extend_from_slice(request_id.as_bytes());
    out.extend_from_slice(b"\r\nx-amz-id-2: ");
    out.extend_from_slice(id2.as_bytes());
    out.extend_from_slice(b"\r\nserver: s3gw\r\nconnection: close\r\n");
    if let Some(d) = &head.date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(d);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

/// The connection as actix-http sees it: reads pass through; writes are
/// followed response by response (module docs).
pub struct S3Io<T> {
    inner: T,
    tap: Rc<ConnTap>,
    framer: Framer,
    /// Leading bytes of the caller's next write already judged by a scan
    /// (a write the stream took only part of).
    judged: usize,
    /// Bytes taken from the caller that must reach the stream before any
    /// other: a replaced head, or a held head of ours.
    pending: Vec<u8>,
    pending_at: usize,
    /// The start of a head the caller wrote only part of (taken, not yet
    /// judged).
    held: Vec<u8>,
    /// Whether the peer has sent any byte on this connection.
    read_any: bool,
}

impl<T> S3Io<T> {
    pub fn new(inner: T) -> Self {
        S3Io {
            inner,
            tap: Rc::new(ConnTap::default()),
            framer: Framer::new(),
            judged: 0,
            pending: Vec::new(),
            pending_at: 0,
            held: Vec::new(),
            read_any: false,
        }
    }

    /// The connection's tap, for the service (connection data).
    pub fn tap(&self) -> Rc<ConnTap> {
        self.tap.clone()
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T> S3Io<T> {
    /// What goes out instead of actix-http's own head: nothing for a `408`
    /// on a connection that never carried a byte (module docs), else S3's
    /// error answer. Either way the connection closes after it (actix-http
    /// shuts it down; the rest of the stream is not followed).
    fn replacement(&self, head: &LayerHead) -> Vec<u8> {
        if head.status == 408 && !self.read_any {
            tracing::debug!("connection closed without a request within header_timeout");
            return Vec::new();
        }
        rewrite(head)
    }
}

impl<T: AsyncWrite + Unpin> S3Io<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_at < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_at += n;
        }
        self.pending.clear();
        self.pending_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes more of a head begun in an earlier write; how much of `buf`
    /// it took.
    fn take_held(&mut self, buf: &[u8]) -> usize {
        let before = self.held.len();
        // The blank line may straddle the two writes.
        let from = before.saturating_sub(3);
        self.held.extend_from_slice(buf);
        match head_end(&self.held[from..]) {
            Some(rel) => {
                let end = from + rel;
                let taken = end - before;
                self.held.truncate(end);
                let head = std::mem::take(&mut self.held);
                let mut f = Framer::new();
                match f.scan(&head, &self.tap) {
                    (_, Stop::HttpLayer { head: h, .. }) => {
                        self.pending = self.replacement(&h);
                        self.framer = Framer {
                            skip: 0,
                            next: Next::Through,
                        };
                    }
                    _ => {
                        self.pending = head;
                        self.framer = f;
                    }
                }
                taken
            }
            None => {
                if self.held.len() > MAX_HEAD {
                    self.pending = std::mem::take(&mut self.held);
                    self.framer.next = Next::Through;
                }
                buf.len()
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for S3Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.read_any = true;
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for S3Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if buf.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if !this.held.is_empty() {
            return Poll::Ready(Ok(this.take_held(buf)));
        }
        let judged = this.judged.min(buf.len());
        let (pass, stop) = if judged == buf.len() {
            (judged, Stop::End)
        } else {
            let (n, stop) = this.framer.scan(&buf[judged..], &this.tap);
            (judged + n, stop)
        };
        if pass > 0 {
            this.judged = pass;
            let r = Pin::new(&mut this.inner).poll_write(cx, &buf[..pass]);
            if let Poll::Ready(Ok(n)) = r {
                this.judged = pass - n.min(pass);
            }
            return r;
        }
        match stop {
            Stop::End => Pin::new(&mut this.inner).poll_write(cx, buf),
            Stop::PartialHead => {
                this.held.extend_from_slice(buf);
                if this.held.len() > MAX_HEAD {
                    this.pending = std::mem::take(&mut this.held);
                    this.framer.next = Next::Through;
                }
                Poll::Ready(Ok(buf.len()))
            }
            Stop::HttpLayer { len, head } => {
                this.pending = this.replacement(&head);
                this.pending_at = 0;
                // Try to send it now; what the stream does not take yet
                // goes with the next write or flush.
                if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(len))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if !this.held.is_empty() {
            // A head that never ended: it cannot be judged; it goes as is.
            this.pending = std::mem::take(&mut this.held);
            this.framer.next = Next::Through;
            ready!(this.poll_pending(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Writes `chunks` through an [`S3Io`] over a memory pipe (a large
    /// one, and one that takes 7 bytes at a time, so writes are cut
    /// everywhere), with the given HEAD answers noted, and returns what
    /// reached the other end (the same for both).
    async fn through(chunks: &[&[u8]], heads: &[&str]) -> Vec<u8> {
        let mut outs = Vec::new();
        for cap in [1 << 20, 7] {
            let (a, mut b) = tokio::io::duplex(cap);
            let mut io = S3Io::new(a);
            for h in heads {
                io.tap().note_head_answer(h);
            }
            let write = async {
                for c in chunks {
                    io.write_all(c).await.unwrap();
                }
                io.shutdown().await.unwrap();
                drop(io);
            };
            let mut out = Vec::new();
            let read = tokio::io::AsyncReadExt::read_to_end(&mut b, &mut out);
            let (_, r) = tokio::join!(write, read);
            r.unwrap();
            outs.push(out);
        }
        let out = outs.pop().unwrap();
        let big = outs.pop().unwrap();
        // Request ids are fresh per rewrite: compare up to the last head,
        // and the lengths.
        let cut = |o: &[u8]| {
            let s = text(o);
            s.rfind("HTTP/1.1 ")
                .map_or(s.clone(), |i| s[..i].to_owned())
        };
        assert_eq!(cut(&big), cut(&out));
        assert_eq!(big.len(), out.len());
        out
    }

    const ACTIX_400: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Mon, 30 Nov 2026 13:00:00 GMT\r\n\r\n";

    fn ours(status: &str, id: &str, framing: &str, body: &[u8]) -> Vec<u8> {
        [
            format!(
                "HTTP/1.1 {status}\r\n{framing}\r\nx-amz-request-id: {id}\r\nserver: s3gw\r\n\r\n"
            )
            .as_bytes(),
            body,
        ]
        .concat()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[tokio::test]
    async fn an_http_layer_error_becomes_an_s3_error_document() {
        let out = text(&through(&[ACTIX_400], &[]).await);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("<Code>BadRequest</Code>"), "{out}");
        assert!(out.contains("\r\nx-amz-request-id: "), "{out}");
        assert!(out.contains("\r\nconnection: close\r\n"), "{out}");
        assert!(out.contains("\r\ndate: Mon, 30 Nov 2026 13:00:00 GMT\r\n"));
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        for (status, code) in [
            (431, "RequestHeaderSectionTooLarge"),
            (500, "InternalError"),
        ] {
            let raw = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            let out = text(&through(&[raw.as_bytes()], &[]).await);
            assert!(out.contains(&format!("<Code>{code}</Code>")), "{out}");
        }
    }

    /// Bodies are skipped by their framing, never read as heads: an
    /// object whose content looks exactly like actix-http's error head is
    /// served byte for byte, sized or chunked, and so is a HEAD answer's
    /// Content-Length without a body; the error after them is rewritten.
    #[tokio::test]
    async fn bodies_are_never_judged_as_heads() {
        let sized = ours(
            "200 OK",
            "A1",
            &format!("content-length: {}", ACTIX_400.len()),
            ACTIX_400,
        );
        let chunk = [
            format!("{:X}\r\n", ACTIX_400.len()).as_bytes(),
            ACTIX_400,
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        let chunked = ours("200 OK", "A2", "transfer-encoding: chunked", &chunk);
        let head = ours("200 OK", "A3", "content-length: 5000", b"");
        let cont = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        let stream = [
            cont.clone(),
            sized.clone(),
            chunked.clone(),
            head.clone(),
            ACTIX_400.to_vec(),
        ]
        .concat();
        let expect_prefix = [cont, sized, chunked, head].concat();
        // All in one write, and cut at every byte into two writes.
        for cut in (0..stream.len()).step_by(7).chain([stream.len()]) {
            let out = through(&[&stream[..cut], &stream[cut..]], &["A3"]).await;
            assert_eq!(&out[..expect_prefix.len()], &expect_prefix[..], "cut {cut}");
            let tail = text(&out[expect_prefix.len()..]);
            assert!(
                tail.contains("<Code>BadRequest</Code>"),
                "cut {cut}: {tail}"
            );
        }
        // Without the HEAD note the 5000 "body" bytes swallow the rest:
        // nothing is rewritten (the safe way to be wrong).
        let out = through(&[&stream], &[]).await;
        assert_eq!(out, stream);
    }

    /// actix-http's 408 (its head timer) on a connection that never sent
    /// a byte is dropped: the connection closes with nothing written, so a
    /// client's idle pooled connection never reads an answer to no
    /// request. Once a byte of a head arrived, it is S3's RequestTimeout.
    #[tokio::test]
    async fn a_408_before_any_request_byte_writes_nothing() {
        use tokio::io::AsyncReadExt;
        const ACTIX_408: &[u8] =
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        assert_eq!(text(&through(&[ACTIX_408], &[]).await), "");

        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut io = S3Io::new(a);
        b.write_all(b"GET / HT").await.unwrap();
        let mut got = [0u8; 16];
        assert_eq!(io.read(&mut got).await.unwrap(), 8);
        io.write_all(ACTIX_408).await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        let mut out = Vec::new();
        b.read_to_end(&mut out).await.unwrap();
        let out = text(&out);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("<Code>RequestTimeout</Code>"), "{out}");
    }

    #[tokio::test]
    async fn answers_of_ours_pass_unchanged_even_without_body() {
        // An error of ours with an empty body (a HEAD 404) keeps its head.
        let h = ours("404 Not Found", "B1", "content-length: 0", b"");
        assert_eq!(through(&[&h], &[]).await, h);
        // Unknown framing: the rest of the connection passes untouched.
        let until_close = ours("200 OK", "B2", "x: y", ACTIX_400);
        assert_eq!(through(&[&until_close], &[]).await, until_close);
    }
}
