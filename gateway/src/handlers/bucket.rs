//! Service and bucket operations: ListBuckets, CreateBucket, HeadBucket,
//! DeleteBucket, GetBucketLocation. A bucket's location lives in its
//! configuration record (bucket_config.rs); without one the bucket is in
//! the default `[server] region`.

use super::*;

/// ListBuckets `max-buckets`: 1..=10000 (S3's range); the page size S3
/// applies when another pagination parameter is given without it.
const MAX_BUCKETS: usize = 10_000;

/// Bucket-region lookups in flight at once for one ListBuckets.
const REGION_LOOKUPS: usize = 16;

impl Handlers {
    pub(super) async fn list_buckets(&self, r: S3Request) -> HResult {
        let q = &r.query;
        let max = match q.get("max-buckets") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_BUCKETS).contains(n))
                    .ok_or_else(|| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidArgument,
                            "max-buckets must be an integer between 1 and 10000",
                        )
                        .extra("ArgumentName", "max-buckets")
                        .extra("ArgumentValue", v)
                    })?,
            ),
        };
        let token = q.get("continuation-token");
        let after = match token {
            Some(t) if !t.is_empty() => Some(list::decode_token(t)?),
            _ => None,
        };
        let prefix = q.get("prefix").map(str::to_owned);
        let want_region = q.get("bucket-region").filter(|s| !s.is_empty());
        // Unpaginated only when no pagination parameter was given at all.
        let paged = max.is_some() || token.is_some() || prefix.is_some() || want_region.is_some();
        let limit = max.unwrap_or(if paged { MAX_BUCKETS } else { usize::MAX });

        let out = self
            .backend
            .list_buckets(&r.cx)
            .await
            .map_err(backend_error)?;
        let mut candidates: Vec<BucketInfo> = out
            .buckets
            .into_iter()
            .filter(|b| prefix.as_deref().is_none_or(|p| b.name.starts_with(p)))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .collect();
        candidates.sort_by(|a, b| a.name.cmp(&b.name));

        // Each candidate with its region (read only when more than one
        // region is configured), in order, until the page is full.
        let cx = &r.cx;
        let mut regions = futures_util::stream::iter(candidates)
            .map(|b| async move {
                let region = self.region_of_listed(cx, &b.name).await?;
                Ok::<_, S3Error>((b, region))
            })
            .buffered(REGION_LOOKUPS);
        let mut page: Vec<(BucketInfo, String)> = Vec::new();
        let mut more = false;
        while let Some(item) = regions.next().await {
            let (b, region) = item?;
            if want_region.is_some_and(|w| w != region) {
                continue;
            }
            if page.len() == limit {
                more = true;
                break;
            }
            page.push((b, region));
        }
        let continuation_token = more
            .then(|| page.last().map(|(b, _)| list::encode_token(&b.name)))
            .flatten();
        let doc = xml::ListAllMyBucketsResult {
            xmlns: NS,
            owner: owner(&r),
            buckets: xml::Buckets {
                bucket: page
                    .into_iter()
                    .map(|(b, region)| xml::BucketEntry {
                        name: b.name,
                        creation_date: xml::iso8601(b.created),
                        bucket_region: region,
                    })
                    .collect(),
            },
            continuation_token,
            prefix,
        };
        Ok(xml_ok(xml::to_xml("ListAllMyBucketsResult", &doc)))
    }

    /// The region of a bucket named by a listing (a bucket deleted since
    /// is reported in the default region rather than failing the list).
    async fn region_of_listed(&self, cx: &RequestContext, name: &str) -> Result<String, S3Error> {
        if self.config.server.regions.is_empty() {
            return Ok(self.config.server.region.clone());
        }
        let Ok(bucket) = BucketName::parse(name) else {
            return Ok(self.config.server.region.clone());
        };
        match self.bucket_region(cx, &bucket).await {
            Err(e) if e.code == S3ErrorCode::NoSuchBucket => Ok(self.config.server.region.clone()),
            other => other,
        }
    }

    /// Where the bucket lives: its stored location, or the default region.
    /// With one configured region nothing else is possible, and nothing is
    /// read.
    pub(super) async fn bucket_region(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> Result<String, S3Error> {
        if self.config.server.regions.is_empty() {
            return Ok(self.config.server.region.clone());
        }
        let c = self
            .bucket_configs
            .get(self.backend.as_ref(), cx, bucket)
            .await
            .map_err(backend_error)?;
        Ok(c.location
            .unwrap_or_else(|| self.config.server.region.clone()))
    }

    /// S3's answer to a CreateBucket `LocationConstraint`: the region the
    /// bucket goes to, or why not.
    fn location_for(&self, constraint: Option<&str>) -> Result<String, S3Error> {
        let server = &self.config.server;
        let c = match constraint.map(str::trim) {
            None | Some("") => return Ok(server.region.clone()),
            Some(c) => c,
        };
        let well_formed = c.len() <= 63
            && c.split('-').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        // S3 refuses an explicit us-east-1 (the default needs no constraint).
        if !well_formed && c != "EU" || c == "us-east-1" {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidLocationConstraint,
                "The specified location-constraint is not valid",
            )
            .extra("LocationConstraint", c));
        }
        if c == server.region || server.regions.iter().any(|r| r == c) {
            return Ok(c.to_owned());
        }
        Err(S3Error::with_message(
            S3ErrorCode::IllegalLocationConstraintException,
            format!(
                "The {c} location constraint is incompatible for the region specific endpoint this request was sent to."
            ),
        ))
    }

    pub(super) async fn create_bucket(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let acl = check_canned_acl(&r.headers)?.filter(|a| *a != CannedAcl::Private);
        let body = self.read_xml_body(&mut r).await?;
        let constraint = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let c: xml::CreateBucketConfiguration = xml::parse(&body)?;
            c.location_constraint
        };
        let region = self.location_for(constraint.as_deref())?;
        let ok = || {
            HttpResponse::Ok()
                .insert_header(("Location", format!("/{bucket}")))
                .finish()
        };
        self.bucket_configs.forget(&r.cx, &bucket);
        match self.backend.create_bucket(&r.cx, &bucket).await {
            Ok(()) => {}
            // S3's legacy us-east-1 answer: creating a bucket you already
            // own there succeeds (and changes nothing).
            Err(BackendError::BucketAlreadyOwnedByYou) if region == "us-east-1" => return Ok(ok()),
            Err(e) => return Err(backend_error(e)),
        }
        if region != self.config.server.region || acl.is_some() {
            let exposed = match acl {
                Some(a) if super::acl::shares(a) => {
                    self.expose(&r.cx, &bucket, super::access::Exposure::Acl, true)
                        .await
                }
                _ => Ok(()),
            };
            let stored = match exposed {
                Ok(()) => self
                    .bucket_configs
                    .update(self.backend.as_ref(), &r.cx, &bucket, |c| {
                        if region != self.config.server.region {
                            c.location = Some(region.clone());
                        }
                        c.acl = acl;
                    })
                    .await
                    .map_err(backend_error),
                Err(e) => Err(e),
            };
            if let Err(e) = stored {
                // Never leave a bucket behind in the wrong region, or
                // without the ACL asked for.
                let _ = self.backend.delete_bucket(&r.cx, &bucket).await;
                self.bucket_configs.forget(&r.cx, &bucket);
                return Err(e);
            }
        }
        Ok(ok())
    }

    pub(super) async fn head_bucket(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        let region = self.bucket_region(&r.cx, &bucket).await?;
        Ok(HttpResponse::Ok()
            .insert_header(("x-amz-bucket-region", region))
            .finish())
    }

    pub(super) async fn delete_bucket(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let res = self.backend.delete_bucket(&r.cx, &bucket).await;
        self.bucket_configs.forget(&r.cx, &bucket);
        res.map_err(backend_error)?;
        // A deleted bucket's name leaves the public registry (read from the
        // store, not the cache: one native read per DeleteBucket).
        if let Err(e) = self.unexpose_all(&r.cx, &bucket).await {
            tracing::warn!(error = %e, %bucket, "releasing a deleted bucket's public name");
        }
        Ok(HttpResponse::NoContent().finish())
    }

    pub(super) async fn get_bucket_location(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        self.backend
            .head_bucket(&r.cx, &bucket)
            .await
            .map_err(backend_error)?;
        // S3 reports us-east-1 as an empty constraint.
        let region = match self.bucket_region(&r.cx, &bucket).await? {
            r if r == "us-east-1" => String::new(),
            other => other,
        };
        let doc = xml::LocationConstraint { xmlns: NS, region };
        Ok(xml_ok(xml::to_xml("LocationConstraint", &doc)))
    }
}
