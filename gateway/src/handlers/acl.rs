//! Canned ACLs: GetBucketAcl / PutBucketAcl / GetObjectAcl / PutObjectAcl
//! and GetBucketPolicyStatus. A bucket's ACL lives in its configuration
//! record, an object's in its native metadata; an ACL granting access
//! beyond the owner puts the bucket name in the public registry
//! (access.rs), so requests from outside the account can find it.

use serde::{Deserialize, Serialize};

use super::access::Exposure;
use super::*;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The canned ACL of a request (`x-amz-acl`; `None` when absent). Grants
/// to other ids (`x-amz-grant-*`) are not served (501 naming them); an
/// unknown value is InvalidArgument, as S3 answers.
pub(super) fn canned_acl(h: &HeaderMap) -> Result<Option<CannedAcl>, S3Error> {
    if let Some(g) = h
        .keys()
        .map(|k| k.as_str())
        .find(|k| k.starts_with("x-amz-grant-"))
    {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            format!(
                "{g}: explicit grants are not implemented by this endpoint; only the canned \
                 ACLs (x-amz-acl) are."
            ),
        ));
    }
    let Some(v) = h.get("x-amz-acl") else {
        return Ok(None);
    };
    let v = v.to_str().map(str::trim).unwrap_or("");
    CannedAcl::parse(v).map(Some).ok_or_else(|| {
        S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid canned ACL value")
            .extra("ArgumentName", "x-amz-acl")
            .extra("ArgumentValue", v)
    })
}

/// Whether a canned ACL grants anything to someone other than the owner
/// (then the bucket name must be reachable from outside the account).
pub(super) fn shares(acl: CannedAcl) -> bool {
    matches!(
        acl,
        CannedAcl::PublicRead | CannedAcl::PublicReadWrite | CannedAcl::AuthenticatedRead
    )
}

// ------------------------------------------------------------ documents

#[derive(Debug, Serialize)]
struct PolicyOut {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Owner")]
    owner: xml::Owner,
    #[serde(rename = "AccessControlList")]
    acl: GrantsOut,
}

#[derive(Debug, Serialize)]
struct GrantsOut {
    #[serde(rename = "Grant")]
    grant: Vec<GrantOut>,
}

#[derive(Debug, Serialize)]
struct GrantOut {
    #[serde(rename = "Grantee")]
    grantee: GranteeOut,
    #[serde(rename = "Permission")]
    permission: &'static str,
}

#[derive(Debug, Serialize)]
struct GranteeOut {
    #[serde(rename = "@xmlns:xsi")]
    xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    xsi_type: &'static str,
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "DisplayName", skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(rename = "URI", skip_serializing_if = "Option::is_none")]
    uri: Option<&'static str>,
}

/// The AccessControlPolicy a canned ACL means (AWS "Canned ACL"): the
/// owner's FULL_CONTROL, plus READ (and WRITE) for AllUsers or
/// AuthenticatedUsers. The bucket-owner-* ACLs grant the bucket owner,
/// who owns every object here: the owner's grant alone.
pub(super) fn acl_document(acl: CannedAcl, owner: &Tenant) -> String {
    let group = |uri: &'static str, permission: &'static str| GrantOut {
        grantee: GranteeOut {
            xmlns_xsi: XSI,
            xsi_type: "Group",
            id: None,
            display_name: None,
            uri: Some(uri),
        },
        permission,
    };
    let mut grant = vec![GrantOut {
        grantee: GranteeOut {
            xmlns_xsi: XSI,
            xsi_type: "CanonicalUser",
            id: Some(owner.uuid.clone()),
            display_name: Some(owner.login.clone()),
            uri: None,
        },
        permission: "FULL_CONTROL",
    }];
    match acl {
        CannedAcl::PublicRead => grant.push(group(ALL_USERS, "READ")),
        CannedAcl::PublicReadWrite => {
            grant.push(group(ALL_USERS, "READ"));
            grant.push(group(ALL_USERS, "WRITE"));
        }
        CannedAcl::AuthenticatedRead => grant.push(group(AUTHENTICATED_USERS, "READ")),
        CannedAcl::Private | CannedAcl::BucketOwnerRead | CannedAcl::BucketOwnerFullControl => {}
    }
    xml::to_xml(
        "AccessControlPolicy",
        &PolicyOut {
            xmlns: NS,
            owner: xml::Owner {
                id: owner.uuid.clone(),
                display_name: owner.login.clone(),
            },
            acl: GrantsOut { grant },
        },
    )
}

