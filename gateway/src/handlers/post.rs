//! PostObject: browser uploads (`multipart/form-data` with a signed policy
//! document, or anonymous into a public-read-write bucket).
//!
//! The form is parsed as it streams (multer): the fields before the `file`
//! part are read (at most [`post_policy::MAX_FORM_FIELDS_BYTES`]), the
//! signature and the policy are checked, then the file part streams into
//! the store as a PutObject body. That body holds back its last piece until
//! the file part ended inside the `content-length-range` and the rest of
//! the form parsed; any failure yields an error instead, so the native PUT
//! aborts and nothing is committed (the same mechanism as the verified
//! body of a PutObject, body/mod.rs). Fields after the file are ignored,
//! as in S3.

use multer::{Field, Multipart};

use super::*;
use crate::post_policy::{self, FormFields, FormSignature, Policy};

/// S3's largest POST upload: 5 GB.
const MAX_POST_OBJECT_SIZE: u64 = 5 << 30;

/// Form fields that become object headers: (field, PutObject header).
const OBJECT_FIELDS: [(&str, &str); 9] = [
    ("content-type", "content-type"),
    ("cache-control", "cache-control"),
    ("content-disposition", "content-disposition"),
    ("content-encoding", "content-encoding"),
    ("content-language", "content-language"),
    ("expires", "expires"),
    ("x-amz-storage-class", "x-amz-storage-class"),
    // The form's canned ACL field is `acl`.
    ("acl", "x-amz-acl"),
    ("x-amz-acl", "x-amz-acl"),
];

/// Form fields S3 knows that this endpoint does not serve for POST.
fn unsupported_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-amz-server-side-encryption")
        || n.starts_with("x-amz-checksum-")
        || n.starts_with("x-amz-object-lock-")
        || n == "x-amz-website-redirect-location"
        || n == "tagging"
        // Temporary credentials never authenticate here.
        || n == "x-amz-security-token"
}

fn malformed() -> S3Error {
    S3ErrorCode::MalformedPOSTRequest.into()
}

/// A multer failure: the transport's own error passes through (a client
/// gone, an idle body: RequestTimeout); anything else is a broken form.
fn form_error(e: multer::Error) -> BodyError {
    match e {
        multer::Error::StreamReadFailed(inner) => inner,
        other => {
            tracing::debug!(error = %other, "malformed POST form");
            Box::new(malformed())
        }
    }
}

fn form_s3_error(e: multer::Error) -> S3Error {
    backend_error(BackendError::Body(form_error(e)))
}

/// The whole value of a field before the file, at most `max` bytes.
async fn field_value(field: &mut Field<'static>, max: usize) -> Result<String, S3Error> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(form_s3_error)? {
        if out.len() + chunk.len() > max {
            return Err(S3ErrorCode::MaxPostPreDataLengthExceededError.into());
        }
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "POST form fields must be UTF-8 text.",
        )
    })
}

