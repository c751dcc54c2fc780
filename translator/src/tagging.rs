//! Tags (bucket and object). A bucket's tag set lives in its configuration
//! record ([`crate::BucketConfig::tags`]); an object's rides with the object
//! in native metadata. Owned by the sharing work (issue 12): S3's limits and
//! the metadata encoding build on this type.

use serde::{Deserialize, Serialize};

/// One `<Tag>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}
