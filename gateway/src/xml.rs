//! S3 XML: request documents parsed with quick-xml's serde support (with a
//! size limit), and every response document s3gw sends. Element names are
//! the AWS S3 API reference's, in the `2006-03-01` namespace. Escaping is
//! quick-xml's; nothing here builds XML by string concatenation of
//! untrusted values.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{S3Error, S3ErrorCode};

/// The S3 document namespace.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Serialises a response document with the XML declaration in front.
pub fn to_xml<T: Serialize>(root: &str, doc: &T) -> String {
    let mut out = String::from(DECL);
    out.push_str(&body_xml(root, doc));
    out
}

/// Serialises a document WITHOUT the declaration (the keep-alive path of
/// CompleteMultipartUpload has already sent it).
pub fn body_xml<T: Serialize>(root: &str, doc: &T) -> String {
    // Serialising plain structs of strings and numbers cannot fail; a
    // failure would be a programming error in this module's types.
    quick_xml::se::to_string_with_root(root, doc).expect("S3 response documents serialise")
}

/// The XML declaration, alone (sent first by the keep-alive path).
pub fn declaration() -> &'static str {
    DECL
}

/// Parses a request document. `limit` is the configured XML body limit;
/// the caller has already refused longer bodies with
/// MaxMessageLengthExceeded, this only maps parse failures to MalformedXML.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, S3Error> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::new(S3ErrorCode::MalformedXML))?;
    // No request document has a DTD. quick-xml 0.38's deserializer panics
    // (`unreachable!`) on text split by a DOCTYPE (found by the fuzz
    // targets, gateway/src/fuzz.rs), and a DTD is how entity expansion
    // starts: refuse it before parsing.
    if text
        .as_bytes()
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"<!doctype"))
    {
        return Err(S3Error::new(S3ErrorCode::MalformedXML));
    }
    quick_xml::de::from_str(text).map_err(|e| {
        tracing::debug!(error = %e, "malformed request XML");
        S3Error::new(S3ErrorCode::MalformedXML)
    })
}

/// `2009-10-12T17:50:30.000Z`, the timestamp form of S3 XML documents.
pub fn iso8601(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// S3's `encoding-type=url` encoding of keys, prefixes, delimiters and
/// markers: unreserved characters and `/` kept, everything else (space
/// included, as `%20`, never `+`) `%XX` per UTF-8 byte. Every decoder
/// clients use (botocore's `unquote_plus`, Go's `QueryUnescape`, plain
/// percent-decoding in the Java and Rust SDKs) reads this back exactly; a
/// `+` for space would turn into a literal `+` in the last ones.
pub fn url_encode(s: &str) -> String {
    s3gw_translator::uri::path(s).to_string()
}

// ------------------------------------------------------------ request bodies

#[derive(Debug, Default, Deserialize)]
pub struct CreateBucketConfiguration {
    #[serde(rename = "LocationConstraint")]
    pub location_constraint: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

#[derive(Debug, Deserialize)]
pub struct CompletePart {
    #[serde(rename = "PartNumber")]
    pub part_number: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "ChecksumCRC32")]
    pub checksum_crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub checksum_crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME")]
    pub checksum_crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1")]
    pub checksum_sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256")]
    pub checksum_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Delete {
    #[serde(rename = "Quiet")]
    pub quiet: Option<bool>,
    #[serde(rename = "Object", default)]
    pub objects: Vec<DeleteObject>,
}

#[derive(Debug, Deserialize)]
pub struct DeleteObject {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "VersionId")]
    pub version_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct VersioningConfigurationIn {
    #[serde(rename = "Status")]
    pub status: Option<String>,
}

// ------------------------------------------------------------ responses

#[derive(Debug, Serialize)]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "DisplayName")]
    pub display_name: String,
}

#[derive(Debug, Serialize)]
pub struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "Buckets")]
    pub buckets: Buckets,
    /// Only when more buckets remain (ListBuckets pagination).
    #[serde(rename = "ContinuationToken", skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Echoed when the request gave one.
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Buckets {
    #[serde(rename = "Bucket")]
    pub bucket: Vec<BucketEntry>,
}

#[derive(Debug, Serialize)]
pub struct BucketEntry {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "CreationDate")]
    pub creation_date: String,
    #[serde(rename = "BucketRegion")]
    pub bucket_region: String,
}

#[derive(Debug, Serialize)]
pub struct Contents {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "StorageClass")]
    pub storage_class: &'static str,
    #[serde(rename = "Owner", skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

#[derive(Debug, Serialize)]
pub struct CommonPrefix {
    #[serde(rename = "Prefix")]
    pub prefix: String,
}

