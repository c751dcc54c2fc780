//! Request bodies: from the raw bytes on the wire to the verified
//! [`Body`] a backend stores.
//!
//! # Layout
//! - [`chunked`]: the aws-chunked decoder (incremental; chunk and trailer
//!   signatures verified before data moves on).
//! - [`digest`]: the S3 checksums (CRC32, CRC32C, CRC64NVME, SHA-1,
//!   SHA-256), streaming.
//! - this module: [`verified_body`], which reads the request's promises
//!   (payload mode, `Content-MD5`, `x-amz-checksum-*` headers or
//!   trailers, lengths) and wraps the raw stream in one that checks them.
//!
//! "Verify before you commit" (style.md): the stream HOLDS BACK its last
//! piece of data until the whole body is verified. A body that fails any
//! check yields `Err(S3Error)` (boxed as a `BodyError`) instead of its
//! last bytes, so a backend never sees a complete body that is wrong and
//! aborts its native write; the gateway downcasts the error back to the
//! precise S3 error.

pub(crate) mod chunked;
pub mod digest;

use std::collections::VecDeque;

use actix_web::http::header::HeaderMap;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::Md5;
use s3gw_translator::{Body, BodyError, ByteStream, Checksum, ChecksumAlgorithm, ChecksumInput};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::{unsigned_payload_mode, Authenticated, PayloadMode};
use crate::error::{S3Error, S3ErrorCode};
use chunked::{ChunkLimits, Decoder};
pub use digest::{checksum_of, Checksummer};

/// Body limits (`[limits]` in `s3gw.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BodyLimits {
    /// Largest aws-chunked chunk accepted. A signed chunk is held in memory
    /// until its signature verifies, so this bounds memory per upload. The
    /// SDKs send 64 KiB (Rust, Go, Python) to 128 KiB (Java) chunks.
    pub max_chunk_size: usize,
    /// Smallest signed aws-chunked chunk but the last (S3: "Only the last
    /// chunk is allowed to have a size less than 8192 bytes").
    pub min_chunk_size: usize,
    /// Largest object one PUT may write (S3: 5 TiB).
    pub max_object_size: u64,
    /// Longest aws-chunked chunk header line (`size;chunk-signature=...`).
    pub max_chunk_header_bytes: usize,
    /// Most bytes of aws-chunked trailer lines.
    pub max_trailer_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_chunk_size: 16 << 20,
            min_chunk_size: 8192,
            max_object_size: 5 << 40,
            max_chunk_header_bytes: 4096,
            max_trailer_bytes: 16 << 10,
        }
    }
}

/// `Content-Encoding` as it must be stored: `aws-chunked` is transport
/// framing, not a property of the object ("Amazon S3 stores the resulting
/// object without the aws-chunked value"). `None` when nothing is left.
pub fn decode_content_encoding(headers: &HeaderMap) -> Option<String> {
    let codings: Vec<String> = headers
        .get_all("content-encoding")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .map(str::to_owned)
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("").trim())
}

fn parse_length(headers: &HeaderMap, name: &str) -> Result<Option<u64>, S3Error> {
    header(headers, name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("{name} is not a valid length"),
                )
            })
        })
        .transpose()
}

/// Wraps the raw body in the stream that verifies everything the request
/// promised. Header-level problems (a malformed Content-MD5, a checksum
/// header of the wrong length, a body too large) fail here, before any
/// byte is read.
pub fn verified_body(
    raw: ByteStream,
    auth: Option<&Authenticated>,
    headers: &HeaderMap,
    limits: &BodyLimits,
) -> Result<Body, S3Error> {
    let mode = match auth {
        Some(a) => a.payload.clone(),
        None => unsigned_payload_mode(headers)?,
    };
    verified_body_with_mode(raw, mode, headers, limits)
}

