//! Upload integrity: a body damaged between holdfast and the server must never be stored
//! as the object it was meant to be.
//!
//! TLS catches damage on the way, plain HTTP (a proxy, a loopback endpoint, a broken
//! middlebox) does not, and S3 and Azure Blob store whatever bytes arrive. So every
//! upload is checked end to end:
//! - **S3**: each request carries `x-amz-checksum-crc32c` of its body (set on the
//!   OpenDAL backend); the server refuses a body that does not match
//!   (`BadDigest`/`InvalidDigest`), and [`damaged_on_the_way`] makes that refusal a
//!   retryable error instead of a permanent one.
//! - **Azure Blob**: the server answers an upload with the MD5 of what it stored;
//!   [`md5_matches`] compares it with the bytes sent, and a mismatch is retried (the
//!   next attempt replaces the damaged object; a conditional write removes its own
//!   damaged object first).
//!
//! Reads are checked by the repository itself (names that are hashes, AEAD).

use base64::Engine as _;
use md5::Digest as _;

/// The detail of an upload that arrived damaged.
pub(crate) const DAMAGED_UPLOAD: &str =
    "the upload arrived damaged (its checksum did not match what was sent); sending it again";

/// Server error codes that mean "the body did not match the checksum sent with it".
const DIGEST_CODES: [&str; 4] = [
    "BadDigest",
    "InvalidDigest",
    "XAmzContentChecksumMismatch",
    "XAmzContentSHA256Mismatch",
];

/// True when the server refused an upload because its body did not match its checksum.
pub(crate) fn damaged_on_the_way(e: &opendal::Error) -> bool {
    let message = e.message();
    DIGEST_CODES
        .iter()
        .any(|code| message.contains(&format!("\"{code}\"")))
}

/// True unless the server reported an MD5 (base64, as Azure's `Content-MD5`) for what it
/// stored and it differs from the MD5 of `data`.
pub(crate) fn md5_matches(reported: Option<&str>, data: &[u8]) -> bool {
    match reported {
        None => true,
        Some(r) => {
            let ours = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data));
            r.trim() == ours
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_md5_is_compared_with_what_was_sent() {
        // MD5 of the empty string, as Azure reports it.
        assert!(md5_matches(Some("1B2M2Y8AsgTpgAmY7PhCfg=="), b""));
        assert!(!md5_matches(Some("1B2M2Y8AsgTpgAmY7PhCfg=="), b"x"));
        assert!(md5_matches(None, b"anything"));
    }

    #[test]
    fn a_digest_refusal_is_told_apart_from_other_errors() {
        let refused = opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            r#"S3Error { code: "BadDigest", message: "The CRC32C you specified did not match" }"#,
        );
        let other = opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            r#"S3Error { code: "InvalidArgument", message: "BadDigest in a key name" }"#,
        );
        assert!(damaged_on_the_way(&refused));
        assert!(!damaged_on_the_way(&other));
    }
}
