//! Body verification: aws-chunked at every split position, tampering,
//! limits, digests, and the hold-back.

use super::*;
use crate::auth::sigv4::{self, AmzDate, ChunkSigning};
use crate::auth::test_support::{headers, SECRET};

const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

/// The chain of the AWS chunked-upload example (seed 4f232c43...).
fn doc_signing(seed: &str) -> ChunkSigning {
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
    let date = AmzDate::parse("20130524T000000Z").unwrap();
    ChunkSigning::new(
        key,
        &date,
        SCOPE.to_owned(),
        &sigv4::parse_hex32(seed).unwrap(),
    )
}

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

/// Encodes `data` as a signed aws-chunked body the way the SDKs do.
fn encode_signed(
    data: &[u8],
    chunk: usize,
    mut signing: ChunkSigning,
    trailer: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = data.chunks(chunk).collect();
    pieces.push(&[]);
    for p in pieces {
        let hash: [u8; 32] = Sha256::digest(p).into();
        let sig = signing.sign_chunk(&hash);
        assert!(signing.verify_chunk(&hash, &sig));
        out.extend_from_slice(
            format!("{:x};chunk-signature={}\r\n", p.len(), hex::encode(sig)).as_bytes(),
        );
        out.extend_from_slice(p);
        if !p.is_empty() || trailer.is_none() {
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(t) = trailer {
        let canonical = format!("{t}\n");
        out.extend_from_slice(format!("{t}\r\n").as_bytes());
        let sig = sign_trailer(&signing, canonical.as_bytes());
        out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n\r\n").as_bytes());
    }
    out
}

fn sign_trailer(signing: &ChunkSigning, canonical: &[u8]) -> String {
    let key = sigv4::derive_signing_key(SECRET.as_bytes(), "20130524", "us-east-1", "s3");
    hex::encode(key.sign(&signing.trailer_string_to_sign(canonical)))
}

/// Encodes `data` as an unsigned aws-chunked body with a checksum trailer.
fn encode_unsigned(data: &[u8], chunk: usize, trailer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for p in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{trailer}\r\n\r\n").as_bytes());
    out
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn stream_of(pieces: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(
        pieces
            .into_iter()
            .map(|p| Ok::<_, BodyError>(Bytes::from(p))),
    ))
}

fn split_at(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts {
        out.push(body[last..c].to_vec());
        last = c;
    }
    out.push(body[last..].to_vec());
    out
}

/// Everything the stream yielded before it ended, and its error if any.
async fn drain(body: Body) -> (Vec<u8>, Option<S3Error>) {
    let mut s = body.stream;
    let mut data = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => data.extend_from_slice(&b),
            Err(e) => {
                let e = e
                    .downcast::<S3Error>()
                    .expect("an S3Error")
                    .as_ref()
                    .clone();
                assert!(s.next().await.is_none(), "nothing after an error");
                return (data, Some(e));
            }
        }
    }
    (data, None)
}

fn run(
    pieces: Vec<Vec<u8>>,
    mode: PayloadMode,
    h: &HeaderMap,
    limits: &BodyLimits,
) -> (Vec<u8>, Option<S3Error>) {
    let body =
        verified_body_with_mode(stream_of(pieces), mode, h, limits).expect("headers accepted");
    block_on(drain(body))
}

fn signed_mode(seed: &str, trailer: bool) -> PayloadMode {
    PayloadMode::StreamingSigned {
        signing: doc_signing(seed),
        trailer,
    }
}

fn doc_headers() -> HeaderMap {
    headers(&[
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
    ])
}