/// ListObjects (v1) result.
#[derive(Debug, Serialize)]
pub struct ListBucketResultV1 {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(rename = "Marker")]
    pub marker: String,
    #[serde(rename = "NextMarker", skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(rename = "MaxKeys")]
    pub max_keys: u32,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Contents")]
    pub contents: Vec<Contents>,
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// ListObjectsV2 result.
#[derive(Debug, Serialize)]
pub struct ListBucketResultV2 {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(rename = "MaxKeys")]
    pub max_keys: u32,
    #[serde(rename = "KeyCount")]
    pub key_count: usize,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(rename = "ContinuationToken", skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(
        rename = "NextContinuationToken",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_continuation_token: Option<String>,
    #[serde(rename = "StartAfter", skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Contents")]
    pub contents: Vec<Contents>,
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Serialize)]
pub struct Version {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "VersionId")]
    pub version_id: &'static str,
    #[serde(rename = "IsLatest")]
    pub is_latest: bool,
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "StorageClass")]
    pub storage_class: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ListVersionsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(rename = "KeyMarker")]
    pub key_marker: String,
    #[serde(rename = "VersionIdMarker")]
    pub version_id_marker: String,
    #[serde(rename = "NextKeyMarker", skip_serializing_if = "Option::is_none")]
    pub next_key_marker: Option<String>,
    #[serde(
        rename = "NextVersionIdMarker",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_version_id_marker: Option<&'static str>,
    #[serde(rename = "MaxKeys")]
    pub max_keys: u32,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Version")]
    pub versions: Vec<Version>,
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Serialize)]
pub struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "UploadId")]
    pub upload_id: String,
}

/// The checksum elements some documents carry (one of them at most).
#[derive(Debug, Default, Serialize)]
pub struct ChecksumFields {
    #[serde(rename = "ChecksumCRC32", skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The wire name of a checksum type (`x-amz-checksum-type`, `ChecksumType`).
pub fn checksum_type_name(t: s3gw_translator::ChecksumType) -> &'static str {
    match t {
        s3gw_translator::ChecksumType::FullObject => "FULL_OBJECT",
        s3gw_translator::ChecksumType::Composite => "COMPOSITE",
    }
}

impl ChecksumFields {
    pub fn from(c: Option<&s3gw_translator::Checksum>) -> ChecksumFields {
        use s3gw_translator::ChecksumAlgorithm as A;
        let mut f = ChecksumFields::default();
        if let Some(c) = c {
            let v = Some(c.value_b64.clone());
            match c.algorithm {
                A::Crc32 => f.crc32 = v,
                A::Crc32c => f.crc32c = v,
                A::Crc64Nvme => f.crc64nvme = v,
                A::Sha1 => f.sha1 = v,
                A::Sha256 => f.sha256 = v,
            }
        }
        f
    }
}

#[derive(Debug, Serialize)]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Location")]
    pub location: String,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
    /// `COMPOSITE` or `FULL_OBJECT`, with the checksum it describes.
    #[serde(rename = "ChecksumType", skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Part {
    #[serde(rename = "PartNumber")]
    pub part_number: u16,
    #[serde(rename = "LastModified")]
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Debug, Serialize)]
pub struct ListPartsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "UploadId")]
    pub upload_id: String,
    #[serde(rename = "Initiator")]
    pub initiator: Owner,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "StorageClass")]
    pub storage_class: &'static str,
    #[serde(rename = "PartNumberMarker")]
    pub part_number_marker: u16,
    #[serde(
        rename = "NextPartNumberMarker",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_part_number_marker: Option<u16>,
    #[serde(rename = "MaxParts")]
    pub max_parts: u32,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(rename = "ChecksumAlgorithm", skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<&'static str>,
    #[serde(rename = "ChecksumType", skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<&'static str>,
    #[serde(rename = "Part")]
    pub parts: Vec<Part>,
}

#[derive(Debug, Serialize)]
pub struct Upload {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "UploadId")]
    pub upload_id: String,
    #[serde(rename = "Initiator")]
    pub initiator: Owner,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "StorageClass")]
    pub storage_class: &'static str,
    #[serde(rename = "Initiated")]
    pub initiated: String,
}

#[derive(Debug, Serialize)]
pub struct ListMultipartUploadsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Bucket")]
    pub bucket: String,
    #[serde(rename = "KeyMarker")]
    pub key_marker: String,
    #[serde(rename = "UploadIdMarker")]
    pub upload_id_marker: String,
    #[serde(rename = "NextKeyMarker", skip_serializing_if = "Option::is_none")]
    pub next_key_marker: Option<String>,
    #[serde(rename = "NextUploadIdMarker", skip_serializing_if = "Option::is_none")]
    pub next_upload_id_marker: Option<String>,
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(rename = "MaxUploads")]
    pub max_uploads: u32,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: bool,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    #[serde(rename = "Upload")]
    pub uploads: Vec<Upload>,
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// CopyObjectResult and CopyPartResult share this shape.
#[derive(Debug, Serialize)]
pub struct CopyResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "LastModified")]
    pub last_modified: String,
}