/// [`verified_body`] for a known payload mode.
pub(crate) fn verified_body_with_mode(
    raw: ByteStream,
    mode: PayloadMode,
    headers: &HeaderMap,
    limits: &BodyLimits,
) -> Result<Body, S3Error> {
    // Content-MD5: base64 of 16 bytes, else InvalidDigest.
    let content_md5 = match header(headers, "content-md5") {
        None => None,
        Some(v) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(v).ok();
            Some(
                raw.and_then(|r| <[u8; 16]>::try_from(r).ok())
                    .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))?,
            )
        }
    };

    // x-amz-checksum-<alg> headers: at most one, of the right length.
    let mut header_checksum: Option<(ChecksumAlgorithm, Vec<u8>, String)> = None;
    for alg in digest::ALGORITHMS {
        let name = digest::header_name(alg);
        if let Some(v) = header(headers, &name) {
            if header_checksum.is_some() {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            let raw = digest::decode_value(alg, v).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Value for {name} header is invalid."),
                )
            })?;
            header_checksum = Some((alg, raw, v.to_owned()));
        }
    }

    let (chunked, signing, trailer_signed) = match &mode {
        PayloadMode::StreamingSigned { signing, trailer } => {
            (true, Some(signing.clone()), *trailer)
        }
        PayloadMode::StreamingUnsignedTrailer => (true, None, false),
        PayloadMode::Unsigned | PayloadMode::Sha256(_) => (false, None, false),
    };
    let trailers_allowed = matches!(
        mode,
        PayloadMode::StreamingUnsignedTrailer | PayloadMode::StreamingSigned { trailer: true, .. }
    );

    // The trailer checksum named by x-amz-trailer (or, without it, by
    // x-amz-sdk-checksum-algorithm).
    let mut trailer_alg = None;
    if trailers_allowed {
        let declared = header(headers, "x-amz-trailer").unwrap_or("");
        for name in declared.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_lowercase();
            if let Some(alg) = digest::ALGORITHMS
                .into_iter()
                .find(|a| digest::header_name(*a) == name)
            {
                if trailer_alg.replace(alg).is_some() {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        "Expecting a single x-amz-checksum- trailer.",
                    ));
                }
            }
        }
        if declared.is_empty() {
            trailer_alg =
                header(headers, "x-amz-sdk-checksum-algorithm").and_then(ChecksumAlgorithm::parse);
        }
        if trailer_alg.is_some() && header_checksum.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Expecting a single x-amz-checksum- header or trailer.",
            ));
        }
    }

    let length = if chunked {
        // S3 requires the decoded length of every aws-chunked upload: 411
        // MissingContentLength without it, before any byte is read.
        Some(
            parse_length(headers, "x-amz-decoded-content-length")?.ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::MissingContentLength,
                    "You must provide the x-amz-decoded-content-length header with an aws-chunked body.",
                )
            })?,
        )
    } else {
        parse_length(headers, "content-length")?
    };
    if length.is_some_and(|l| l > limits.max_object_size) {
        return Err(S3Error::new(S3ErrorCode::EntityTooLarge));
    }

    let (checksum, trailer_tx) = match (&header_checksum, trailer_alg) {
        (Some((alg, _, b64)), _) => (
            ChecksumInput::Known(Checksum {
                algorithm: *alg,
                value_b64: b64.clone(),
                kind: s3gw_translator::ChecksumType::FullObject,
            }),
            None,
        ),
        (None, Some(_)) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (ChecksumInput::Trailer(rx), Some(tx))
        }
        (None, None) => (ChecksumInput::None, None),
    };

    let decoder = chunked.then(|| {
        Decoder::new(
            signing,
            trailers_allowed,
            trailer_signed,
            ChunkLimits {
                max_chunk_size: limits.max_chunk_size,
                min_chunk_size: limits.min_chunk_size,
                max_line: limits.max_chunk_header_bytes,
                max_trailer_bytes: limits.max_trailer_bytes,
            },
        )
    });
    let checksummer = header_checksum
        .as_ref()
        .map(|(alg, _, _)| *alg)
        .or(trailer_alg)
        .map(Checksummer::new);
    let state = Verifier {
        raw,
        decoder,
        sha256: match mode {
            PayloadMode::Sha256(h) => Some((Sha256::new(), h)),
            _ => None,
        },
        md5: content_md5.map(|m| (Md5::new(), m)),
        checksummer,
        header_checksum: header_checksum.map(|(_, raw, _)| raw),
        trailer_alg,
        trailer_tx,
        declared_length: length,
        max_object_size: limits.max_object_size,
        seen: 0,
        ready: VecDeque::new(),
        phase: Phase::Reading,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        let item = s.next_item().await?;
        Some((item, s))
    });
    Ok(Body {
        stream: Box::pin(stream),
        length,
        content_md5,
        checksum,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// Everything verified: drain `ready`, then end.
    Verified,
    /// An error was yielded: end.
    Failed,
}

/// The verifying stream's state.
struct Verifier {
    raw: ByteStream,
    decoder: Option<Decoder>,
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Option<(Md5, [u8; 16])>,
    checksummer: Option<Checksummer>,
    header_checksum: Option<Vec<u8>>,
    trailer_alg: Option<ChecksumAlgorithm>,
    trailer_tx: Option<tokio::sync::oneshot::Sender<Checksum>>,
    declared_length: Option<u64>,
    max_object_size: u64,
    /// Decoded bytes seen so far.
    seen: u64,
    /// Verified data not yet yielded; the last piece stays here until the
    /// whole body verified (the hold-back).
    ready: VecDeque<Bytes>,
    phase: Phase,
}

fn boxed(e: S3Error) -> BodyError {
    Box::new(e)
}

impl Verifier {
    async fn next_item(&mut self) -> Option<Result<Bytes, BodyError>> {
        loop {
            match self.phase {
                Phase::Verified => return self.ready.pop_front().map(Ok),
                Phase::Failed => return None,
                Phase::Reading => {}
            }
            if self.ready.len() > 1 {
                return self.ready.pop_front().map(Ok);
            }
            let step = match self.raw.next().await {
                Some(Ok(bytes)) => self.feed(bytes),
                // A transport error (client gone, payload limit): pass it on.
                Some(Err(e)) => {
                    self.fail();
                    return Some(Err(e));
                }
                None => self.finish(),
            };
            if let Err(e) = step {
                tracing::debug!(error = %e, "request body failed verification");
                self.fail();
                return Some(Err(boxed(e)));
            }
        }
    }

    fn fail(&mut self) {
        self.phase = Phase::Failed;
        self.ready.clear();
        self.decoder = None;
    }

    fn feed(&mut self, bytes: Bytes) -> Result<(), S3Error> {
        let mut released = Vec::new();
        match &mut self.decoder {
            Some(d) => d.feed(bytes, &mut |piece| released.push(piece))?,
            None => released.push(bytes),
        }
        for piece in released {
            self.data(piece)?;
        }
        Ok(())
    }

    /// Decoded, signature-verified data: digest it and queue it.
    fn data(&mut self, piece: Bytes) -> Result<(), S3Error> {
        if piece.is_empty() {
            return Ok(());
        }
        self.seen += piece.len() as u64;
        if self.seen > self.max_object_size {
            return Err(S3Error::new(S3ErrorCode::EntityTooLarge));
        }
        if self.declared_length.is_some_and(|l| self.seen > l) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "The body is longer than its declared length.",
            ));
        }
        if let Some((h, _)) = &mut self.sha256 {
            h.update(&piece);
        }
        if let Some((h, _)) = &mut self.md5 {
            h.update(&piece);
        }
        if let Some(c) = &mut self.checksummer {
            c.update(&piece);
        }
        self.ready.push_back(piece);
        Ok(())
    }

    /// End of the raw body: every remaining check, in S3's order.
    fn finish(&mut self) -> Result<(), S3Error> {
        let trailers = match self.decoder.take() {
            Some(d) => d.finish()?,
            None => Vec::new(),
        };
        if self.declared_length.is_some_and(|l| self.seen != l) {
            return Err(S3Error::new(S3ErrorCode::IncompleteBody));
        }
        if let Some((h, expected)) = self.sha256.take() {
            let got: [u8; 32] = h.finalize().into();
            if !bool::from(got.ct_eq(&expected)) {
                return Err(S3Error::new(S3ErrorCode::XAmzContentSHA256Mismatch)
                    .extra("ClientComputedContentSHA256", hex::encode(expected))
                    .extra("S3ComputedContentSHA256", hex::encode(got)));
            }
        }
        if let Some((h, expected)) = self.md5.take() {
            let got: [u8; 16] = h.finalize().into();
            if !bool::from(got.ct_eq(&expected)) {
                return Err(S3Error::new(S3ErrorCode::BadDigest));
            }
        }
        if let Some(c) = self.checksummer.take() {
            let alg = c.algorithm();
            let got = c.finish();
            let expected = match (&self.header_checksum, self.trailer_alg) {
                (Some(h), _) => h.clone(),
                (None, Some(alg)) => {
                    let name = digest::header_name(alg);
                    let value = trailers
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.as_str())
                        .ok_or_else(|| {
                            S3Error::with_message(
                                S3ErrorCode::InvalidRequest,
                                format!("The body ended without the {name} trailer it declared."),
                            )
                        })?;
                    digest::decode_value(alg, value).ok_or_else(|| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidArgument,
                            format!("Value for {name} trailing header is invalid."),
                        )
                    })?
                }
                (None, None) => unreachable!("a checksummer exists only for a header or a trailer"),
            };
            // A checksum trailer of another algorithm than the one
            // declared: refused (S3 takes exactly one, the declared one),
            // never stored unchecked beside it.
            if let Some((name, _)) = trailers
                .iter()
                .find(|(n, _)| n.starts_with("x-amz-checksum-") && *n != digest::header_name(alg))
            {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "The trailer {name} is not the declared {}.",
                        digest::header_name(alg)
                    ),
                ));
            }
            if !bool::from(got.ct_eq(&expected)) {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        digest::header_name(alg)
                    ),
                ));
            }
            if let Some(tx) = self.trailer_tx.take() {
                // The receiver may be gone (backend does not keep checksums).
                let _ = tx.send(Checksum {
                    algorithm: alg,
                    value_b64: base64::engine::general_purpose::STANDARD.encode(&got),
                    kind: s3gw_translator::ChecksumType::FullObject,
                });
            }
        } else if let Some((name, _)) = trailers
            .iter()
            .find(|(n, _)| n.starts_with("x-amz-checksum-"))
        {
            // A checksum trailer nobody declared cannot have been computed.
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("The trailer {name} was not declared in x-amz-trailer."),
            ));
        }
        self.phase = Phase::Verified;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
