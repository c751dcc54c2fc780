//! The aws-chunked decoder: an incremental state machine that takes the
//! body in whatever pieces the network delivers and releases decoded data,
//! never framing.
//!
//! Wire format ("Signature Calculation: Transfer Payload in Multiple
//! Chunks"): `hex(size)[;chunk-signature=<64 hex>]\r\n<size bytes>\r\n`,
//! repeated, ending with a zero-size chunk; then, in the trailer modes,
//! `name:value\r\n` trailer lines (`x-amz-checksum-*`, and
//! `x-amz-trailer-signature` when signed) and a final `\r\n`.
//!
//! Clients disagree on the blank lines around the trailer (the AWS
//! examples send `0;chunk-signature=..\r\n\r\n<trailers>`, the SDKs
//! `0;chunk-signature=..\r\n<trailers>\r\n\r\n`, unsigned SDK bodies
//! `0\r\n<trailers>\r\n\r\n`), so after the last chunk blank lines are
//! skipped and the section ends at end of body.
//!
//! Every state keeps its partial input (a header line, the bytes of a
//! chunk) across calls, so the result does not depend on where the input
//! was split. Signed chunk data is held (as `Bytes` slices, not copied)
//! until its signature verified: nothing unverified leaves the decoder.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::auth::sigv4::{parse_hex32, ChunkSigning};
use crate::error::{S3Error, S3ErrorCode};

/// The decoder's limits, taken from [`super::BodyLimits`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkLimits {
    pub max_chunk_size: usize,
    pub min_chunk_size: usize,
    pub max_line: usize,
    pub max_trailer_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside a chunk's data.
    Data { remaining: u64 },
    /// Expecting the '\r' after a chunk's data.
    DataCr,
    /// Expecting the '\n' after a chunk's data.
    DataLf,
    /// After the final chunk: trailer lines until the end of the body.
    Trailer,
}

fn invalid(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg)
}

pub(crate) struct Decoder {
    state: State,
    line: Vec<u8>,
    limits: ChunkLimits,
    /// Present in the signed modes.
    signing: Option<ChunkSigning>,
    /// Trailer lines may follow the last chunk.
    trailers_allowed: bool,
    /// The trailer carries `x-amz-trailer-signature` (signed trailer mode).
    trailer_signed: bool,
    chunk_hash: Sha256,
    chunk_signature: [u8; 32],
    /// Data of the current signed chunk, held until it verifies.
    held: Vec<Bytes>,
    /// The previous data chunk was below the minimum size (only the last
    /// data chunk may be).
    previous_small: bool,
    trailers: Vec<(String, String)>,
    trailer_bytes: usize,
}