#[derive(Debug, Serialize)]
pub struct DeleteResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Deleted")]
    pub deleted: Vec<Deleted>,
    #[serde(rename = "Error")]
    pub errors: Vec<DeleteError>,
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    #[serde(rename = "Key")]
    pub key: String,
}

#[derive(Debug, Serialize)]
pub struct DeleteError {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message")]
    pub message: String,
}

/// GetBucketEncryption's answer for S3's default, SSE-S3 (AES256).
pub fn sse_s3_default_configuration() -> String {
    format!(
        "{DECL}<ServerSideEncryptionConfiguration xmlns=\"{NS}\"><Rule>\
         <ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>\
         </ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled>\
         </Rule></ServerSideEncryptionConfiguration>"
    )
}

/// `<LocationConstraint>` holds the region as text (empty for us-east-1).
#[derive(Debug, Serialize)]
pub struct LocationConstraint {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "$text")]
    pub region: String,
}

#[derive(Debug, Serialize)]
pub struct VersioningConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AccessControlPolicy {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Owner")]
    pub owner: Owner,
    #[serde(rename = "AccessControlList")]
    pub acl: AccessControlList,
}

#[derive(Debug, Serialize)]
pub struct AccessControlList {
    #[serde(rename = "Grant")]
    pub grant: Vec<Grant>,
}

#[derive(Debug, Serialize)]
pub struct Grant {
    #[serde(rename = "Grantee")]
    pub grantee: Grantee,
    #[serde(rename = "Permission")]
    pub permission: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Grantee {
    #[serde(rename = "@xmlns:xsi")]
    pub xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    pub xsi_type: &'static str,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "DisplayName")]
    pub display_name: String,
}

/// The owner's FULL_CONTROL grant: the canned `private` ACL, the only one
/// s3gw has (the native store has no ACLs).
pub fn private_acl(owner_id: &str, owner_name: &str) -> String {
    let owner = || Owner {
        id: owner_id.to_owned(),
        display_name: owner_name.to_owned(),
    };
    to_xml(
        "AccessControlPolicy",
        &AccessControlPolicy {
            xmlns: NS,
            owner: owner(),
            acl: AccessControlList {
                grant: vec![Grant {
                    grantee: Grantee {
                        xmlns_xsi: "http://www.w3.org/2001/XMLSchema-instance",
                        xsi_type: "CanonicalUser",
                        id: owner_id.to_owned(),
                        display_name: owner_name.to_owned(),
                    },
                    permission: "FULL_CONTROL",
                }],
            },
        },
    )
}

/// The `<Error>` document: Code, Message, Resource, RequestId and the
/// error's extra elements, escaped by quick-xml.
pub fn error_document(
    err: &S3Error,
    resource: &str,
    request_id: &str,
    declaration: bool,
) -> String {
    use quick_xml::escape::escape;
    let mut out = String::new();
    if declaration {
        out.push_str(DECL);
    }
    out.push_str("<Error><Code>");
    out.push_str(err.code.as_str());
    out.push_str("</Code><Message>");
    out.push_str(&escape(err.message.as_str()));
    out.push_str("</Message>");
    for (name, value) in &err.extra {
        out.push('<');
        out.push_str(name);
        out.push('>');
        out.push_str(&escape(value.as_str()));
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("<Resource>");
    out.push_str(&escape(resource));
    out.push_str("</Resource><RequestId>");
    out.push_str(&escape(request_id));
    out.push_str("</RequestId></Error>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line ends in request documents are read as S3 reads them: a literal
    /// CR, CR LF, NEL (U+0085) or LINE SEPARATOR (U+2028) in text is a line
    /// end (`\n`), which is why the AWS SDKs' XML encoders (the "EOL
    /// encoding" SEP: aws-smithy-xml, smithy-go, botocore's DeleteObjects
    /// customisation) write all four as character references; written so
    /// they reach the key exactly.
    #[test]
    fn line_ends_in_request_text_as_s3_reads_them() {
        let keys = |doc: &str| -> Vec<String> {
            parse::<Delete>(doc.as_bytes())
                .unwrap()
                .objects
                .into_iter()
                .map(|o| o.key)
                .collect()
        };
        assert_eq!(
            keys("<Delete><Object><Key>a\rb\r\nc\u{85}d\u{2028}e</Key></Object></Delete>"),
            ["a\nb\nc\nd\ne"]
        );
        assert_eq!(
            keys("<Delete><Object><Key>a&#xD;b&#xD;&#xA;c&#x85;d&#x2028;e</Key></Object></Delete>"),
            ["a\rb\r\nc\u{85}d\u{2028}e"]
        );
    }

    #[test]
    fn delete_request_parses_with_namespace_and_quiet() {
        let d: Delete = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Quiet>true</Quiet>
              <Object><Key>sample1.txt</Key></Object>
              <Object><Key>a &amp; b/ü</Key><VersionId>null</VersionId></Object>
            </Delete>"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(d.quiet, Some(true));
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[1].key, "a & b/ü");
    }

    #[test]
    fn complete_request_parses_parts() {
        let c: CompleteMultipartUpload = parse(
            br#"<CompleteMultipartUpload>
              <Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part>
              <Part><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag><PartNumber>2</PartNumber>
                    <ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
            </CompleteMultipartUpload>"#,
        )
        .unwrap();
        assert_eq!(c.parts.len(), 2);
        assert_eq!(c.parts[1].part_number, "2");
        assert_eq!(c.parts[1].checksum_crc32.as_deref(), Some("AAAAAA=="));
    }

    #[test]
    fn malformed_xml_is_malformed_xml() {
        let e = parse::<Delete>(b"<Delete><Object><Key>x</Object>").unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MalformedXML);
        let e = parse::<Delete>(b"\xff\xfe").unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MalformedXML);
    }