impl Handlers {
    pub(super) async fn post_object(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let content_type = header(&r.headers, "content-type").unwrap_or("");
        let boundary = content_type
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
            .then(|| multer::parse_boundary(content_type).ok())
            .flatten()
            .ok_or_else(|| {
                S3Error::new(S3ErrorCode::PreconditionFailed).extra(
                    "Condition",
                    "Bucket POST must be of the enclosure-type multipart/form-data",
                )
            })?;
        // The request body as the request promised it (its declared
        // length; with a header signature, its payload hash): a body that
        // fails verification fails the form before its last bytes.
        let raw = self.body(&mut r, self.limits().max_object_size)?.stream;
        let guard = FormGuard::default();
        let mut form = Multipart::new(guard.wrap(raw), boundary);

        // The fields before the file.
        let mut fields = FormFields::default();
        let file = loop {
            let Some(mut field) = form.next_field().await.map_err(form_s3_error)? else {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "POST requires exactly one file upload per request.",
                )
                .extra("ArgumentName", "file")
                .extra("ArgumentValue", "0"));
            };
            let name = field.name().ok_or_else(malformed)?.to_owned();
            if name.eq_ignore_ascii_case("file") {
                break field;
            }
            let value = field_value(&mut field, post_policy::MAX_FORM_FIELDS_BYTES).await?;
            fields.push(&name, value)?;
        };
        let filename = file.file_name().unwrap_or("").to_owned();
        let now = SystemTime::now();

        // Who uploads: the form's signature, else the request's, else an
        // anonymous writer of a public-read-write bucket.
        match FormSignature::parse(&fields, &self.config.auth)? {
            Some(sig) => {
                let keys = self
                    .keys
                    .as_ref()
                    .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
                let credential = crate::auth::lookup_key(keys, sig.access_key_id()).await?;
                sig.verify(
                    fields.get("policy").unwrap_or(""),
                    credential.secret.expose_bytes(),
                )?;
                crate::auth::check_subuser(&credential, &self.config.auth)?;
                r.cx.tenant = Tenant {
                    login: credential.account.login.clone(),
                    uuid: credential.account.uuid.clone(),
                };
            }
            None if r.auth.is_some() => {}
            None => r.cx.tenant = self.anonymous_writer(&r.cx, &bucket).await?,
        }

        // The key, with `${filename}`, then the policy over every field.
        let key = fields
            .get("key")
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Bucket POST must contain a field named 'key'.  If it is specified, please \
                     check the order of the fields.",
                )
                .extra("ArgumentName", "key")
                .extra("ArgumentValue", "")
            })?
            .replace("${filename}", &filename);
        fields.set("key", key.clone());
        let range = match fields.get("policy") {
            Some(p) => Policy::parse(p)?.check(&fields, bucket.as_str(), now)?,
            None => None,
        };
        let key = ObjectKey::parse(&key).map_err(|e| match e {
            ParseError::ReservedKey => S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Keys under this prefix are reserved by the gateway.",
            ),
            _ if key.is_empty() => S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "User key must have a length greater than 0.",
            ),
            _ if key.len() > s3gw_translator::MAX_KEY_BYTES => S3ErrorCode::KeyTooLongError.into(),
            _ => S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid object key"),
        })?;

        // Object headers from the form, read as PutObject reads them.
        let mut h = HeaderMap::new();
        for (name, value) in fields.iter() {
            let lower = name.to_ascii_lowercase();
            if unsupported_field(&lower) {
                return Err(not_implemented(&format!("PostObject field {lower}")));
            }
            let header_name = OBJECT_FIELDS
                .iter()
                .find(|(f, _)| *f == lower)
                .map(|(_, h)| *h)
                .or_else(|| lower.starts_with("x-amz-meta-").then_some(lower.as_str()));
            if let Some(header_name) = header_name {
                let n = actix_web::http::header::HeaderName::from_bytes(header_name.as_bytes());
                let v = actix_web::http::header::HeaderValue::from_bytes(value.as_bytes());
                let (Ok(n), Ok(v)) = (n, v) else {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        format!("POST form field {name} has an invalid value."),
                    ));
                };
                h.append(n, v);
            }
        }
        check_canned_acl(&h)?;
        let meta = object_meta(&h, self.limits())?;
        let answer = PostAnswer::from_fields(&fields);

        let (min, max) = range.unwrap_or((0, u64::MAX));
        let max = max.min(MAX_POST_OBJECT_SIZE.min(self.limits().max_object_size));
        guard.streaming_file();
        let stream = FileStream {
            guard,
            form: Some(form),
            file: Some(file),
            held: None,
            seen: 0,
            min,
            max,
            limited: range.is_some(),
        };
        let body = Body {
            stream: Box::pin(futures_util::stream::unfold(stream, |mut s| async move {
                let item = s.next_item().await?;
                Some((item, s))
            })),
            length: None,
            content_md5: None,
            checksum: ChecksumInput::None,
        };
        let out = self
            .backend
            .put_object(
                &r.cx,
                PutObjectInput {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    body,
                    meta,
                    condition: WriteCondition::None,
                },
            )
            .await
            .map_err(backend_error)?;
        let location = format!(
            "{}/{}/{}",
            r.origin,
            bucket,
            s3gw_translator::uri::path(key.as_str())
        );
        Ok(answer.respond(&bucket, &key, &out.etag.quoted(), &location))
    }

    /// The owner of a bucket an anonymous form may write to: one whose
    /// name is public (the registry) and whose ACL is public-read-write.
    async fn anonymous_writer(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> Result<Tenant, S3Error> {
        let owner = self
            .public_owner(&cx.request_id, bucket)
            .await?
            .ok_or_else(|| S3Error::new(S3ErrorCode::AccessDenied))?;
        let owner_cx = RequestContext {
            tenant: owner.clone(),
            request_id: cx.request_id.clone(),
        };
        let config = self
            .bucket_configs
            .get(&*self.backend, &owner_cx, bucket)
            .await
            .map_err(backend_error)?;
        if config.acl != Some(CannedAcl::PublicReadWrite) {
            return Err(S3ErrorCode::AccessDenied.into());
        }
        Ok(owner)
    }
}