impl Decoder {
    pub(crate) fn new(
        signing: Option<ChunkSigning>,
        trailers_allowed: bool,
        trailer_signed: bool,
        limits: ChunkLimits,
    ) -> Self {
        Decoder {
            state: State::Header,
            line: Vec::new(),
            limits,
            signing,
            trailers_allowed,
            trailer_signed,
            chunk_hash: Sha256::new(),
            chunk_signature: [0; 32],
            held: Vec::new(),
            previous_small: false,
            trailers: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Feeds one piece of the encoded body; `out` receives decoded data that
    /// is verified as far as the chunk signatures go.
    pub(crate) fn feed(
        &mut self,
        mut input: Bytes,
        out: &mut impl FnMut(Bytes),
    ) -> Result<(), S3Error> {
        while !input.is_empty() {
            match self.state {
                State::Header | State::Trailer => {
                    let limit = if self.state == State::Header {
                        self.limits.max_line
                    } else {
                        self.limits.max_trailer_bytes
                    };
                    let Some(i) = input.iter().position(|b| *b == b'\n') else {
                        self.line.extend_from_slice(&input);
                        if self.line.len() > limit {
                            return Err(invalid("aws-chunked line too long"));
                        }
                        return Ok(());
                    };
                    self.line.extend_from_slice(&input[..i]);
                    let _ = input.split_to(i + 1);
                    if self.line.len() > limit {
                        return Err(invalid("aws-chunked line too long"));
                    }
                    let line = std::mem::take(&mut self.line);
                    if self.state == State::Header {
                        self.header_line(&line, out)?;
                    } else {
                        self.trailer_line(&line)?;
                    }
                }
                State::Data { remaining } => {
                    let n = remaining.min(input.len() as u64) as usize;
                    let piece = input.split_to(n);
                    let remaining = remaining - n as u64;
                    if self.signing.is_some() {
                        self.chunk_hash.update(&piece);
                        self.held.push(piece);
                    } else {
                        out(piece);
                    }
                    self.state = State::Data { remaining };
                    if remaining == 0 {
                        self.end_of_chunk_data(out)?;
                        self.state = State::DataCr;
                    }
                }
                State::DataCr => {
                    if input[0] != b'\r' {
                        return Err(invalid("aws-chunked data is not followed by CRLF"));
                    }
                    let _ = input.split_to(1);
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if input[0] != b'\n' {
                        return Err(invalid("aws-chunked data is not followed by CRLF"));
                    }
                    let _ = input.split_to(1);
                    self.state = State::Header;
                }
            }
        }
        Ok(())
    }

    /// `hex-size[;ext=value]*\r\n`
    fn header_line(&mut self, line: &[u8], out: &mut impl FnMut(Bytes)) -> Result<(), S3Error> {
        let line = line
            .strip_suffix(b"\r")
            .ok_or_else(|| invalid("aws-chunked header line does not end with CRLF"))?;
        let line =
            std::str::from_utf8(line).map_err(|_| invalid("malformed aws-chunked header"))?;
        let mut fields = line.split(';');
        let size = fields.next().unwrap_or("").trim();
        if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("malformed aws-chunked chunk size"));
        }
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| invalid("malformed aws-chunked chunk size"))?;
        let mut signature = None;
        for ext in fields {
            if let Some(v) = ext.trim().strip_prefix("chunk-signature=") {
                signature =
                    Some(parse_hex32(v).ok_or_else(|| invalid("malformed chunk-signature"))?);
            }
        }
        if size > self.limits.max_chunk_size as u64 {
            return Err(invalid(&format!(
                "aws-chunked chunk of {size} bytes exceeds the limit of {} bytes",
                self.limits.max_chunk_size
            )));
        }
        if self.signing.is_some() {
            self.chunk_signature =
                signature.ok_or_else(|| invalid("aws-chunked chunk without chunk-signature"))?;
            if size > 0 && self.previous_small {
                return Err(invalid(&format!(
                    "Only the last chunk is allowed to have a size less than {} bytes",
                    self.limits.min_chunk_size
                )));
            }
            self.previous_small = size < self.limits.min_chunk_size as u64;
        }
        if size == 0 {
            // The final chunk: its signature covers empty data.
            self.end_of_chunk_data(out)?;
            self.state = State::Trailer;
        } else {
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    /// A chunk's data is complete: verify its signature, then release it.
    fn end_of_chunk_data(&mut self, out: &mut impl FnMut(Bytes)) -> Result<(), S3Error> {
        let Some(signing) = &mut self.signing else {
            return Ok(());
        };
        let hash: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
        if !signing.verify_chunk(&hash, &self.chunk_signature) {
            self.held.clear();
            return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
        }
        for piece in self.held.drain(..) {
            out(piece);
        }
        Ok(())
    }

    fn trailer_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        // Every line after the final chunk counts against the trailer
        // limit, blank ones too (with their line end): otherwise a client
        // could send blank lines for ever after its last chunk.
        self.trailer_bytes += line.len() + 1;
        if self.trailer_bytes > self.limits.max_trailer_bytes {
            return Err(invalid("aws-chunked trailer too long"));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(());
        }
        if !self.trailers_allowed {
            return Err(invalid("unexpected data after the final aws-chunked chunk"));
        }
        let line =
            std::str::from_utf8(line).map_err(|_| invalid("malformed aws-chunked trailer"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("malformed aws-chunked trailer"))?;
        self.trailers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        Ok(())
    }

    /// The end of the body: the final chunk must have been seen, and a
    /// signed trailer must verify. Gives the trailers (without the
    /// signature).
    pub(crate) fn finish(mut self) -> Result<Vec<(String, String)>, S3Error> {
        if self.state != State::Trailer {
            return Err(S3Error::new(S3ErrorCode::IncompleteBody));
        }
        // A last trailer line without its CRLF.
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.trailer_line(&line)?;
        }
        let signature = self
            .trailers
            .iter()
            .position(|(n, _)| n == "x-amz-trailer-signature")
            .map(|i| self.trailers.remove(i).1);
        if self.trailer_signed && !self.trailers.is_empty() {
            let signing = self
                .signing
                .as_ref()
                .expect("signed trailers come with signing");
            let provided = signature.as_deref().and_then(parse_hex32).ok_or_else(|| {
                invalid("aws-chunked trailer without a valid x-amz-trailer-signature")
            })?;
            let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
            sorted.sort();
            let mut canonical = Vec::new();
            for (n, v) in sorted {
                canonical.extend_from_slice(n.as_bytes());
                canonical.push(b':');
                canonical.extend_from_slice(v.as_bytes());
                canonical.push(b'\n');
            }
            if !signing.verify_trailer(&canonical, &provided) {
                return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
            }
        }
        Ok(self.trailers)
    }
}
