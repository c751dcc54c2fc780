//! buckets-lite (stub; see docs)