#[derive(Debug, Deserialize)]
struct PolicyIn {
    #[serde(rename = "AccessControlList")]
    acl: Option<GrantsIn>,
}

#[derive(Debug, Deserialize)]
struct GrantsIn {
    #[serde(rename = "Grant", default)]
    grant: Vec<GrantIn>,
}

#[derive(Debug, Deserialize)]
struct GrantIn {
    #[serde(rename = "Grantee")]
    grantee: Option<GranteeIn>,
    #[serde(rename = "Permission")]
    permission: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GranteeIn {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "URI")]
    uri: Option<String>,
    #[serde(rename = "EmailAddress")]
    email: Option<String>,
}

fn malformed_acl() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedACLError)
}

/// The canned ACL an AccessControlPolicy document expresses exactly, or
/// 501 naming what it asks beyond them (grants to other accounts, other
/// permissions or groups).
pub(super) fn acl_from_document(body: &[u8], owner: &Tenant) -> Result<CannedAcl, S3Error> {
    let doc: PolicyIn = xml::parse(body)?;
    let grants = doc.acl.ok_or_else(malformed_acl)?.grant;
    let unsupported = |what: String| {
        S3Error::with_message(
            S3ErrorCode::NotImplemented,
            format!(
                "AccessControlPolicy with {what} is not implemented by this endpoint: only \
                 documents that express one canned ACL (private, public-read, \
                 public-read-write, authenticated-read) are."
            ),
        )
    };
    let (mut own, mut all, mut auth) = (Vec::new(), Vec::new(), Vec::new());
    for g in grants {
        let (Some(who), Some(p)) = (g.grantee, g.permission) else {
            return Err(malformed_acl());
        };
        let p = match p.trim() {
            p @ ("FULL_CONTROL" | "READ" | "WRITE" | "READ_ACP" | "WRITE_ACP") => p.to_owned(),
            _ => return Err(malformed_acl()),
        };
        match (who.id, who.uri, who.email) {
            (Some(id), None, None) => {
                let id = id.trim();
                if id != owner.uuid && id != owner.login {
                    return Err(unsupported(format!("a grant to another account ({id})")));
                }
                own.push(p);
            }
            (None, Some(uri), None) => match uri.trim() {
                ALL_USERS => all.push(p),
                AUTHENTICATED_USERS => auth.push(p),
                other => return Err(unsupported(format!("a grant to the group {other}"))),
            },
            (None, None, Some(_)) => {
                return Err(unsupported("a grant by e-mail address".into()));
            }
            _ => return Err(malformed_acl()),
        }
    }
    let set = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let (own, all, auth) = (set(own), set(all), set(auth));
    if own != ["FULL_CONTROL"] {
        return Err(unsupported(format!(
            "owner permissions {own:?} (the owner keeps FULL_CONTROL)"
        )));
    }
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    match (strs(&all).as_slice(), strs(&auth).as_slice()) {
        ([], []) => Ok(CannedAcl::Private),
        (["READ"], []) => Ok(CannedAcl::PublicRead),
        (["READ", "WRITE"], []) => Ok(CannedAcl::PublicReadWrite),
        ([], ["READ"]) => Ok(CannedAcl::AuthenticatedRead),
        (a, b) => Err(unsupported(format!(
            "AllUsers {a:?} and AuthenticatedUsers {b:?} permissions"
        ))),
    }
}

