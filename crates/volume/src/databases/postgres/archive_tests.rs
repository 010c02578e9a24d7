//! The spool's guarantees: a spooled file is whole under its final name, a file past
//! the bound is acknowledged and recorded as a drop, a file that is not WAL (or of a
//! later timeline than its name) is refused, the first segment of a new timeline (an
//! older timeline in its header) is taken, and the uploader's view matches.

use super::*;

const SEG: u32 = 1 << 20;
const SYSID: u64 = 7_300_000_000_000_000_042;

/// A data directory with `global/pg_control` and a WAL segment `name` of `SEG` bytes.
fn data_dir(name: &str, tli: u32) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(d.path().join("global")).expect("global");
    fs::create_dir_all(d.path().join("pg_wal")).expect("pg_wal");
    let mut control = SYSID.to_le_bytes().to_vec();
    control.resize(8192, 0);
    fs::write(d.path().join("global/pg_control"), control).expect("control");
    write_segment(d.path(), name, tli);
    d
}

fn write_segment(dir: &Path, name: &str, tli: u32) {
    let mut seg = vec![0u8; SEG as usize];
    seg[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
    seg[2..4].copy_from_slice(&0x0002u16.to_le_bytes());
    seg[4..8].copy_from_slice(&tli.to_le_bytes());
    seg[24..32].copy_from_slice(&SYSID.to_le_bytes());
    seg[32..36].copy_from_slice(&SEG.to_le_bytes());
    seg[36..40].copy_from_slice(&8192u32.to_le_bytes());
    seg[100] = name.len() as u8;
    fs::write(dir.join("pg_wal").join(name), seg).expect("segment");
}

#[test]
fn a_segment_is_spooled_whole_under_its_final_name_and_seen_by_the_uploader() {
    let d = data_dir("000000010000000000000003", 1);
    let spool_dir = tempfile::tempdir().expect("spool");
    let spool = Spool::new(spool_dir.path(), 10 * u64::from(SEG));
    let done = spool
        .archive(d.path(), Path::new("pg_wal/000000010000000000000003"))
        .expect("archive");
    assert_eq!(
        done,
        Archived::Spooled {
            spool_bytes: u64::from(SEG)
        }
    );
    let names: Vec<String> = fs::read_dir(spool_dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![format!("{SYSID}_{SEG}_000000010000000000000003")],
        "no temp file left"
    );
    let waiting = spool.waiting().expect("waiting");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].source.system_identifier, SYSID);
    assert_eq!(waiting[0].source.segment_size, SEG);
    assert_eq!(waiting[0].source.segno_of(&waiting[0].name), Some(3));
    // Archived again (Postgres retries after a crash): acknowledged, nothing doubled.
    spool
        .archive(d.path(), Path::new("pg_wal/000000010000000000000003"))
        .expect("again");
    assert_eq!(spool.bytes().expect("bytes"), u64::from(SEG));
}

#[test]
fn past_the_bound_a_file_is_acknowledged_dropped_and_recorded() {
    let d = data_dir("000000010000000000000001", 1);
    write_segment(d.path(), "000000010000000000000002", 1);
    write_segment(d.path(), "000000010000000000000003", 1);
    let spool_dir = tempfile::tempdir().expect("spool");
    let spool = Spool::new(spool_dir.path(), 2 * u64::from(SEG) + 10);
    for n in 1..=2 {
        let p = format!("pg_wal/00000001000000000000000{n}");
        assert!(matches!(
            spool.archive(d.path(), Path::new(&p)).expect("archive"),
            Archived::Spooled { .. }
        ));
    }
    let third = spool
        .archive(d.path(), Path::new("pg_wal/000000010000000000000003"))
        .expect("a drop is acknowledged, never an error");
    assert_eq!(
        third,
        Archived::Dropped {
            spool_bytes: 2 * u64::from(SEG)
        }
    );
    assert!(
        spool.bytes().expect("bytes") <= spool.max_bytes,
        "the bound holds"
    );
    let drops = spool.drops().expect("drops");
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].1.segno, Some(3));
    assert_eq!(drops[0].1.system_identifier, SYSID.to_string());
    let files: Vec<PathBuf> = drops.into_iter().map(|(p, _)| p).collect();
    spool.clear_drops(&files).expect("clear");
    assert!(spool.drops().expect("drops").is_empty());
    assert_eq!(spool.waiting().expect("waiting").len(), 2);
}

#[test]
fn files_that_are_not_what_their_name_says_are_refused() {
    let d = data_dir("000000010000000000000001", 2);
    let spool_dir = tempfile::tempdir().expect("spool");
    let spool = Spool::new(spool_dir.path(), 1 << 30);
    let wrong_tli = spool.archive(d.path(), Path::new("pg_wal/000000010000000000000001"));
    assert!(
        matches!(wrong_tli, Err(WalArchiveError::NotWal { .. })),
        "{wrong_tli:?}"
    );
    fs::write(d.path().join("postmaster.pid"), "1").expect("write");
    let other = spool.archive(d.path(), Path::new("postmaster.pid"));
    assert!(
        matches!(other, Err(WalArchiveError::NotWal { .. })),
        "{other:?}"
    );
    // A history file takes the cluster from pg_control.
    fs::write(
        d.path().join("pg_wal/00000002.history"),
        "1\t0/3000000\tno reason\n",
    )
    .expect("history");
    spool
        .archive(d.path(), Path::new("pg_wal/00000002.history"))
        .expect("history archived");
    let waiting = spool.waiting().expect("waiting");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].source.timeline, 2);
    assert_eq!(waiting[0].source.system_identifier, SYSID);
}

/// After a point-in-time restore the server switches to timeline 2 in the middle of a
/// segment: `000000020000000000000004` starts with a copy of timeline 1's pages, whose
/// long header says timeline 1. It was refused ("its header says timeline 1 …, its name
/// timeline 2"), so archiving failed for good after every restore.
#[test]
fn the_first_segment_of_a_new_timeline_carries_the_old_timeline_in_its_header() {
    let d = data_dir("000000020000000000000004", 1);
    let spool_dir = tempfile::tempdir().expect("spool");
    let spool = Spool::new(spool_dir.path(), 1 << 30);
    spool
        .archive(d.path(), Path::new("pg_wal/000000020000000000000004"))
        .expect("the switch segment is archived");
    let waiting = spool.waiting().expect("waiting");
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        waiting[0].source.timeline, 2,
        "under the timeline of its name"
    );
    assert_eq!(waiting[0].source.segno_of(&waiting[0].name), Some(4));
}

/// The restored cluster's new timeline history file (written while the replay ran with
/// `archive_mode=off`) is queued for archiving; files Postgres already queued or archived
/// are left alone.
#[test]
fn a_restores_new_timeline_history_is_queued_for_archiving() {
    let d = data_dir("000000020000000000000004", 1);
    let status = d.path().join("pg_wal/archive_status");
    fs::create_dir_all(&status).expect("status");
    for n in ["00000002.history", "00000003.history", "00000004.history"] {
        fs::write(d.path().join("pg_wal").join(n), "1\t0/3000000\tno reason\n").expect("history");
    }
    fs::write(status.join("00000002.history.done"), "").expect("done");
    fs::write(status.join("00000003.history.ready"), "").expect("ready");
    let queued = queue_unarchived_history(d.path()).expect("queue");
    assert_eq!(queued, vec!["00000004.history".to_string()]);
    assert!(status.join("00000004.history.ready").is_file());
    assert!(
        queue_unarchived_history(d.path())
            .expect("again")
            .is_empty()
    );
}