/// How a successful upload is answered (`success_action_redirect`, else
/// `success_action_status`, else 204).
enum PostAnswer {
    Redirect(String),
    Status(u16),
}

impl PostAnswer {
    fn from_fields(fields: &FormFields) -> PostAnswer {
        // `redirect` is the older name of the same field.
        let redirect = fields
            .get("success_action_redirect")
            .or_else(|| fields.get("redirect"))
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
        if let Some(u) = redirect {
            return PostAnswer::Redirect(u.to_owned());
        }
        // Any other status value is ignored (204), as in S3.
        match fields.get("success_action_status") {
            Some("200") => PostAnswer::Status(200),
            Some("201") => PostAnswer::Status(201),
            _ => PostAnswer::Status(204),
        }
    }

    fn respond(
        self,
        bucket: &BucketName,
        key: &ObjectKey,
        etag: &str,
        location: &str,
    ) -> HttpResponse {
        let enc = |s: &str| s3gw_translator::uri::component(s).to_string();
        match self {
            PostAnswer::Redirect(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let to = format!(
                    "{url}{sep}bucket={}&key={}&etag={}",
                    enc(bucket.as_str()),
                    enc(key.as_str()),
                    enc(etag)
                );
                HttpResponse::SeeOther()
                    .insert_header(("Location", to))
                    .insert_header(("ETag", etag))
                    .finish()
            }
            PostAnswer::Status(201) => {
                let doc = PostResponse {
                    location: location.to_owned(),
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    etag: etag.to_owned(),
                };
                HttpResponse::Created()
                    .content_type("application/xml")
                    .insert_header(("ETag", etag))
                    .insert_header(("Location", location))
                    .body(xml::to_xml("PostResponse", &doc))
            }
            PostAnswer::Status(s) => {
                let status = StatusCode::from_u16(s).unwrap_or(StatusCode::NO_CONTENT);
                HttpResponse::build(status)
                    .insert_header(("ETag", etag))
                    .insert_header(("Location", location))
                    .finish()
            }
        }
    }
}

/// The 201 answer's document.
#[derive(Debug, serde::Serialize)]
struct PostResponse {
    #[serde(rename = "Location")]
    location: String,
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "ETag")]
    etag: String,
}

/// What the form parser may pull from the request outside the file part:
/// multer buffers a part's headers until their end without a bound, so the
/// raw stream itself fails (MaxPostPreDataLengthExceededError) once more
/// than [`FORM_SLACK`] bytes were pulled before the file part, or after it.
#[derive(Clone)]
struct FormGuard {
    pulled: Arc<std::sync::atomic::AtomicU64>,
    allowed: Arc<std::sync::atomic::AtomicU64>,
}

/// Raw form bytes allowed around the file part: the 20 KiB of fields, their
/// part headers and boundaries, and the network chunk the file starts in.
const FORM_SLACK: u64 = 1 << 20;

