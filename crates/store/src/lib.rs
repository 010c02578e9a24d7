//! holdfast-store: one storage API over local disk, memory, S3 and Azure Blob.
//!
//! A [`Store`] is opened from a URL (`file:///srv/data`, `memory://`,
//! `s3://bucket/prefix?endpoint=…&region=…`, `azblob://container/prefix?endpoint=…`) or
//! from the `STORAGE_TYPE` environment, and offers the same operations on every backend:
//! whole, ranged and streamed reads; atomic whole and streamed writes; conditional
//! writes where the server honours them; listing that pages; age-based cleanup; and a
//! TTL [`DiskCache`]. Apache OpenDAL does the talking, behind a timeout layer inside a
//! retry layer; transient failures are retried for a bounded time ([`StoreOptions`],
//! `HOLDFAST_STORE_RETRY_FOR`) and then reported as [`ErrorKind::Unavailable`], never
//! as a missing object. Credentials written into a store URL never appear in a message
//! ([`redact_url`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use holdfast_store::{ListOptions, Store};
//! use futures::TryStreamExt;
//!
//! let store = Store::open("memory://")?;
//! store.write("reports/2026/a.txt", "hello".into()).await?;
//! assert_eq!(store.read("reports/2026/a.txt").await?, "hello");
//! let keys: Vec<String> = store
//!     .list("reports/", ListOptions { recursive: true, filter: None })
//!     .map_ok(|m| m.key)
//!     .try_collect()
//!     .await?;
//! assert_eq!(keys, ["reports/2026/a.txt"]);
//! assert!(store.read("../etc/passwd").await.is_err());
//! # Ok::<(), holdfast_store::Error>(())
//! # }).unwrap();
//! ```

mod cache;
pub mod checksum;
mod error;
mod integrity;
mod key;
mod local;
mod location;
mod redact;
mod retry;
mod store;
mod stream;

pub use cache::{DiskCache, encode_entry, entry_name, live_value};
pub use error::{Error, ErrorKind, Result};
pub use key::{MAX_KEY_LEN, key_problem};
pub use location::{Location, STORAGE_TYPES};
pub use redact::redact_url;
pub use retry::{RETRY_FOR_ENV, StoreOptions, TIMEOUT_ENV, parse_duration};
pub use store::{Capabilities, CleanupReport, ListOptions, ObjectMeta, Store, TEMP_DIR};
