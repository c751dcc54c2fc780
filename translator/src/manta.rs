//! The Manta buckets-API implementation of [`crate::Backend`].
