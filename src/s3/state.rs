//! The buckets and objects of the simulated S3: durable state shared with the composition root.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// One stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub body: Bytes,
    /// The object's tags (`s3:ExistingObjectTag/<key>`). Keys are case-sensitive here, as S3 stores
    /// them; the policy engine matches condition key names case-insensitively (`iam.md` §1.6).
    pub tags: BTreeMap<String, String>,
    /// The quoted entity tag, e.g. `"9f86d081884c7d659a2feaa0c55ad015"`. S3's ETag of a single-part
    /// upload is the MD5 of the body; MD5 is not in this crate's dependencies, so it is the first 16
    /// bytes of the SHA-256 instead (same shape, different value: a documented deviation).
    pub etag: String,
    /// When it was stored, Unix milliseconds of the S3 host's clock (0 when seeded before the run).
    pub last_modified_ms: u64,
}

impl Object {
    /// An object with this body and these tags, stored at `now_ms`.
    pub fn new(body: Bytes, tags: BTreeMap<String, String>, now_ms: u64) -> Object {
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Object { body, tags, etag, last_modified_ms: now_ms }
    }
}

/// One bucket: its objects by key.
#[derive(Clone, Debug, Default)]
struct Bucket {
    objects: BTreeMap<String, Object>,
}

/// Every bucket of this S3 endpoint. Shared (`Rc<RefCell<…>>`) between the composition root, which
/// creates buckets and seeds objects before the run, and the actor, which survives restarts with it:
/// S3 is durable.
#[derive(Debug, Default)]
pub struct S3State {
    buckets: BTreeMap<String, Bucket>,
}

impl S3State {
    /// An empty state, ready to share.
    pub fn new() -> Rc<RefCell<S3State>> {
        Rc::new(RefCell::new(S3State::default()))
    }

    /// Creates an empty bucket (what `CreateBucket` would have done); an existing bucket is kept.
    pub fn create_bucket(&mut self, bucket: &str) {
        self.buckets.entry(bucket.to_owned()).or_default();
    }

    /// Seeds an object with tags, creating its bucket if needed (the composition root's shortcut for
    /// `CreateBucket` + `PutObject` + `PutObjectTagging` by the account's administrator). Replaces an
    /// object with the same key, tags included.
    pub fn put_object(&mut self, bucket: &str, key: &str, body: Bytes, tags: Vec<(String, String)>) {
        let tags: BTreeMap<String, String> = tags.into_iter().collect();
        self.store(bucket, key, Object::new(body, tags, 0));
    }

    /// Whether a bucket exists.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.buckets.contains_key(bucket)
    }

    /// An object, if both its bucket and its key exist.
    pub fn object(&self, bucket: &str, key: &str) -> Option<&Object> {
        self.buckets.get(bucket)?.objects.get(key)
    }

    /// Stores an object in an existing bucket, or creates the bucket. Used by the seeding API and by
    /// `PutObject` (which checks the bucket first).
    pub(super) fn store(&mut self, bucket: &str, key: &str, object: Object) {
        self.buckets.entry(bucket.to_owned()).or_default().objects.insert(key.to_owned(), object);
    }

    /// Bucket names, in order.
    pub fn buckets(&self) -> Vec<String> {
        self.buckets.keys().cloned().collect()
    }

    /// Keys of a bucket's objects, in order (empty for an unknown bucket).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.buckets.get(bucket).map(|b| b.objects.keys().cloned().collect()).unwrap_or_default()
    }
}
