//! Postgres lineages: names, round trips, a file refused under another name, and
//! prune's rule (a kept base keeps the WAL it needs to reach the next kept one, and no
//! more).

use chrono::{TimeDelta, Utc};

use super::*;
use crate::test_support::memory_repo;

const SYSID: u64 = 7_300_000_000_000_000_001;

fn src(tli: u32) -> PgSource {
    PgSource {
        system_identifier: SYSID,
        timeline: tli,
        segment_size: 16 << 20,
    }
}

fn owner() -> PgOwner {
    PgOwner {
        volume: Some("v".into()),
        database: "shop".into(),
        hostname: "h".into(),
    }
}

#[test]
fn segment_names_and_numbers_round_trip() {
    let s = src(1);
    assert_eq!(s.segment_name(0x101), "000000010000000100000001");
    assert_eq!(s.segno_of("000000010000000100000001"), Some(0x101));
    assert_eq!(s.segno_of("00000002.history"), None);
    assert_eq!(timeline_of("00000002.history"), Some(2));
    assert_eq!(timeline_of("000000030000000000000004"), Some(3));
    assert_eq!(
        timeline_of("000000010000000000000002.00000028.backup"),
        Some(1)
    );
    assert_eq!(timeline_of("000000010000000000000005.partial"), Some(1));
    assert_eq!(timeline_of("../etc/passwd"), None);
    assert_eq!(timeline_of("x-y"), None);
}

#[tokio::test]
async fn archived_files_round_trip_and_refuse_another_name() -> Result<()> {
    let repo = memory_repo().await?;
    ensure_head(&repo, &src(1), &owner()).await?;
    ensure_head(&repo, &src(1), &owner()).await?;
    let seg = vec![7u8; 8192];
    let name = src(1).segment_name(3);
    let (key, _) = write_file(&repo, &src(1), &name, &seg, Utc::now()).await?;
    write_file(&repo, &src(1), "00000001.history", b"hist", Utc::now()).await?;
    let found = find_file(&repo, SYSID, 16 << 20, &name).await?;
    assert_eq!(found.as_deref(), Some(key.as_str()));
    assert_eq!(read_file(&repo, &key, &name).await?.as_ref(), &seg[..]);
    let other = src(1).segment_name(4);
    assert!(read_file(&repo, &key, &other).await.is_err());
    assert!(find_file(&repo, SYSID, 16 << 20, &other).await?.is_none());
    assert!(
        find_file(&repo, SYSID + 1, 16 << 20, &name)
            .await?
            .is_none()
    );
    let hist = find_file(&repo, SYSID, 16 << 20, "00000001.history").await?;
    assert!(hist.is_some());
    let all = pg_lineages(&repo).await?;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].segments.len(), 1);
    assert_eq!(all[0].files.len(), 1);
    // SQLite's listing sees the lineage, and SQLite's prune leaves it alone.
    let sq = crate::wal::lineages(&repo).await?;
    let doomed = crate::wal::keep::doomed(
        &sq,
        &[],
        Utc::now() + TimeDelta::days(30),
        &crate::wal::WalPruneOptions::default(),
    );
    assert!(doomed.is_empty(), "{doomed:?}");
    Ok(())
}

fn mark(lineage: Id, snap: u8, start: u64) -> (String, BaseMark, Option<DateTime<Utc>>) {
    let b = BaseMark {
        lineage,
        snapshot: Id([snap; 32]),
        volume: Some("v".into()),
        database: "shop".into(),
        start,
        stop: start,
        start_lsn: String::new(),
        stop_lsn: String::new(),
        time: DateTime::UNIX_EPOCH,
    };
    (format!("k-{start}"), b, Some(DateTime::UNIX_EPOCH))
}

fn listed(bases: &[(u8, u64)], segs: std::ops::Range<u64>) -> PgLineage {
    let id = Id([9; 32]);
    let head = Head {
        version: 1,
        lineage: id,
        database: "shop".into(),
        volume: None,
        hostname: "h".into(),
        time: DateTime::UNIX_EPOCH,
        page_size: 0,
        parts: vec![],
        pages: 0,
        consistent: 0,
        reason: Reason::Start,
        previous: None,
        postgres: Some(src(1)),
    };
    PgLineage {
        id,
        head: Some(("h".into(), head)),
        segments: segs
            .map(|n| PgSegmentRef {
                key: format!("s-{n}"),
                segno: n,
                time: DateTime::UNIX_EPOCH,
                written: Some(DateTime::UNIX_EPOCH),
            })
            .collect(),
        files: vec![],
        gaps: vec![],
        bases: bases.iter().map(|&(s, n)| mark(id, s, n)).collect(),
    }
}

#[test]
fn prune_keeps_from_the_oldest_kept_base_on() {
    let now = DateTime::UNIX_EPOCH + TimeDelta::days(10);
    let grace = TimeDelta::hours(1);
    // Bases at 2 (forgotten), 5 and 9 (kept): segments 0..5 go, 5.. stay.
    let l = listed(&[(1, 2), (2, 5), (3, 9)], 0..12);
    let gone = pg_doomed(
        std::slice::from_ref(&l),
        &[Id([2; 32]), Id([3; 32])],
        now,
        grace,
    );
    let want: Vec<String> = (0..5)
        .map(|n| format!("s-{n}"))
        .chain(["k-2".to_string()])
        .collect();
    assert_eq!(gone, want);
    // No kept base: nothing goes (a first base may still be under way).
    assert!(pg_doomed(std::slice::from_ref(&l), &[], now, grace).is_empty());
    // Young objects never go.
    assert!(pg_doomed(&[l], &[Id([3; 32])], DateTime::UNIX_EPOCH, grace).is_empty());
}