    #[test]
    fn list_result_serialises_with_namespace_and_escaping() {
        let doc = ListBucketResultV2 {
            xmlns: NS,
            name: "b".into(),
            prefix: "".into(),
            max_keys: 1000,
            key_count: 1,
            delimiter: Some("/".into()),
            is_truncated: false,
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
            encoding_type: None,
            contents: vec![Contents {
                key: "a<&>\"b".into(),
                last_modified: iso8601(SystemTime::UNIX_EPOCH),
                etag: "\"abc\"".into(),
                size: 3,
                storage_class: "STANDARD",
                owner: None,
            }],
            common_prefixes: vec![CommonPrefix {
                prefix: "d/".into(),
            }],
        };
        let x = to_xml("ListBucketResult", &doc);
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"), "{x}");
        // quick-xml leaves `"` alone in text (valid XML; clients parse both).
        assert!(x.contains("<Key>a&lt;&amp;&gt;\"b</Key>"), "{x}");
        assert!(
            x.contains("<LastModified>1970-01-01T00:00:00.000Z</LastModified>"),
            "{x}"
        );
        assert!(
            x.contains("<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>"),
            "{x}"
        );
        assert!(x.contains("<KeyCount>1</KeyCount>"), "{x}");
        assert!(!x.contains("ContinuationToken"), "{x}");
        assert!(x.contains("<IsTruncated>false</IsTruncated>"), "{x}");
    }

    #[test]
    fn location_and_acl_and_complete() {
        let x = to_xml(
            "LocationConstraint",
            &LocationConstraint {
                xmlns: NS,
                region: "eu-1".into(),
            },
        );
        assert!(x.ends_with("<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">eu-1</LocationConstraint>"), "{x}");
        let x = private_acl("uuid-1", "alice");
        assert!(x.contains("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>uuid-1</ID>"), "{x}");
        assert!(x.contains("<Permission>FULL_CONTROL</Permission>"));
        let x = to_xml(
            "CompleteMultipartUploadResult",
            &CompleteMultipartUploadResult {
                xmlns: NS,
                location: "http://h/b/k".into(),
                bucket: "b".into(),
                key: "k".into(),
                etag: "\"x-2\"".into(),
                checksum: ChecksumFields {
                    crc32: Some("AAAA".into()),
                    ..Default::default()
                },
                checksum_type: Some("COMPOSITE"),
            },
        );
        assert!(x.contains("<ETag>\"x-2\"</ETag><ChecksumCRC32>AAAA</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"), "{x}");
    }

    #[test]
    fn error_document_has_every_element_escaped() {
        let e = S3Error::new(S3ErrorCode::NoSuchKey).extra("Key", "a<b");
        let x = error_document(&e, "/b/a<b", "REQ1", true);
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&lt;b</Key><Resource>/b/a&lt;b</Resource><RequestId>REQ1</RequestId></Error>"
        );
    }

    #[test]
    fn url_encoding_matches_s3() {
        assert_eq!(url_encode("a b/c+d%é&"), "a%20b/c%2Bd%25%C3%A9%26");
        assert_eq!(url_encode("\u{1}\t\n"), "%01%09%0A");
        assert_eq!(url_encode("plain-key_1.~"), "plain-key_1.~");
    }
}