fn object_input(bucket: BucketName, key: ObjectKey) -> GetObjectInput {
    GetObjectInput {
        bucket,
        key,
        range: None,
        part_number: None,
        conditions: ReadConditions::default(),
        checksum_mode: false,
    }
}

// ------------------------------------------------------------ handlers

impl Handlers {
    /// The bucket's canned ACL (private when never set). NoSuchBucket for
    /// a missing bucket.
    pub(super) async fn bucket_acl(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
    ) -> Result<CannedAcl, S3Error> {
        let c = self
            .bucket_configs
            .get(self.backend.as_ref(), cx, bucket)
            .await
            .map_err(backend_error)?;
        Ok(c.acl.unwrap_or_default())
    }

    /// Before an object is written with `acl`: an ACL sharing the object
    /// keeps the bucket name in the public registry (409 when another
    /// account holds the name).
    pub(super) async fn share_object(
        &self,
        cx: &RequestContext,
        bucket: &BucketName,
        acl: Option<CannedAcl>,
    ) -> Result<(), S3Error> {
        match acl {
            Some(a) if shares(a) => {
                // The signer's own bucket (NoSuchBucket otherwise: another
                // account's name is then refused by `foreign_fallback`).
                self.bucket_acl(cx, bucket).await?;
                self.expose(cx, bucket, Exposure::ObjectAcl, true).await
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn get_bucket_acl(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let acl = self.bucket_acl(&r.cx, &bucket).await?;
        Ok(xml_ok(acl_document(acl, &r.cx.tenant)))
    }

    pub(super) async fn get_object_acl(&self, r: S3Request) -> HResult {
        let out = self
            .backend
            .head_object(&r.cx, object_input(bucket(&r)?, key(&r)?))
            .await
            .map_err(backend_error)?;
        let acl = out.info.meta.acl.unwrap_or_default();
        Ok(xml_ok(acl_document(acl, &r.cx.tenant)))
    }

    /// PutBucketAcl / PutObjectAcl: a canned ACL from `x-amz-acl` or from
    /// an AccessControlPolicy document expressing one.
    pub(super) async fn put_acl(&self, mut r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let from_header = canned_acl(&r.headers)?;
        let body = self.read_xml_body(&mut r).await?;
        let has_body = !body.iter().all(u8::is_ascii_whitespace);
        let acl = match (from_header, has_body) {
            (Some(_), true) => return Err(S3ErrorCode::UnexpectedContent.into()),
            (Some(a), false) => a,
            (None, true) => acl_from_document(&body, &r.cx.tenant)?,
            (None, false) => {
                return Err(S3Error::new(S3ErrorCode::MissingSecurityHeader)
                    .extra("MissingHeaderName", "x-amz-acl"))
            }
        };
        let stored = (acl != CannedAcl::Private).then_some(acl);
        match &r.key {
            None => {
                // The bucket exists (NoSuchBucket otherwise) before its name
                // is registered.
                self.bucket_acl(&r.cx, &bucket).await?;
                if shares(acl) {
                    self.expose(&r.cx, &bucket, Exposure::Acl, true).await?;
                }
                self.bucket_configs
                    .update(self.backend.as_ref(), &r.cx, &bucket, |c| c.acl = stored)
                    .await
                    .map_err(backend_error)?;
                if !shares(acl) {
                    self.expose(&r.cx, &bucket, Exposure::Acl, false).await?;
                }
            }
            Some(k) => {
                self.share_object(&r.cx, &bucket, Some(acl)).await?;
                self.backend
                    .put_object_acl(&r.cx, &bucket, k, stored)
                    .await
                    .map_err(backend_error)?;
            }
        }
        Ok(HttpResponse::Ok().finish())
    }

    /// IsPublic: the bucket's ACL grants AllUsers or AuthenticatedUsers
    /// (what S3 counts as public).
    pub(super) async fn get_bucket_policy_status(&self, r: S3Request) -> HResult {
        let bucket = bucket(&r)?;
        let acl = self.bucket_acl(&r.cx, &bucket).await?;
        #[derive(Serialize)]
        struct PolicyStatus {
            #[serde(rename = "@xmlns")]
            xmlns: &'static str,
            #[serde(rename = "IsPublic")]
            is_public: bool,
        }
        let doc = PolicyStatus {
            xmlns: NS,
            is_public: shares(acl),
        };
        Ok(xml_ok(xml::to_xml("PolicyStatus", &doc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Tenant {
        Tenant {
            login: "alice".into(),
            uuid: "u-1".into(),
        }
    }

    #[test]
    fn every_canned_acl_round_trips_through_its_document() {
        for acl in CannedAcl::ALL {
            let doc = acl_document(acl, &alice());
            assert!(doc.contains("<Owner><ID>u-1</ID><DisplayName>alice</DisplayName></Owner>"));
            let back = acl_from_document(doc.as_bytes(), &alice()).unwrap();
            let expect = match acl {
                CannedAcl::BucketOwnerRead | CannedAcl::BucketOwnerFullControl => {
                    CannedAcl::Private
                }
                a => a,
            };
            assert_eq!(back, expect, "{doc}");
        }
        let doc = acl_document(CannedAcl::PublicReadWrite, &alice());
        assert!(doc.contains("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>WRITE</Permission>"), "{doc}");
    }

    #[test]
    fn documents_beyond_canned_acls_are_not_implemented() {
        let grant = |who: &str, p: &str| {
            format!("<Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"X\">{who}</Grantee><Permission>{p}</Permission></Grant>")
        };
        let doc = |grants: &[String]| {
            format!(
                "<AccessControlPolicy><Owner><ID>u-1</ID></Owner><AccessControlList>{}</AccessControlList></AccessControlPolicy>",
                grants.concat()
            )
        };
        let owner = grant("<ID>u-1</ID>", "FULL_CONTROL");
        let code = |d: String| acl_from_document(d.as_bytes(), &alice()).unwrap_err().code;
        assert_eq!(
            code(doc(&[owner.clone(), grant("<ID>u-2</ID>", "READ")])),
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            code(doc(&[
                owner.clone(),
                grant("<EmailAddress>a@b</EmailAddress>", "READ")
            ])),
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            code(doc(&[
                owner.clone(),
                grant(&format!("<URI>{ALL_USERS}</URI>"), "WRITE")
            ])),
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            code(doc(&[
                owner.clone(),
                grant(&format!("<URI>{ALL_USERS}</URI>"), "EAT")
            ])),
            S3ErrorCode::MalformedACLError
        );
        assert_eq!(
            code(doc(&[grant(&format!("<URI>{ALL_USERS}</URI>"), "READ")])),
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            acl_from_document(
                doc(&[
                    owner.clone(),
                    grant(&format!("<URI>{AUTHENTICATED_USERS}</URI>"), "READ")
                ])
                .as_bytes(),
                &alice()
            )
            .unwrap(),
            CannedAcl::AuthenticatedRead
        );
    }

    #[test]
    fn the_acl_header_is_parsed_and_grants_refused() {
        let h = |k: &str, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                actix_web::http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                actix_web::http::header::HeaderValue::from_str(v).unwrap(),
            );
            m
        };
        assert_eq!(
            canned_acl(&h("x-amz-acl", "public-read")).unwrap(),
            Some(CannedAcl::PublicRead)
        );
        assert_eq!(canned_acl(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            canned_acl(&h("x-amz-acl", "world")).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        let e = canned_acl(&h("x-amz-grant-read", "id=x")).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::NotImplemented);
        assert!(e.message.contains("x-amz-grant-read"));
    }
}