/// "Signature Calculation: Transfer Payload in Multiple Chunks": the body
/// our encoder makes carries exactly the documented chunk signatures, and
/// decodes to the 66560 bytes of 'a'.
#[test]
fn documented_chunked_body_decodes() {
    let data = vec![b'a'; 66560];
    let body = encode_signed(&data, 65536, doc_signing(SEED), None);
    let text = String::from_utf8_lossy(&body);
    for sig in [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ] {
        assert!(text.contains(sig), "{sig}");
    }
    assert_eq!(body.len(), 66824, "the documented Content-Length");
    let (out, err) = run(
        vec![body],
        signed_mode(SEED, false),
        &doc_headers(),
        &BodyLimits::default(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out, data);
}

/// "... Including Trailing Headers": the documented body, byte for byte
/// as the page frames it (`0;chunk-signature=..\r\n\r\n` then trailers).
#[test]
fn documented_trailer_body_decodes_and_resolves_the_checksum() {
    let data = vec![b'a'; 66560];
    let mut body = Vec::new();
    body.extend_from_slice(b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n");
    body.extend_from_slice(&data[..65536]);
    body.extend_from_slice(b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n");
    body.extend_from_slice(&data[65536..]);
    body.extend_from_slice(b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n\r\n");
    body.extend_from_slice(b"x-amz-checksum-crc32c:sOO8/Q==\r\n");
    body.extend_from_slice(b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n");
    let mut h = doc_headers();
    h.insert(
        actix_web::http::header::HeaderName::from_static("x-amz-trailer"),
        "x-amz-checksum-crc32c".parse().unwrap(),
    );
    let b = verified_body_with_mode(
        stream_of(vec![body.clone()]),
        signed_mode(TRAILER_SEED, true),
        &h,
        &BodyLimits::default(),
    )
    .unwrap();
    assert_eq!(b.length, Some(66560));
    let ChecksumInput::Trailer(rx) = b.checksum else {
        panic!("a trailer checksum")
    };
    let (out, err) = block_on(drain(Body {
        stream: b.stream,
        length: None,
        content_md5: None,
        checksum: ChecksumInput::None,
    }));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out, data);
    let c = block_on(rx).expect("resolved after the trailer verified");
    assert_eq!(
        (c.algorithm, c.value_b64.as_str()),
        (ChecksumAlgorithm::Crc32c, "sOO8/Q==")
    );

    // Tampered trailer value: the trailer signature fails.
    let tampered = String::from_utf8_lossy(&body)
        .replace("sOO8/Q==", "sOO8/A==")
        .into_bytes();
    let tampered: Vec<u8> = tampered.into_iter().collect();
    let (out, err) = run(
        vec![tampered],
        signed_mode(TRAILER_SEED, true),
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::SignatureDoesNotMatch);
    assert!(out.len() < data.len(), "the last piece was held back");
}

/// A small signed body with a trailer: every 2-way split, every 3-way
/// split, and random multi-splits decode to the same data.
#[test]
fn every_split_position_decodes_the_same() {
    let data: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let crc = checksum_of(ChecksumAlgorithm::Crc32, &data).value_b64;
    let trailer = format!("x-amz-checksum-crc32:{crc}");
    let body = encode_signed(&data, 100, doc_signing(SEED), Some(&trailer));
    let limits = BodyLimits {
        min_chunk_size: 1,
        ..BodyLimits::default()
    };
    let h = headers(&[
        ("x-amz-decoded-content-length", "300"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ]);
    let check = |cuts: &[usize]| {
        let (out, err) = run(split_at(&body, cuts), signed_mode(SEED, true), &h, &limits);
        assert!(err.is_none(), "cuts {cuts:?}: {err:?}");
        assert_eq!(out, data, "cuts {cuts:?}");
    };
    for i in 0..=body.len() {
        check(&[i]);
    }
    for i in (0..=body.len()).step_by(3) {
        for j in (i..=body.len()).step_by(5) {
            check(&[i, j]);
        }
    }
    // Random multi-splits (xorshift, fixed seed: reproducible).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..500 {
        let mut cuts = Vec::new();
        for _ in 0..(x % 12) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cuts.push((x % (body.len() as u64 + 1)) as usize);
        }
        cuts.sort_unstable();
        check(&cuts);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    // The unsigned SDK framing, every 2-way split.
    let body = encode_unsigned(&data, 64, &trailer);
    for i in 0..=body.len() {
        let (out, err) = run(
            split_at(&body, &[i]),
            PayloadMode::StreamingUnsignedTrailer,
            &h,
            &limits,
        );
        assert!(err.is_none(), "split {i}: {err:?}");
        assert_eq!(out, data);
    }
}

/// The documented 66 KiB body split at every offset of its framing and
/// every 97th offset of its data.
#[test]
fn documented_body_split_everywhere() {
    let data = vec![b'a'; 66560];
    let body = encode_signed(&data, 65536, doc_signing(SEED), None);
    let framing: Vec<usize> = (0..=body.len())
        .filter(|&i| {
            i < 100 || (65_600..65_800).contains(&i) || i > body.len() - 100 || i % 97 == 0
        })
        .collect();
    for i in framing {
        let (out, err) = run(
            split_at(&body, &[i]),
            signed_mode(SEED, false),
            &doc_headers(),
            &BodyLimits::default(),
        );
        assert!(err.is_none(), "split {i}: {err:?}");
        assert_eq!(out.len(), data.len());
    }
}

#[test]
fn tampered_chunk_is_refused_before_its_bytes_move_on() {
    let data = vec![b'a'; 66560];
    let mut body = encode_signed(&data, 65536, doc_signing(SEED), None);
    // Flip one byte inside the first chunk's data.
    body[1000] = b'b';
    let (out, err) = run(
        vec![body],
        signed_mode(SEED, false),
        &doc_headers(),
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::SignatureDoesNotMatch);
    assert!(out.is_empty(), "no byte of an unverified chunk is released");

    // A tampered second chunk: the first chunk may pass, never the second.
    let mut body = encode_signed(&data, 65536, doc_signing(SEED), None);
    let second = body.len() - 200;
    body[second] = b'b';
    let (out, err) = run(
        vec![body],
        signed_mode(SEED, false),
        &doc_headers(),
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::SignatureDoesNotMatch);
    assert!(out.len() <= 65536);
}

#[test]
fn oversize_and_undersize_chunks_are_invalid_requests() {
    let data = vec![b'a'; 66560];
    let body = encode_signed(&data, 65536, doc_signing(SEED), None);
    let small = BodyLimits {
        max_chunk_size: 1024,
        ..BodyLimits::default()
    };
    let (out, err) = run(vec![body], signed_mode(SEED, false), &doc_headers(), &small);
    assert_eq!(err.unwrap().code, S3ErrorCode::InvalidRequest);
    assert!(out.is_empty());

    // 1 KiB signed chunks before the last one: below S3's 8 KiB minimum.
    let body = encode_signed(&data[..4096], 1024, doc_signing(SEED), None);
    let h = headers(&[("x-amz-decoded-content-length", "4096")]);
    let (_, err) = run(
        vec![body],
        signed_mode(SEED, false),
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::InvalidRequest);
}

#[test]
fn early_eof_never_completes() {
    let data = vec![b'a'; 66560];
    let body = encode_signed(&data, 65536, doc_signing(SEED), None);
    for cut in [0, 10, 90, 5000, 65_700, body.len() - 90, body.len() - 3] {
        let (out, err) = run(
            vec![body[..cut].to_vec()],
            signed_mode(SEED, false),
            &doc_headers(),
            &BodyLimits::default(),
        );
        let e = err.unwrap_or_else(|| panic!("cut {cut} accepted"));
        assert!(
            matches!(
                e.code,
                S3ErrorCode::IncompleteBody | S3ErrorCode::InvalidRequest
            ),
            "cut {cut}: {e:?}"
        );
        assert!(out.len() < data.len(), "cut {cut}");
    }
    // Decoded length shorter than declared.
    let h = headers(&[("x-amz-decoded-content-length", "70000")]);
    let body = encode_signed(&data, 65536, doc_signing(SEED), None);
    let (_, err) = run(
        vec![body],
        signed_mode(SEED, false),
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::IncompleteBody);
}

#[test]
fn malformed_framing_is_invalid_request() {
    let h = headers(&[("x-amz-decoded-content-length", "3")]);
    for body in [
        &b"zz\r\nabc\r\n0\r\n\r\n"[..],
        b"3\r\nabcX\r\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\r\ngarbage-without-colon\r\n\r\n",
    ] {
        let (_, err) = run(
            vec![body.to_vec()],
            PayloadMode::StreamingUnsignedTrailer,
            &h,
            &BodyLimits::default(),
        );
        assert_eq!(
            err.unwrap().code,
            S3ErrorCode::InvalidRequest,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A signed chunk without its signature.
    let (_, err) = run(
        vec![b"3\r\nabc\r\n".to_vec()],
        signed_mode(SEED, false),
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::InvalidRequest);
}

#[test]
fn unsigned_trailer_checksum_verified() {
    let data = b"hello world".repeat(1000);
    let crc = checksum_of(ChecksumAlgorithm::Crc32, &data).value_b64;
    let h = headers(&[
        ("x-amz-decoded-content-length", &data.len().to_string()),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ]);
    let (out, err) = run(
        vec![encode_unsigned(
            &data,
            4096,
            &format!("x-amz-checksum-crc32:{crc}"),
        )],
        PayloadMode::StreamingUnsignedTrailer,
        &h,
        &BodyLimits::default(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out, data);
    let (out, err) = run(
        vec![encode_unsigned(
            &data,
            4096,
            "x-amz-checksum-crc32:AAAAAA==",
        )],
        PayloadMode::StreamingUnsignedTrailer,
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::BadDigest);
    assert!(out.len() < data.len());
    // Declared but missing.
    let mut body = encode_unsigned(&data, 4096, "");
    body.truncate(body.len() - 2);
    let (_, err) = run(
        vec![body],
        PayloadMode::StreamingUnsignedTrailer,
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::InvalidRequest);
}

/// The hold-back: a body whose SHA-256 does not match yields every piece
/// but the last, then the error; never all bytes.
#[test]
fn hold_back_last_piece_until_verified() {
    let pieces: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; 1000]).collect();
    let all: Vec<u8> = pieces.concat();
    let good: [u8; 32] = Sha256::digest(&all).into();
    let h = headers(&[("content-length", "5000")]);
    let (out, err) = run(
        pieces.clone(),
        PayloadMode::Sha256(good),
        &h,
        &BodyLimits::default(),
    );
    assert!(err.is_none());
    assert_eq!(out, all);

    let bad: [u8; 32] = Sha256::digest(b"other").into();
    let (out, err) = run(
        pieces.clone(),
        PayloadMode::Sha256(bad),
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::XAmzContentSHA256Mismatch);
    assert_eq!(out, all[..4000], "all but the held-back last piece");

    // Step by step: the 5th piece is not released before the end.
    let body = verified_body_with_mode(
        stream_of(pieces),
        PayloadMode::Sha256(bad),
        &h,
        &BodyLimits::default(),
    )
    .unwrap();
    let mut s = body.stream;
    block_on(async {
        for _ in 0..4 {
            assert!(s.next().await.unwrap().is_ok());
        }
        assert!(s.next().await.unwrap().is_err());
        assert!(s.next().await.is_none());
    });
}

#[test]
fn content_md5_and_checksum_headers() {
    use base64::Engine;
    let data = b"The quick brown fox".to_vec();
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
    let h = headers(&[("content-md5", &md5)]);
    let body = verified_body_with_mode(
        stream_of(vec![data.clone()]),
        PayloadMode::Unsigned,
        &h,
        &BodyLimits::default(),
    )
    .unwrap();
    assert_eq!(body.content_md5, Some(<[u8; 16]>::from(Md5::digest(&data))));
    let (out, err) = block_on(drain(body));
    assert!(err.is_none());
    assert_eq!(out, data);

    let h = headers(&[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")]);
    let (_, err) = run(
        vec![data.clone()],
        PayloadMode::Unsigned,
        &h,
        &BodyLimits::default(),
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::BadDigest);

    let h = headers(&[("content-md5", "not-md5")]);
    let e = verified_body_with_mode(
        stream_of(vec![]),
        PayloadMode::Unsigned,
        &h,
        &BodyLimits::default(),
    )
    .err()
    .unwrap();
    assert_eq!(e.code, S3ErrorCode::InvalidDigest);

    for alg in digest::ALGORITHMS {
        let good = checksum_of(alg, &data).value_b64;
        let h = headers(&[(&digest::header_name(alg), &good)]);
        let body = verified_body_with_mode(
            stream_of(vec![data.clone()]),
            PayloadMode::Unsigned,
            &h,
            &BodyLimits::default(),
        )
        .unwrap();
        assert!(matches!(&body.checksum, ChecksumInput::Known(c) if c.value_b64 == good));
        assert!(block_on(drain(body)).1.is_none(), "{alg:?}");

        let wrong = checksum_of(alg, b"x").value_b64;
        let h = headers(&[(&digest::header_name(alg), &wrong)]);
        let (_, err) = run(
            vec![data.clone()],
            PayloadMode::Unsigned,
            &h,
            &BodyLimits::default(),
        );
        assert_eq!(err.unwrap().code, S3ErrorCode::BadDigest, "{alg:?}");
    }
    let h = headers(&[("x-amz-checksum-crc32", "AAAA")]);
    let e = verified_body_with_mode(
        stream_of(vec![]),
        PayloadMode::Unsigned,
        &h,
        &BodyLimits::default(),
    )
    .err()
    .unwrap();
    assert_eq!(e.code, S3ErrorCode::InvalidArgument);
    let h = headers(&[
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-checksum-crc32c", "AAAAAA=="),
    ]);
    let e = verified_body_with_mode(
        stream_of(vec![]),
        PayloadMode::Unsigned,
        &h,
        &BodyLimits::default(),
    )
    .err()
    .unwrap();
    assert_eq!(e.code, S3ErrorCode::InvalidRequest);
}

#[test]
fn empty_body_with_a_bad_digest_fails_at_once() {
    let bad: [u8; 32] = Sha256::digest(b"x").into();
    let (out, err) = run(
        vec![],
        PayloadMode::Sha256(bad),
        &headers(&[]),
        &BodyLimits::default(),
    );
    assert!(out.is_empty());
    assert_eq!(err.unwrap().code, S3ErrorCode::XAmzContentSHA256Mismatch);
}

#[test]
fn too_large_declared_object_is_refused_up_front() {
    let h = headers(&[("content-length", "6000")]);
    let limits = BodyLimits {
        max_object_size: 5000,
        ..BodyLimits::default()
    };
    let e = verified_body_with_mode(stream_of(vec![]), PayloadMode::Unsigned, &h, &limits)
        .err()
        .unwrap();
    assert_eq!(e.code, S3ErrorCode::EntityTooLarge);
}

#[test]
fn aws_chunked_is_removed_from_the_stored_content_encoding() {
    assert_eq!(
        decode_content_encoding(&headers(&[("content-encoding", "aws-chunked")])),
        None
    );
    assert_eq!(
        decode_content_encoding(&headers(&[("content-encoding", "aws-chunked, gzip")])),
        Some("gzip".into())
    );
    assert_eq!(
        decode_content_encoding(&headers(&[
            ("content-encoding", "gzip"),
            ("content-encoding", "AWS-CHUNKED")
        ])),
        Some("gzip".into())
    );
    assert_eq!(decode_content_encoding(&headers(&[])), None);
}

/// Throughput of the verifying stream (run by hand:
/// `cargo test -p s3gw --release --lib -- --ignored --nocapture throughput`).
#[test]
#[ignore]
fn throughput() {
    let data = vec![0x5a_u8; 64 << 20];
    let pieces = || {
        data.chunks(64 << 10)
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    let time = |name: &str, pieces: Vec<Vec<u8>>, mode: PayloadMode, h: &HeaderMap| {
        let start = std::time::Instant::now();
        let (out, err) = run(pieces, mode, h, &BodyLimits::default());
        assert!(err.is_none(), "{err:?}");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name}: {:.0} MiB/s",
            out.len() as f64 / secs / (1 << 20) as f64
        );
    };
    let h = headers(&[]);
    time("passthrough", pieces(), PayloadMode::Unsigned, &h);
    let sha: [u8; 32] = Sha256::digest(&data).into();
    time("sha256", pieces(), PayloadMode::Sha256(sha), &h);
    let body = encode_signed(&data, 64 << 10, doc_signing(SEED), None);
    let enc: Vec<Vec<u8>> = body.chunks(64 << 10).map(<[u8]>::to_vec).collect();
    time("aws-chunked signed", enc, signed_mode(SEED, false), &h);
    let crc = checksum_of(ChecksumAlgorithm::Crc32, &data).value_b64;
    let body = encode_unsigned(&data, 64 << 10, &format!("x-amz-checksum-crc32:{crc}"));
    let enc: Vec<Vec<u8>> = body.chunks(64 << 10).map(<[u8]>::to_vec).collect();
    let h = headers(&[("x-amz-trailer", "x-amz-checksum-crc32")]);
    time(
        "aws-chunked unsigned + crc32 trailer",
        enc,
        PayloadMode::StreamingUnsignedTrailer,
        &h,
    );
}

/// S3 requires `x-amz-decoded-content-length` with every aws-chunked body:
/// 411 MissingContentLength before a byte is read, in every streaming mode.
#[test]
fn streaming_without_decoded_length_is_missing_content_length() {
    for mode in [
        PayloadMode::StreamingUnsignedTrailer,
        signed_mode(SEED, false),
        signed_mode(SEED, true),
    ] {
        let e = verified_body_with_mode(
            stream_of(vec![b"0\r\n\r\n".to_vec()]),
            mode,
            &headers(&[]),
            &BodyLimits::default(),
        )
        .err()
        .expect("refused");
        assert_eq!(e.code, S3ErrorCode::MissingContentLength);
        assert_eq!(e.status(), 411);
    }
}

/// Blank lines after the final chunk count against the trailer limit: a
/// client cannot keep a body open by sending them for ever.
#[test]
fn blank_lines_after_the_final_chunk_are_bounded() {
    let h = headers(&[("x-amz-decoded-content-length", "3")]);
    let limits = BodyLimits {
        max_trailer_bytes: 64,
        ..BodyLimits::default()
    };
    let mut body = b"3\r\nabc\r\n0\r\n".to_vec();
    body.extend(b"\r\n".repeat(100));
    let (_, err) = run(
        vec![body],
        PayloadMode::StreamingUnsignedTrailer,
        &h,
        &limits,
    );
    assert_eq!(err.unwrap().code, S3ErrorCode::InvalidRequest);
    // A few blank lines, as clients send, are fine.
    let mut body = b"3\r\nabc\r\n0\r\n".to_vec();
    body.extend(b"\r\n".repeat(3));
    let (out, err) = run(
        vec![body],
        PayloadMode::StreamingUnsignedTrailer,
        &h,
        &limits,
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out, b"abc");
}
