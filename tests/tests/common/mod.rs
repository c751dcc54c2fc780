//! Helpers shared by the test binaries in `tests/tests/` (`mod common;` in
//! each): aws-sdk-s3 clients for a gateway and reading their errors. They
//! live here rather than in the `s3gw_tests` library because aws-sdk-s3 is a
//! dev-dependency of this crate only. Not every binary uses every helper.
#![allow(dead_code)]

use std::net::IpAddr;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use s3gw_tests::gateway::{Gateway, GatewayKey};

/// An aws-sdk-s3 configuration for `url` with this key: region us-east-1,
/// path-style addressing, everything else as the SDK defaults (checksums as
/// it chooses, its own HTTP client). Callers may change it before `build()`.
pub fn s3_config(url: &str, access_key_id: &str, secret: &str) -> aws_sdk_s3::config::Builder {
    let creds = Credentials::new(access_key_id, secret, None, None, "test");
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(creds)
        .force_path_style(true)
}

/// A default aws-sdk-s3 client (see [`s3_config`]) for `url` with `key`.
pub fn s3_client_for(url: &str, key: &GatewayKey) -> Client {
    Client::from_conf(s3_config(url, &key.access_key_id, &key.secret).build())
}

/// A default aws-sdk-s3 client (see [`s3_config`]) for the gateway, with its
/// key.
pub fn s3_client(gw: &Gateway) -> Client {
    s3_client_for(&gw.url, &gw.key)
}

/// A DNS resolver that answers every name with one address (virtual-hosted
/// names such as `bucket.s3.localhost` reach the loopback gateway).
#[derive(Debug, Clone)]
pub struct StaticDns(pub IpAddr);

impl aws_smithy_runtime_api::client::dns::ResolveDns for StaticDns {
    fn resolve_dns<'a>(
        &'a self,
        _name: &'a str,
    ) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        aws_smithy_runtime_api::client::dns::DnsFuture::ready(Ok(vec![self.0]))
    }
}

/// The S3 error code of a service error (`None` for other failures).
pub fn code_of<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code().map(str::to_owned))
}

/// The HTTP status of the response behind an error, if one came.
pub fn status_of<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// The whole body of a GetObject answer.
pub async fn body_bytes(o: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    o.body.collect().await.expect("body").into_bytes().to_vec()
}

/// Deterministic test data: `n` bytes that depend on `seed`.
pub fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The `<Code>` of an S3 XML error body; empty when there is none.
pub fn error_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
        .to_owned()
}

/// (HTTP status, S3 code) of a failed SDK call: 0 and "" where there is
/// none.
pub fn failure<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> (u16, String)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    (status_of(e).unwrap_or(0), code_of(e).unwrap_or_default())
}
