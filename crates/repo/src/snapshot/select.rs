//! Snapshot selectors: an id prefix, or `latest` with an optional group (`:VOLUME` or
//! `:/PATH`, the root of snapshots made without a volume) and an optional `~N` (the N-th
//! before the newest of that group).
//!
//! An id prefix that several snapshots start with is refused with
//! [`Error::AmbiguousPrefix`], which carries every candidate's full id.
//!
//! Invariant: `latest` without a group never picks among several groups in silence. When
//! the snapshots belong to more than one volume or path, it is refused with
//! [`Error::AmbiguousLatest`], which lists the selectors that would be unambiguous
//! ([`choices`]); a caller that knows which volume is meant (the one volume of a
//! configured project) pins it with [`Selector::pinned`].

use crate::error::{Error, Result};
use crate::id::Id;

use super::Snapshot;

/// Which snapshots a `latest…` selector looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Group {
    /// Every snapshot (allowed only when they all belong to one group).
    All,
    /// The snapshots of this volume.
    Volume(String),
    /// The snapshots made without a volume of this root path.
    Root(String),
}

/// A parsed snapshot selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// A prefix of the snapshot id (hex digits).
    Prefix(String),
    /// The `back`-th snapshot before the newest of `group`.
    Latest {
        /// The group.
        group: Group,
        /// How many snapshots to go back from the newest.
        back: usize,
    },
}

impl Selector {
    /// Parses `spec`.
    pub fn parse(spec: &str) -> Result<Selector> {
        let Some(rest) = spec.strip_prefix("latest") else {
            if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Invalid(format!(
                    "snapshot {spec:?}: expected an id prefix, latest, latest:VOLUME or \
                     latest:/PATH"
                )));
            }
            return Ok(Selector::Prefix(spec.to_ascii_lowercase()));
        };
        let bad = || {
            Error::Invalid(format!(
                "snapshot {spec:?}: expected latest, latest:VOLUME or latest:/PATH, each \
                 optionally with ~N (N a number)"
            ))
        };
        let (head, back) = match rest.rsplit_once('~') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (head, n.parse::<usize>().map_err(|_| bad())?)
            }
            // A `~` inside a path is part of the path.
            Some(_) if rest.starts_with(":/") => (rest, 0),
            Some(_) => return Err(bad()),
            None => (rest, 0),
        };
        let group = match head {
            "" => Group::All,
            h => {
                let name = h
                    .strip_prefix(':')
                    .filter(|v| !v.is_empty())
                    .ok_or_else(bad)?;
                if name.starts_with('/') {
                    let trimmed = name.trim_end_matches('/');
                    Group::Root(if trimmed.is_empty() { "/" } else { trimmed }.to_owned())
                } else {
                    Group::Volume(name.to_owned())
                }
            }
        };
        Ok(Selector::Latest { group, back })
    }

    /// `spec` with `volume` filled in when it is `latest` or `latest~N` without a group
    /// (`latest~1` → `latest:app-data~1`); `None` for any other selector.
    pub fn pinned(spec: &str, volume: &str) -> Option<String> {
        match Selector::parse(spec).ok()? {
            Selector::Latest {
                group: Group::All,
                back,
            } => Some(match back {
                0 => format!("latest:{volume}"),
                n => format!("latest:{volume}~{n}"),
            }),
            _ => None,
        }
    }

    /// True for a `latest…` selector.
    pub fn is_latest(&self) -> bool {
        matches!(self, Selector::Latest { .. })
    }
}

impl Group {
    fn matches(&self, s: &Snapshot) -> bool {
        match self {
            Group::All => true,
            Group::Volume(v) => s.volume.as_deref() == Some(v.as_str()),
            Group::Root(r) => s.volume.is_none() && s.root == *r,
        }
    }
}

