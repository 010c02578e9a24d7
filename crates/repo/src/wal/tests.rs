//! Tests of the `wal/` objects: round trips, names checked against content, plans and
//! their refusal of a hole, compaction.

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::test_support::memory_repo;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::seconds(1_700_000_000 + s)
}

fn page(n: u32, fill: u8) -> Page {
    Page {
        number: n,
        data: Bytes::from(vec![fill; 512]),
    }
}

fn seg(lineage: Id, first: u64, last: u64) -> Segment {
    Segment {
        lineage,
        level: 0,
        page_size: 512,
        txns: (first..=last)
            .map(|txid| Txn {
                txid,
                time: t(txid as i64),
                db_pages: 2,
                pages: vec![page(2, txid as u8)],
            })
            .collect(),
    }
}

async fn lineage_with(repo: &Repository, ranges: &[(u64, u64)]) -> Result<Id> {
    let id = new_lineage()?;
    let part = write_base_part(repo, &id, 0, &[page(1, 1), page(2, 0)]).await?;
    for &(f, l) in ranges {
        write_segment(repo, &seg(id, f, l)).await?;
    }
    let head = Head {
        version: 1,
        lineage: id,
        database: "db/app.db".into(),
        volume: Some("data".into()),
        hostname: "h".into(),
        time: t(0),
        page_size: 512,
        parts: vec![part],
        pages: 2,
        consistent: 1,
        reason: Reason::Start,
        previous: None,
        postgres: None,
    };
    write_head(repo, &head).await?;
    Ok(id)
}

#[tokio::test]
async fn segments_round_trip_and_their_names_are_checked() -> Result<()> {
    let repo = memory_repo().await?;
    let id = new_lineage()?;
    let s = seg(id, 1, 3);
    let (key, _) = write_segment(&repo, &s).await?;
    assert_eq!(read_segment(&repo, &key).await?, s);
    // The same bytes under another range's name are damage, named.
    let bytes = repo.read(&key).await?;
    let fake = key.replace("-0000000000000003-", "-0000000000000004-");
    repo.store().write(&fake, bytes).await?;
    let e = read_segment(&repo, &fake)
        .await
        .expect_err("renamed segment");
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(&fake), "{e}");
    Ok(())
}

