//! The snapshot tools people reach for: [`SnapshotFilter`] (which snapshots a command
//! lists or acts on), [`tag`] (change tags by rewriting snapshot objects), [`find`]
//! (which snapshots hold a path matching a glob) and [`stats`] (raw, deduplicated and
//! stored sizes, per volume).

mod find;
mod stats;
mod tag;
pub mod text;

pub use find::{FindOptions, Found, find};
pub use stats::{Stats, StatsGroup, stats};
pub use tag::{TagChange, TagOptions, TagReport, tag};

use std::collections::HashMap;

use crate::id::Id;
use crate::snapshot::Snapshot;

/// Which snapshots to keep in a listing; every set condition must hold.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    /// Tag sets: a snapshot matches when it has every tag of at least one set (restic's
    /// `--tag a,b --tag c`: a and b, or c). Empty: any tags.
    pub tags: Vec<Vec<String>>,
    /// Only this volume.
    pub volume: Option<String>,
    /// Only snapshots taken on this host.
    pub host: Option<String>,
    /// Only snapshots of this root path.
    pub path: Option<String>,
    /// Only snapshots taken at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only the newest N of each group (volume, else root path).
    pub latest: Option<usize>,
}

impl SnapshotFilter {
    /// True when the snapshot meets every condition but `latest`.
    pub fn matches(&self, s: &Snapshot) -> bool {
        let tags_ok = self.tags.is_empty()
            || self
                .tags
                .iter()
                .any(|set| set.iter().all(|t| s.tags.contains(t)));
        let path_ok = self.path.as_deref().is_none_or(|p| {
            let p = p.trim_end_matches('/');
            s.root == p || (p.is_empty() && s.root == "/")
        });
        tags_ok
            && path_ok
            && self
                .volume
                .as_deref()
                .is_none_or(|v| s.volume.as_deref() == Some(v))
            && self.host.as_deref().is_none_or(|h| s.hostname == h)
            && self.since.is_none_or(|t| s.time >= t)
    }

    /// The snapshots of `list` that pass, oldest first.
    pub fn apply(&self, list: Vec<(Id, Snapshot)>) -> Vec<(Id, Snapshot)> {
        let mut out: Vec<(Id, Snapshot)> =
            list.into_iter().filter(|(_, s)| self.matches(s)).collect();
        out.sort_by_key(|(id, s)| (s.time, *id));
        if let Some(n) = self.latest {
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut kept: Vec<(Id, Snapshot)> = out
                .into_iter()
                .rev()
                .filter(|(_, s)| {
                    let c = seen.entry(group_of(s)).or_default();
                    *c += 1;
                    *c <= n
                })
                .collect();
            kept.reverse();
            out = kept;
        }
        out
    }
}

/// The group of a snapshot: `volume:NAME`, else `path:ROOT`.
pub fn group_of(s: &Snapshot) -> String {
    match &s.volume {
        Some(v) => format!("volume:{v}"),
        None => format!("path:{}", s.root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: i64, vol: Option<&str>, tags: &[&str], host: &str) -> Snapshot {
        let time = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        crate::test_support::bare_snapshot(time, host, "/r", vol, tags)
    }

    #[test]
    fn filters_combine() {
        let list = vec![
            (Id::hash(b"1"), snap(10, Some("a"), &["x", "y"], "h1")),
            (Id::hash(b"2"), snap(20, Some("a"), &["x"], "h2")),
            (Id::hash(b"3"), snap(30, Some("b"), &["y"], "h1")),
            (Id::hash(b"4"), snap(40, None, &[], "h1")),
        ];
        let ids = |f: &SnapshotFilter| -> Vec<Id> {
            f.apply(list.clone())
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        let tags = |sets: &[&[&str]]| -> Vec<Vec<String>> {
            sets.iter()
                .map(|s| s.iter().map(|t| (*t).to_owned()).collect())
                .collect()
        };
        let f = SnapshotFilter {
            tags: tags(&[&["x", "y"]]),
            ..Default::default()
        };
        assert_eq!(ids(&f), vec![Id::hash(b"1")]);
        let f = SnapshotFilter {
            tags: tags(&[&["x", "y"], &["y"]]),
            ..Default::default()
        };
        assert_eq!(ids(&f), vec![Id::hash(b"1"), Id::hash(b"3")]);
        let f = SnapshotFilter {
            host: Some("h1".into()),
            latest: Some(1),
            ..Default::default()
        };
        assert_eq!(
            ids(&f),
            vec![Id::hash(b"1"), Id::hash(b"3"), Id::hash(b"4")]
        );
        let f = SnapshotFilter {
            since: chrono::DateTime::from_timestamp(20, 0),
            volume: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(ids(&f), vec![Id::hash(b"2")]);
        let f = SnapshotFilter {
            latest: Some(1),
            ..Default::default()
        };
        assert_eq!(
            ids(&f),
            vec![Id::hash(b"2"), Id::hash(b"3"), Id::hash(b"4")]
        );
    }
}