/// The unambiguous `latest:…` selectors of `list`, one per volume or path, sorted.
pub fn choices(list: &[(Id, Snapshot)]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .map(|(_, s)| format!("latest:{}", s.group()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The newest snapshot of the same volume or path as `of` that is not flagged
/// [`super::Shrunk`].
pub fn newest_intact<'a>(list: &'a [(Id, Snapshot)], of: &Snapshot) -> Option<&'a (Id, Snapshot)> {
    list.iter()
        .filter(|(_, s)| s.same_group(of) && s.shrunk.is_none())
        .max_by_key(|(id, s)| (s.time, *id))
}

/// Picks a snapshot by `spec` (see the module docs).
pub fn select<'a>(list: &'a [(Id, Snapshot)], spec: &str) -> Result<&'a (Id, Snapshot)> {
    let (group, back) = match Selector::parse(spec)? {
        Selector::Prefix(prefix) => {
            let found: Vec<&'a (Id, Snapshot)> = list
                .iter()
                .filter(|(id, _)| id.to_hex().starts_with(&prefix))
                .collect();
            return match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(Error::not_found(format!("snapshot {prefix}"))),
                many => {
                    let mut candidates: Vec<String> =
                        many.iter().map(|(id, _)| id.to_hex()).collect();
                    candidates.sort();
                    candidates.dedup();
                    Err(Error::AmbiguousPrefix { prefix, candidates })
                }
            };
        }
        Selector::Latest { group, back } => (group, back),
    };
    if group == Group::All {
        let choices = choices(list);
        if choices.len() > 1 {
            return Err(Error::AmbiguousLatest {
                spec: spec.to_owned(),
                choices,
            });
        }
    }
    let mut members: Vec<&'a (Id, Snapshot)> =
        list.iter().filter(|(_, s)| group.matches(s)).collect();
    members.sort_by_key(|(id, s)| std::cmp::Reverse((s.time, *id)));
    match members.get(back) {
        Some(s) => Ok(*s),
        None if members.is_empty() => Err(Error::not_found(match &group {
            Group::Volume(v) => format!("snapshot of volume {v}"),
            Group::Root(r) => format!("snapshot of {r} (made without a volume)"),
            Group::All => "snapshot latest (repository has none)".to_owned(),
        })),
        None => Err(Error::not_found(format!(
            "snapshot {spec} (only {} to go back through)",
            members.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(time: i64, volume: Option<&str>) -> Snapshot {
        let time = chrono::DateTime::from_timestamp(time, 0).unwrap_or_default();
        crate::test_support::bare_snapshot(time, "h", "/r", volume, &[])
    }

    #[test]
    fn selects_by_spec() -> Result<()> {
        let list = vec![
            (Id::hash(b"1"), snap(10, Some("a"))),
            (Id::hash(b"2"), snap(30, None)),
            (Id::hash(b"3"), snap(20, Some("a"))),
        ];
        assert_eq!(select(&list, "latest:/r")?.0, Id::hash(b"2"));
        assert_eq!(select(&list, "latest:/r/")?.0, Id::hash(b"2"));
        assert_eq!(select(&list, "latest:a")?.0, Id::hash(b"3"));
        assert!(matches!(
            select(&list, "latest:b"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            select(&list, "latest:/elsewhere"),
            Err(Error::NotFound { .. })
        ));
        let hex = Id::hash(b"1").to_hex();
        assert_eq!(select(&list, &hex[..8])?.0, Id::hash(b"1"));
        assert!(matches!(select(&list, "xyz"), Err(Error::Invalid(_))));
        assert_eq!(select(&list, "latest:a~1")?.0, Id::hash(b"1"));
        assert_eq!(select(&list, "latest:a~0")?.0, Id::hash(b"3"));
        assert!(matches!(
            select(&list, "latest:a~2"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(select(&list, "latest~x"), Err(Error::Invalid(_))));
        assert!(matches!(select(&list, "latestx"), Err(Error::Invalid(_))));
        assert!(matches!(
            select(&list, "0000000000"),
            Err(Error::NotFound { .. })
        ));
        let one_group = &list[..1];
        assert_eq!(select(one_group, "latest")?.0, Id::hash(b"1"));
        Ok(())
    }

    /// Finding 4: `latest` picked the newest snapshot of any volume or path in silence.
    #[test]
    fn latest_is_never_ambiguous_in_silence() {
        let list = vec![
            (Id::hash(b"1"), snap(10, Some("app-data"))),
            (Id::hash(b"2"), snap(30, None)),
        ];
        for spec in ["latest", "latest~1"] {
            match select(&list, spec) {
                Err(Error::AmbiguousLatest { choices, .. }) => {
                    assert_eq!(choices, ["latest:/r", "latest:app-data"]);
                }
                other => panic!("{spec}: {other:?}"),
            }
        }
        assert_eq!(
            Selector::pinned("latest~1", "app-data").as_deref(),
            Some("latest:app-data~1")
        );
        assert_eq!(
            Selector::pinned("latest", "app-data").as_deref(),
            Some("latest:app-data")
        );
        assert_eq!(Selector::pinned("latest:x", "app-data"), None);
        assert_eq!(Selector::pinned("abcd", "app-data"), None);
    }

    #[test]
    fn a_tilde_inside_a_path_is_part_of_it() -> Result<()> {
        assert_eq!(
            Selector::parse("latest:/srv/a~b")?,
            Selector::Latest {
                group: Group::Root("/srv/a~b".into()),
                back: 0
            }
        );
        assert_eq!(
            Selector::parse("latest:/srv/a~2")?,
            Selector::Latest {
                group: Group::Root("/srv/a".into()),
                back: 2
            }
        );
        Ok(())
    }

    #[test]
    fn newest_intact_skips_flagged_snapshots() {
        let mut flagged = snap(30, Some("a"));
        flagged.shrunk = super::super::Shrunk::check(Id::hash(b"2"), (3, 3), (0, 0), 50.0);
        let list = vec![
            (Id::hash(b"1"), snap(10, Some("a"))),
            (Id::hash(b"2"), snap(20, Some("a"))),
            (Id::hash(b"3"), flagged.clone()),
            (Id::hash(b"4"), snap(40, Some("b"))),
        ];
        assert_eq!(
            newest_intact(&list, &flagged).map(|(id, _)| *id),
            Some(Id::hash(b"2"))
        );
    }

    #[test]
    fn an_ambiguous_id_prefix_carries_every_candidate() {
        let list: Vec<(Id, Snapshot)> = (0..40u8)
            .map(|i| (Id::hash(&[i]), snap(i64::from(i), Some("a"))))
            .collect();
        // 40 ids over 16 first digits: the most common one is shared.
        let first: Vec<String> = list
            .iter()
            .map(|(id, _)| id.to_hex()[..1].to_owned())
            .collect();
        let Some(digit) = first
            .iter()
            .max_by_key(|d| first.iter().filter(|x| x == d).count())
            .map(String::as_str)
        else {
            panic!("no ids");
        };
        let want: Vec<String> = {
            let mut w: Vec<String> = list
                .iter()
                .map(|(id, _)| id.to_hex())
                .filter(|h| h.starts_with(digit))
                .collect();
            w.sort();
            w
        };
        assert!(want.len() > 1);
        match select(&list, digit) {
            Err(Error::AmbiguousPrefix { prefix, candidates }) => {
                assert_eq!(prefix, digit);
                assert_eq!(candidates, want);
            }
            other => panic!("{other:?}"),
        }
        assert!(select(&list, &want[0]).is_ok());
    }
}