impl Default for FormGuard {
    fn default() -> Self {
        FormGuard {
            pulled: Arc::default(),
            allowed: Arc::new(FORM_SLACK.into()),
        }
    }
}

impl FormGuard {
    fn wrap(&self, raw: ByteStream) -> ByteStream {
        use std::sync::atomic::Ordering::Relaxed;
        let g = self.clone();
        Box::pin(raw.map(move |item| {
            let chunk = item?;
            let total = g.pulled.fetch_add(chunk.len() as u64, Relaxed) + chunk.len() as u64;
            if total > g.allowed.load(Relaxed) {
                return Err(
                    Box::new(S3Error::new(S3ErrorCode::MaxPostPreDataLengthExceededError))
                        as BodyError,
                );
            }
            Ok(chunk)
        }))
    }

    /// The file part streams: no bound but the object size.
    fn streaming_file(&self) {
        self.allowed
            .store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
    }

    /// The file part ended: what follows is bounded again.
    fn file_ended(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.pulled.load(Relaxed);
        self.allowed.store(now.saturating_add(FORM_SLACK), Relaxed);
    }
}

/// The file part as an object body: checked against the length range
/// while streaming, its last piece held back until the part ended inside
/// the range and the rest of the form parsed.
struct FileStream {
    guard: FormGuard,
    form: Option<Multipart<'static>>,
    file: Option<Field<'static>>,
    held: Option<Bytes>,
    seen: u64,
    min: u64,
    max: u64,
    /// A `content-length-range` condition applies (else `max` is only the
    /// size limit).
    limited: bool,
}

impl FileStream {
    fn fail(&mut self, e: BodyError) -> Option<Result<Bytes, BodyError>> {
        self.file = None;
        self.form = None;
        self.held = None;
        Some(Err(e))
    }

    async fn next_item(&mut self) -> Option<Result<Bytes, BodyError>> {
        loop {
            let field = match self.file.as_mut() {
                Some(f) => f,
                // Finished (or failed): release what is held, then end.
                None => return self.held.take().map(Ok),
            };
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    self.seen += chunk.len() as u64;
                    if self.seen > self.max {
                        let mut e = S3Error::with_message(
                            S3ErrorCode::EntityTooLarge,
                            "Your proposed upload exceeds the maximum allowed size",
                        );
                        e = e.extra("MaxSizeAllowed", self.max.to_string());
                        if !self.limited {
                            e.message = S3ErrorCode::EntityTooLarge.default_message().into();
                        }
                        return self.fail(Box::new(e));
                    }
                    if let Some(prev) = self.held.replace(chunk) {
                        return Some(Ok(prev));
                    }
                }
                Ok(None) => {
                    self.file = None;
                    self.guard.file_ended();
                    if self.seen < self.min {
                        let e = S3Error::with_message(
                            S3ErrorCode::EntityTooSmall,
                            "Your proposed upload is smaller than the minimum allowed size",
                        )
                        .extra("ProposedSize", self.seen.to_string())
                        .extra("MinSizeAllowed", self.min.to_string());
                        return self.fail(Box::new(e));
                    }
                    if let Err(e) = self.drain_rest().await {
                        return self.fail(e);
                    }
                    return self.held.take().map(Ok);
                }
                Err(e) => return self.fail(form_error(e)),
            }
        }
    }

    /// Reads (and ignores) the fields after the file, so a form cut short
    /// never commits. Bounded like the fields before the file.
    async fn drain_rest(&mut self) -> Result<(), BodyError> {
        let Some(form) = self.form.as_mut() else {
            return Ok(());
        };
        let mut budget = post_policy::MAX_FORM_FIELDS_BYTES;
        while let Some(mut f) = form.next_field().await.map_err(form_error)? {
            while let Some(c) = f.chunk().await.map_err(form_error)? {
                budget = budget.checked_sub(c.len()).ok_or_else(|| -> BodyError {
                    Box::new(S3Error::new(S3ErrorCode::MaxPostPreDataLengthExceededError))
                })?;
            }
        }
        self.form = None;
        Ok(())
    }
}