#[tokio::test]
async fn a_plan_covers_the_chain_and_refuses_a_hole_naming_it() -> Result<()> {
    let repo = memory_repo().await?;
    lineage_with(&repo, &[(1, 2), (3, 5), (8, 9)]).await?;
    let all = lineages(&repo).await?;
    let p = plan(&all, "db/app.db", Target::Time(t(5)))?;
    assert_eq!(p.txid, 5);
    assert_eq!(p.segments.len(), 2);
    let e = plan(&all, "db/app.db", Target::Newest).expect_err("gap");
    match &e {
        Error::ChainGap { from, to, .. } => assert_eq!((*from, *to), (6, 7)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("6..=7"), "{e}");
    let e = plan(&all, "db/other.db", Target::Newest).expect_err("unknown");
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    Ok(())
}

#[tokio::test]
async fn compaction_bounds_the_objects_a_restore_reads() -> Result<()> {
    let repo = memory_repo().await?;
    let ranges: Vec<(u64, u64)> = (1..=40).map(|i| (i, i)).collect();
    let id = lineage_with(&repo, &ranges).await?;
    let all = lineages(&repo).await?;
    let l = all.iter().find(|l| l.id == id).expect("lineage");
    let r = compact(&repo, l).await?;
    assert_eq!(r.written, 2);
    let all = lineages(&repo).await?;
    let p = plan(&all, "db/app.db", Target::Newest)?;
    // 1..=16 and 17..=32 compacted, 33..=40 as they were.
    assert_eq!(p.segments.len(), 2 + 8);
    let merged = read_segment(&repo, &p.segments[0].key).await?;
    assert_eq!(merged.txns.len(), 16);
    assert_eq!(merged.txns[15].pages, vec![page(2, 16)]);
    // A time inside a compacted range still plans through level 0.
    let p = plan(&all, "db/app.db", Target::Time(t(7)))?;
    assert_eq!(p.txid, 7);
    assert!(p.segments.iter().all(|s| s.level == 0));
    // Compacting again writes nothing new.
    let l = all.iter().find(|l| l.id == id).expect("lineage");
    assert_eq!(compact(&repo, l).await?.written, 0);
    Ok(())
}

#[tokio::test]
async fn prune_wal_keeps_lineages_whose_age_the_store_does_not_say() -> Result<()> {
    let repo = memory_repo().await?;
    let old = lineage_with(&repo, &[(1, 1)]).await?;
    let newest = lineage_with(&repo, &[(1, 1)]).await?;
    let opts = WalPruneOptions {
        point_in_time: TimeDelta::zero(),
        grace: TimeDelta::zero(),
        ..WalPruneOptions::default()
    };
    let report = prune_wal(&repo, &opts).await?;
    let left = lineages(&repo).await?;
    // memory:// keeps no write times: every lineage counts as young and stays.
    assert_eq!(report.deleted, 0);
    assert_eq!(left.len(), 2);
    assert!(left.iter().any(|l| l.id == old) && left.iter().any(|l| l.id == newest));
    Ok(())
}

#[tokio::test]
async fn prune_wal_deletes_a_lineage_no_kept_point_needs_and_keeps_the_newest() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = holdfast_store::Store::open(&format!("file://{}", dir.path().display()))?;
    let opts = crate::InitOptions {
        password: "pw".into(),
        kdf: crate::KdfParams::insecure_fast(),
    };
    let repo = crate::init(store, &opts).await?;
    let old = lineage_with(&repo, &[(1, 1), (2, 2)]).await?;
    let newest = lineage_with(&repo, &[(1, 1)]).await?;
    let all = lineages(&repo).await?;
    assert_eq!(all.len(), 2);
    let no_window = WalPruneOptions {
        point_in_time: TimeDelta::zero(),
        grace: TimeDelta::zero(),
        ..WalPruneOptions::default()
    };
    let report = prune_wal(&repo, &no_window).await?;
    assert_eq!(report.deleted, 1, "{report:?}");
    let left = lineages(&repo).await?;
    assert_eq!(left.len(), 1);
    // Of two lineages with the same head time, the one with the larger id is newest;
    // the ids are random, so either may be the one deleted.
    let kept = left[0].id;
    assert!(kept == old.max(newest));
    let deleted_objects = if kept == newest {
        4 // the old one: two segments, one base part, the head
    } else {
        3 // the other: one segment, one base part, the head
    };
    assert_eq!(report.objects, deleted_objects, "{report:?}");
    // With the default grace (one hour), nothing this young is deleted.
    lineage_with(&repo, &[(1, 1)]).await?;
    let report = prune_wal(&repo, &WalPruneOptions::default()).await?;
    assert_eq!(report.deleted, 0);
    Ok(())
}

/// Found from outside: `prune` (the command, and the scheduled forget-and-prune job)
/// never called the `wal/` prune, so a replicated database's segments piled up in the
/// repository for ever. Prune now deletes the lineages no kept point needs, under its
/// own lock, and says so in its report.
#[tokio::test]
async fn prune_deletes_the_wal_lineages_no_kept_point_needs() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let store = holdfast_store::Store::open(&format!("file://{}", dir.path().display()))?;
    let opts = crate::InitOptions {
        password: "pw".into(),
        kdf: crate::KdfParams::insecure_fast(),
    };
    let repo = crate::init(store, &opts).await?;
    lineage_with(&repo, &[(1, 1), (2, 2)]).await?;
    lineage_with(&repo, &[(1, 1)]).await?;
    let prune = crate::PruneOptions {
        point_in_time: TimeDelta::zero(),
        unindexed_grace: TimeDelta::zero(),
        ..crate::PruneOptions::default()
    };
    let report = crate::prune(&repo, &prune).await?;
    assert_eq!(report.wal.deleted, 1, "{:?}", report.wal);
    assert_eq!(report.wal.kept, 1, "{:?}", report.wal);
    assert_eq!(lineages(&repo).await?.len(), 1);
    Ok(())
}
