//! The key list as text, as `holdfast key list` prints it: id, creation time and host of
//! each key file, the one the password opened marked `*`, damaged ones said so. The JSON
//! form is [`KeyInfo`]'s own serialisation.

use std::fmt::Write as _;

use super::KeyInfo;

/// A header, then one row per key file.
pub fn list(keys: &[KeyInfo]) -> String {
    let mut out = format!("{:<2}{:<10} {:<20} {}\n", "", "ID", "CREATED", "HOST");
    for k in keys {
        let _ = writeln!(
            out,
            "{:<2}{:<10} {:<20} {}{}",
            if k.current { "*" } else { "" },
            &k.id[..k.id.len().min(8)],
            k.created
                .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into()),
            k.hostname.as_deref().unwrap_or("-"),
            k.damaged
                .as_ref()
                .map(|d| format!("  (damaged: {d})"))
                .unwrap_or_default()
        );
    }
    out
}
