//! Credential redaction for store URLs. A store URL may carry credentials
//! (`s3://KEY:SECRET@bucket/…`, `?secret_access_key=…`, `azblob://…?account_key=…`);
//! the invariant is that no message or log line of holdfast ever shows them: every URL
//! that is printed goes through [`redact_url`] first, and errors name a store by its
//! credential-free display URL.

/// Query parameters whose values are never secret and stay visible.
const PLAIN_PARAMS: &[&str] = &["endpoint", "region"];

/// What replaces a hidden value.
const HIDDEN: &str = "REDACTED";

/// `raw` with every credential replaced by `REDACTED`: the user-info part
/// (`user:password@`) and the value of every query parameter except `endpoint` and
/// `region` (an `endpoint` is itself redacted the same way). A plain path stays as it
/// is; a string that does not parse as a URL is shown only by its scheme.
///
/// ```
/// use holdfast_store::redact_url;
/// assert_eq!(
///     redact_url("s3://AKID:SECRET@bucket/p?region=x&secret_access_key=S"),
///     "s3://REDACTED@bucket/p?region=x&secret_access_key=REDACTED"
/// );
/// assert_eq!(redact_url("/srv/backups"), "/srv/backups");
/// ```
pub fn redact_url(raw: &str) -> String {
    if raw.starts_with('/') {
        return raw.to_string();
    }
    let Ok(mut url) = url::Url::parse(raw) else {
        return unparsed(raw);
    };
    if (!url.username().is_empty() || url.password().is_some())
        && (url.set_username(HIDDEN).is_err() || url.set_password(None).is_err())
    {
        return unparsed(raw);
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = match k.as_ref() {
                    "endpoint" if !plain_url(&v) => redact_url(&v),
                    k if PLAIN_PARAMS.contains(&k) => v.into_owned(),
                    _ => HIDDEN.to_string(),
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
    }
    // Keep `://` readable: the serializer percent-encodes it inside query values.
    url.to_string()
        .replace("%3A%2F%2F", "://")
        .replace("%3A", ":")
}

/// True when `s` is a URL with neither user-info nor a query, safe to show as it is.
fn plain_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| u.username().is_empty() && u.password().is_none() && u.query().is_none())
}

/// A string that is not a URL: its scheme (when it has a plausible one), nothing more.
fn unparsed(raw: &str) -> String {
    match raw.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!("{scheme}://{HIDDEN}")
        }
        _ => format!("<{HIDDEN} unparsable URL>"),
    }
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HIDDEN)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_in_urls_are_hidden() {
        for (raw, secret) in [
            ("s3://AKID:SUPERSECRET@b/p", "SUPERSECRET"),
            ("s3://AKIDONLY@b/p", "AKIDONLY"),
            (
                "s3://b/p?secret_access_key=SUPERSECRET&region=x",
                "SUPERSECRET",
            ),
            ("s3://b?session_token=SUPERSECRET", "SUPERSECRET"),
            ("azblob://c/p?account_key=SUPERSECRET", "SUPERSECRET"),
            ("azblob://c?sv=2020&sig=SUPERSECRET", "SUPERSECRET"),
            ("azblob://c?sas=SUPERSECRET", "SUPERSECRET"),
            (
                "s3://b?endpoint=http://u:SUPERSECRET@127.0.0.1:1",
                "SUPERSECRET",
            ),
            ("s3://AKID:SUPER SECRET@@b", "SUPER"),
            ("not a url SUPERSECRET", "SUPERSECRET"),
        ] {
            let shown = redact_url(raw);
            assert!(!shown.contains(secret), "{raw} -> {shown}");
        }
    }

    #[test]
    fn plain_parts_stay_readable() {
        assert_eq!(
            redact_url("s3://b/p?endpoint=http://127.0.0.1:3900&region=garage"),
            "s3://b/p?endpoint=http://127.0.0.1:3900&region=garage"
        );
        assert_eq!(redact_url("file:///srv/b"), "file:///srv/b");
        assert_eq!(redact_url("memory://"), "memory://");
    }
}
