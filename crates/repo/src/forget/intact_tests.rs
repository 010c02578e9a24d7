//! The retention side of finding 1: a forget never deletes the newest unflagged snapshot
//! of a volume while newer ones are flagged shrunk — shown on the unmounted-volume story
//! and tried against random sequences of backups and policies.

use proptest::prelude::*;

use super::*;
use crate::snapshot::Shrunk;

/// A backup of `volume` with `files` files at hour `hour`, flagged as a real backup
/// flags it: against the newest unflagged snapshot of the volume.
fn backup(list: &mut Vec<(Id, Snapshot)>, volume: &str, hour: i64, files: u64, nr: usize) {
    let time = chrono::DateTime::from_timestamp(1_700_000_000 + hour * 3600, 0).unwrap_or_default();
    let mut s = crate::test_support::bare_snapshot(time, "h", "/v", Some(volume), &[]);
    s.files = files;
    s.size = files * 100;
    let reference = list
        .iter()
        .filter(|(_, r)| r.volume.as_deref() == Some(volume) && r.shrunk.is_none())
        .max_by_key(|(id, r)| (r.time, *id));
    s.shrunk = reference
        .and_then(|(id, r)| Shrunk::check(*id, (r.files, r.size), (files, files * 100), 50.0));
    list.push((Id::hash(format!("{volume}{nr}").as_bytes()), s));
}

/// The newest unflagged snapshot of `volume` when a newer one is flagged.
fn protected(list: &[(Id, Snapshot)], volume: &str) -> Option<Id> {
    let mut mine: Vec<&(Id, Snapshot)> = list
        .iter()
        .filter(|(_, s)| s.volume.as_deref() == Some(volume))
        .collect();
    mine.sort_by_key(|(id, s)| std::cmp::Reverse((s.time, *id)));
    mine.first()?.1.shrunk.as_ref()?;
    mine.iter()
        .find(|(_, s)| s.shrunk.is_none())
        .map(|(id, _)| *id)
}

fn apply(list: &mut Vec<(Id, Snapshot)>, policy: &RetentionPolicy) -> Vec<ForgetGroup> {
    let groups = plan(list.clone(), policy);
    let gone: Vec<Id> = groups
        .iter()
        .flat_map(|g| g.remove.iter().map(|r| r.id))
        .collect();
    list.retain(|(id, _)| !gone.contains(id));
    groups
}

/// Finding 1 (retention side): three nights of empty snapshots of an unmounted volume
/// and `keep_last = 2` deleted the last good snapshot.
#[test]
fn retention_keeps_the_newest_unflagged_snapshot_behind_shrunk_ones() {
    let mut list = Vec::new();
    backup(&mut list, "app-data", 0, 3030, 0);
    backup(&mut list, "app-data", 24, 3031, 1);
    for night in 2..5 {
        backup(&mut list, "app-data", night * 24, 0, night as usize);
    }
    assert!(list[2..].iter().all(|(_, s)| s.shrunk.is_some()));
    let good = list[1].0;
    let policy = RetentionPolicy {
        keep_last: Some(2),
        ..Default::default()
    };
    let groups = apply(&mut list, &policy);
    let kept = groups[0].keep.iter().find(|k| k.id == good).expect("kept");
    assert_eq!(kept.reasons, [KEPT_INTACT]);
    assert!(list.iter().any(|(id, _)| *id == good));
    assert_eq!(list.len(), 3);
}

#[derive(Debug, Clone)]
enum Step {
    Backup { volume: usize, files: u64, gap: i64 },
    Forget(RetentionPolicy),
}

fn policy() -> impl Strategy<Value = RetentionPolicy> {
    (
        0u32..4,
        0u32..4,
        0u32..3,
        prop::option::of(1i32..72),
        any::<bool>(),
    )
        .prop_map(|(last, daily, weekly, within, tag)| RetentionPolicy {
            keep_last: Some(last),
            keep_daily: Some(daily),
            keep_weekly: Some(weekly),
            keep_within: within.map(|h| crate::retention::CalendarDuration {
                hours: h,
                ..Default::default()
            }),
            keep_tags: if tag {
                vec![vec!["none".into()]]
            } else {
                vec![]
            },
            ..Default::default()
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..2, prop_oneof![Just(0u64), 1u64..5, 5u64..20], 1i64..40)
            .prop_map(|(volume, files, gap)| Step::Backup { volume, files, gap }),
        1 => policy().prop_map(Step::Forget),
    ]
}

proptest! {
    /// No sequence of backups (some of them shrunk) and forgets ever deletes the newest
    /// unflagged snapshot of a volume while newer ones are flagged.
    #[test]
    fn no_forget_deletes_the_newest_unflagged_snapshot(steps in prop::collection::vec(step(), 1..40)) {
        let volumes = ["app-data", "db"];
        let mut list = Vec::new();
        let mut hour = 0;
        for (nr, step) in steps.into_iter().enumerate() {
            match step {
                Step::Backup { volume, files, gap } => {
                    hour += gap;
                    backup(&mut list, volumes[volume], hour, files, nr);
                }
                Step::Forget(policy) => {
                    let before: Vec<Option<Id>> =
                        volumes.iter().map(|v| protected(&list, v)).collect();
                    apply(&mut list, &policy);
                    for (v, p) in volumes.iter().zip(before) {
                        if let Some(p) = p {
                            prop_assert!(
                                list.iter().any(|(id, _)| *id == p),
                                "volume {v}: forget ({policy}) deleted {p}"
                            );
                        }
                    }
                }
            }
        }
    }
}
