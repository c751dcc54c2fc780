//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort,
//! ListParts.

use super::*;
use super::{list::max_param, object::checksum_headers};

impl Handlers {
    pub(super) async fn create_multipart_upload(&self, r: S3Request) -> HResult {
        let acl = check_canned_acl(&r.headers)?;
        let checksum_algorithm = match header(&r.headers, "x-amz-checksum-algorithm") {
            None => None,
            Some(a) => Some(ChecksumAlgorithm::parse(a).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Invalid x-amz-checksum-algorithm",
                )
            })?),
        };
        let checksum_type = match header(&r.headers, "x-amz-checksum-type") {
            None => None,
            Some(t) if t.eq_ignore_ascii_case("FULL_OBJECT") => Some(ChecksumType::FullObject),
            Some(t) if t.eq_ignore_ascii_case("COMPOSITE") => Some(ChecksumType::Composite),
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Invalid x-amz-checksum-type",
                ))
            }
        };
        // S3's combinations: SHA digests cannot be combined (COMPOSITE
        // only), CRC64NVME is FULL_OBJECT only, and a type needs an
        // algorithm.
        match (checksum_algorithm, checksum_type) {
            (None, Some(_)) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
                ))
            }
            (Some(a @ (ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256)), Some(ChecksumType::FullObject))
            | (Some(a @ ChecksumAlgorithm::Crc64Nvme), Some(ChecksumType::Composite)) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "The {} checksum type cannot be used with the {} checksum algorithm.",
                        header(&r.headers, "x-amz-checksum-type").unwrap_or_default().to_ascii_uppercase(),
                        a.as_str().to_ascii_lowercase()
                    ),
                ))
            }
            _ => {}
        }
        let input = CreateMultipartUploadInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            meta: object_meta(&r.headers, self.limits())?,
            checksum_algorithm,
            checksum_type,
        };
        // The upload's ACL rides in its metadata onto the completed object.
        self.share_object(&r.cx, &input.bucket, acl).await?;
        let out = self
            .backend
            .create_multipart_upload(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let doc = xml::InitiateMultipartUploadResult {
            xmlns: NS,
            bucket: bucket(&r)?.to_string(),
            key: key(&r)?.to_string(),
            upload_id: out.upload_id.to_string(),
        };
        let mut resp = HttpResponse::Ok();
        if let Some(a) = checksum_algorithm {
            resp.insert_header(("x-amz-checksum-algorithm", a.as_str()));
        }
        Ok(resp
            .content_type("application/xml")
            .body(xml::to_xml("InitiateMultipartUploadResult", &doc)))
    }

    pub(super) async fn upload_part(&self, mut r: S3Request) -> HResult {
        let part_number = part_number(&r.query)?;
        let upload_id = upload_id(&r.query)?;
        let body = self.body(&mut r, self.limits().max_part_size)?;
        let input = UploadPartInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            upload_id,
            part_number,
            body,
        };
        let out = self
            .backend
            .upload_part(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let mut resp = HttpResponse::Ok();
        resp.insert_header(("ETag", out.etag.quoted()));
        checksum_headers(&mut resp, out.checksum.as_ref());
        Ok(resp.finish())
    }

    pub(super) async fn upload_part_copy(&self, r: S3Request) -> HResult {
        let source_range = match header(&r.headers, "x-amz-copy-source-range") {
            None => None,
            Some(v) => match parse_range(v) {
                Some(ByteRange::FromTo(a, b)) => Some(ByteRange::FromTo(a, b)),
                _ => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                    ))
                }
            },
        };
        let input = UploadPartCopyInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            upload_id: upload_id(&r.query)?,
            part_number: part_number(&r.query)?,
            source: copy_source(&r.headers)?,
            source_range,
            source_conditions: read_conditions(&r.headers, "x-amz-copy-source-")?,
        };
        let out = self
            .backend
            .upload_part_copy(&r.cx, input)
            .await
            .map_err(|e| match e {
                // A source range outside the object: 400 here (S3 allows
                // 400 or 416 and clients expect InvalidRange).
                BackendError::InvalidRange { size } => S3Error::new(S3ErrorCode::InvalidRange)
                    .extra("ActualObjectSize", size.to_string())
                    .with_status(400),
                e => copy_error(e),
            })?;
        let doc = xml::CopyResult {
            xmlns: NS,
            etag: out.etag.quoted(),
            last_modified: xml::iso8601(out.last_modified),
        };
        Ok(xml_ok(xml::to_xml("CopyPartResult", &doc)))
    }

    /// Assembly of a large upload can take minutes. Like S3, answer 200 as
    /// soon as it takes longer than `complete_keepalive_after`, send a
    /// whitespace byte every interval so proxies and clients do not time out,
    /// then the result or an `<Error>` document (S3 API reference,
    /// CompleteMultipartUpload: "a 200 OK response can contain either a
    /// success or an error"; SDKs check the body).
    pub(super) async fn complete_multipart_upload(&self, mut r: S3Request) -> HResult {
        // An x-amz-checksum-* header here is the whole object's checksum
        // (checked against the one computed from the parts), not the
        // request document's: taken out before the body is verified.
        let mut object_checksum = None;
        for alg in body::digest::ALGORITHMS {
            let name = body::digest::header_name(alg);
            let Some(v) = r.headers.get(name.as_str()) else {
                continue;
            };
            let v = v.to_str().unwrap_or("").trim().to_owned();
            let base = s3gw_translator::checksum::without_parts_suffix(&v);
            if body::digest::decode_value(alg, base).is_none() || object_checksum.is_some() {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Value for {name} header is invalid."),
                ));
            }
            object_checksum = Some(Checksum {
                algorithm: alg,
                value_b64: v,
                kind: ChecksumType::FullObject,
            });
            r.headers.remove(name.as_str());
        }
        self.check_complete_checksum_type(&r).await?;
        let body = self.read_xml_body(&mut r).await?;
        let doc: xml::CompleteMultipartUpload = xml::parse(&body)?;
        if doc.parts.is_empty() {
            return Err(S3ErrorCode::MalformedXML.into());
        }
        let mut parts = Vec::with_capacity(doc.parts.len());
        for p in doc.parts {
            let part_number = p
                .part_number
                .trim()
                .parse::<u16>()
                .ok()
                .and_then(PartNumber::new)
                .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidPart))?;
            let checksum = [
                (ChecksumAlgorithm::Crc32, p.checksum_crc32),
                (ChecksumAlgorithm::Crc32c, p.checksum_crc32c),
                (ChecksumAlgorithm::Crc64Nvme, p.checksum_crc64nvme),
                (ChecksumAlgorithm::Sha1, p.checksum_sha1),
                (ChecksumAlgorithm::Sha256, p.checksum_sha256),
            ]
            .into_iter()
            .find_map(|(algorithm, v)| {
                v.map(|value_b64| Checksum {
                    algorithm,
                    value_b64,
                    kind: ChecksumType::Composite,
                })
            });
            parts.push(CompletedPart {
                part_number,
                etag: ETag::from_client(&p.etag),
                checksum,
            });
        }
        let (bucket, key) = (bucket(&r)?, key(&r)?);
        let resource = format!("/{bucket}/{key}");
        let input = CompleteMultipartUploadInput {
            bucket: bucket.clone(),
            key: key.clone(),
            upload_id: upload_id(&r.query)?,
            parts,
            condition: write_condition(&r.headers)?,
            checksum: object_checksum,
        };
        let location = format!(
            "{}/{}/{}",
            r.origin,
            bucket,
            percent_encoding::utf8_percent_encode(key.as_str(), KEY_IN_URL)
        );
        let render = move |out: CompleteMultipartUploadOutput| {
            let doc = xml::CompleteMultipartUploadResult {
                xmlns: NS,
                location,
                bucket: bucket.to_string(),
                key: key.to_string(),
                etag: out.etag.quoted(),
                checksum: xml::ChecksumFields::from(out.checksum.as_ref()),
                checksum_type: out
                    .checksum
                    .as_ref()
                    .map(|c| xml::checksum_type_name(c.kind)),
            };
            xml::body_xml("CompleteMultipartUploadResult", &doc)
        };

        let backend = self.backend.clone();
        let cx = r.cx.clone();
        let mut task =
            tokio::spawn(async move { backend.complete_multipart_upload(&cx, input).await });
        let after = self.config.server.complete_keepalive_after;
        if let Ok(joined) = tokio::time::timeout(after, &mut task).await {
            let out = joined
                .map_err(crate::error::task_failed)?
                .map_err(backend_error)?;
            let mut s = String::from(xml::declaration());
            s.push_str(&render(out));
            return Ok(xml_ok(s));
        }
        // Slow: stream whitespace until the result is known.
        let interval = self.config.server.complete_keepalive_interval;
        let request_id = r.cx.request_id.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            if tx
                .send(Ok(Bytes::from_static(xml::declaration().as_bytes())))
                .await
                .is_err()
            {
                return;
            }
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            let result = loop {
                tokio::select! {
                    joined = &mut task => break joined,
                    _ = tick.tick() => {
                        if tx.send(Ok(Bytes::from_static(b" "))).await.is_err() {
                            // Client gone; the assembly still finishes.
                            return;
                        }
                    }
                }
            };
            let text = match result {
                Ok(Ok(out)) => render(out),
                Ok(Err(e)) => xml::error_document(&backend_error(e), &resource, &request_id, false),
                Err(e) => {
                    tracing::warn!(error = %e, "complete task failed");
                    let e = S3Error::new(S3ErrorCode::InternalError);
                    xml::error_document(&e, &resource, &request_id, false)
                }
            };
            let _ = tx.send(Ok(Bytes::from(text))).await;
        });
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|i| (i, rx)) },
            );
        Ok(HttpResponse::Ok()
            .content_type("application/xml")
            .streaming(stream))
    }

    /// `x-amz-checksum-type` on Complete states the type the client
    /// expects the upload to have (S3: "verify that the checksum type that
    /// is received is the same checksum type that was specified during the
    /// CreateMultipartUpload request"): a different one is 400
    /// InvalidRequest, before the part list is read. Asked of the store
    /// only when the header is sent. An upload created without a checksum
    /// has no type to differ from.
    async fn check_complete_checksum_type(&self, r: &S3Request) -> Result<(), S3Error> {
        let Some(v) = header(&r.headers, "x-amz-checksum-type") else {
            return Ok(());
        };
        let asked = match v.trim() {
            t if t.eq_ignore_ascii_case("FULL_OBJECT") => ChecksumType::FullObject,
            t if t.eq_ignore_ascii_case("COMPOSITE") => ChecksumType::Composite,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Invalid x-amz-checksum-type",
                )
                .extra("ArgumentName", "x-amz-checksum-type"))
            }
        };
        let input = ListPartsInput {
            bucket: bucket(r)?,
            key: key(r)?,
            upload_id: upload_id(&r.query)?,
            part_number_marker: None,
            max_parts: 0,
        };
        let out = self
            .backend
            .list_parts(&r.cx, input)
            .await
            .map_err(backend_error)?;
        match upload_checksum_type(out.checksum_algorithm, out.checksum_type) {
            Some(t) if t != asked => Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                    xml::checksum_type_name(t)
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(super) async fn abort_multipart_upload(&self, r: S3Request) -> HResult {
        let (b, k, u) = (bucket(&r)?, key(&r)?, upload_id(&r.query)?);
        self.backend
            .abort_multipart_upload(&r.cx, &b, &k, &u)
            .await
            .map_err(backend_error)?;
        Ok(HttpResponse::NoContent().finish())
    }

    pub(super) async fn list_parts(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let marker = match q.get("part-number-marker").filter(|s| !s.is_empty()) {
            None => None,
            Some(m) => Some(m.parse::<u16>().map_err(|_| {
                S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid part-number-marker")
            })?),
        };
        let input = ListPartsInput {
            bucket: bucket(&r)?,
            key: key(&r)?,
            upload_id: upload_id(q)?,
            part_number_marker: marker,
            max_parts: max_param(q, "max-parts")?,
        };
        let max_parts = input.max_parts;
        let out = self
            .backend
            .list_parts(&r.cx, input)
            .await
            .map_err(backend_error)?;
        let doc = xml::ListPartsResult {
            xmlns: NS,
            bucket: bucket(&r)?.to_string(),
            key: key(&r)?.to_string(),
            upload_id: upload_id(q)?.to_string(),
            initiator: owner(&r),
            owner: owner(&r),
            storage_class: out.storage_class.as_str(),
            part_number_marker: marker.unwrap_or(0),
            next_part_number_marker: out.next_part_number_marker,
            max_parts,
            is_truncated: out.is_truncated,
            checksum_algorithm: out.checksum_algorithm.map(|a| a.as_str()),
            checksum_type: upload_checksum_type(out.checksum_algorithm, out.checksum_type)
                .map(xml::checksum_type_name),
            parts: out
                .parts
                .into_iter()
                .map(|p| xml::Part {
                    part_number: p.part_number.get(),
                    last_modified: xml::iso8601(p.last_modified),
                    etag: p.etag.quoted(),
                    size: p.size,
                    checksum: xml::ChecksumFields::from(p.checksum.as_ref()),
                })
                .collect(),
        };
        Ok(xml_ok(xml::to_xml("ListPartsResult", &doc)))
    }
}

/// An upload's checksum type: CRC64NVME is FULL_OBJECT only; the others
/// have the type given at creation, else S3's default, COMPOSITE (the
/// upload record keeps no difference between the two); none without an
/// algorithm.
fn upload_checksum_type(
    algorithm: Option<ChecksumAlgorithm>,
    given: Option<ChecksumType>,
) -> Option<ChecksumType> {
    match (algorithm, given) {
        (None, _) => None,
        (Some(ChecksumAlgorithm::Crc64Nvme), _) => Some(ChecksumType::FullObject),
        (Some(_), t) => Some(t.unwrap_or(ChecksumType::Composite)),
    }
}

pub(super) fn part_number(q: &Query) -> Result<PartNumber, S3Error> {
    PartNumber::parse(q.get("partNumber").unwrap_or("").trim()).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        )
        .extra("ArgumentName", "partNumber")
    })
}

pub(super) fn upload_id(q: &Query) -> Result<UploadId, S3Error> {
    UploadId::parse(q.get("uploadId").unwrap_or("")).map_err(|_| S3ErrorCode::NoSuchUpload.into())
}
