//! Table-driven retention tests: one case per policy, the expected kept set written out.

use super::*;

const TIMES: [&str; 10] = [
    "2024-01-01T10:00:00Z",
    "2024-01-01T11:30:00Z",
    "2024-01-01T11:45:00Z",
    "2024-01-02T09:00:00Z",
    "2024-01-08T09:00:00Z",
    "2024-01-09T09:00:00Z",
    "2024-02-15T09:00:00Z",
    "2024-03-31T09:00:00Z",
    "2025-01-05T09:00:00Z",
    "2025-01-06T09:00:00Z",
];

struct Snap {
    nr: usize,
    time: DateTime<FixedOffset>,
    tags: Vec<String>,
}

fn snaps() -> Vec<Snap> {
    TIMES
        .iter()
        .enumerate()
        .map(|(nr, t)| Snap {
            nr,
            time: DateTime::parse_from_rfc3339(t).expect("test time"),
            tags: match nr {
                2 => vec!["pre-deploy".into()],
                3 => vec!["x".into(), "y".into()],
                _ => vec![],
            },
        })
        .collect()
}

fn kept(policy: &RetentionPolicy) -> Vec<usize> {
    let decisions = apply_policy(snaps(), policy, |s| s.time, |s| &s.tags);
    for d in &decisions {
        assert_eq!(d.keep, !d.reasons.is_empty());
    }
    decisions
        .into_iter()
        .filter(|d| d.keep)
        .map(|d| d.item.nr)
        .collect()
}

fn dur(s: &str) -> Option<CalendarDuration> {
    Some(s.parse().expect("test duration"))
}

#[test]
fn policies_keep_the_expected_snapshots() {
    let p = RetentionPolicy::default;
    let cases: Vec<(&str, RetentionPolicy, Vec<usize>)> = vec![
        (
            "last 3",
            RetentionPolicy {
                keep_last: Some(3),
                ..p()
            },
            vec![9, 8, 7],
        ),
        (
            "last 20",
            RetentionPolicy {
                keep_last: Some(20),
                ..p()
            },
            vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        ),
        (
            "hourly 3",
            RetentionPolicy {
                keep_hourly: Some(3),
                ..p()
            },
            vec![9, 8, 7],
        ),
        (
            "hourly 10",
            RetentionPolicy {
                keep_hourly: Some(10),
                ..p()
            },
            vec![9, 8, 7, 6, 5, 4, 3, 2, 0],
        ),
        (
            "daily 5",
            RetentionPolicy {
                keep_daily: Some(5),
                ..p()
            },
            vec![9, 8, 7, 6, 5],
        ),
        (
            "weekly 3",
            RetentionPolicy {
                keep_weekly: Some(3),
                ..p()
            },
            vec![9, 8, 7],
        ),
        (
            "weekly 10 keeps the oldest",
            RetentionPolicy {
                keep_weekly: Some(10),
                ..p()
            },
            vec![9, 8, 7, 6, 5, 3, 0],
        ),
        (
            "monthly 2",
            RetentionPolicy {
                keep_monthly: Some(2),
                ..p()
            },
            vec![9, 7],
        ),
        (
            "yearly 5 keeps the oldest",
            RetentionPolicy {
                keep_yearly: Some(5),
                ..p()
            },
            vec![9, 7, 0],
        ),
        (
            "within 1m",
            RetentionPolicy {
                keep_within: dur("1m"),
                ..p()
            },
            vec![9, 8],
        ),
        (
            "within 1y",
            RetentionPolicy {
                keep_within: dur("1y"),
                ..p()
            },
            vec![9, 8, 7, 6, 5, 4],
        ),
        (
            "within-monthly 1y",
            RetentionPolicy {
                keep_within_monthly: dur("1y"),
                ..p()
            },
            vec![9, 7, 6, 5],
        ),
        (
            "within-daily 2d",
            RetentionPolicy {
                keep_within_daily: dur("2d"),
                ..p()
            },
            vec![9, 8],
        ),
        (
            "tag",
            RetentionPolicy {
                keep_tags: vec![vec!["pre-deploy".into()]],
                ..p()
            },
            vec![2],
        ),
        (
            "tag set needs all",
            RetentionPolicy {
                keep_tags: vec![vec!["x".into(), "z".into()]],
                ..p()
            },
            vec![],
        ),
        (
            "last 1 + tag",
            RetentionPolicy {
                keep_last: Some(1),
                keep_tags: vec![vec!["pre-deploy".into()]],
                ..p()
            },
            vec![9, 2],
        ),
        (
            "last 2 + monthly 3",
            RetentionPolicy {
                keep_last: Some(2),
                keep_monthly: Some(3),
                ..p()
            },
            vec![9, 8, 7, 6],
        ),
        ("empty keeps all", p(), vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
    ];
    for (name, policy, want) in cases {
        assert_eq!(kept(&policy), want, "case {name} ({policy})");
    }
}

#[test]
fn reasons_are_reported() {
    let policy = RetentionPolicy {
        keep_last: Some(1),
        keep_daily: Some(1),
        ..Default::default()
    };
    let d = apply_policy(snaps(), &policy, |s| s.time, |s| &s.tags);
    assert_eq!(d[0].reasons, ["last snapshot", "daily snapshot"]);
    assert!(!d[1].keep);
    assert!(apply_policy(Vec::<Snap>::new(), &policy, |s| s.time, |s| &s.tags).is_empty());
}

#[test]
fn calendar_durations() {
    let d: CalendarDuration = "1y2m3d4h".parse().expect("parse");
    assert_eq!(
        d,
        CalendarDuration {
            years: 1,
            months: 2,
            days: 3,
            hours: 4
        }
    );
    assert_eq!(d.to_string(), "1y2m3d4h");
    assert_eq!("2w".parse::<CalendarDuration>().map(|d| d.days), Ok(14));
    for bad in ["", "d", "5", "3x", "0d"] {
        assert!(bad.parse::<CalendarDuration>().is_err(), "{bad:?}");
    }
    let t = DateTime::parse_from_rfc3339("2023-03-31T12:00:00+02:00").expect("time");
    let month = CalendarDuration {
        months: 1,
        ..Default::default()
    };
    assert_eq!(
        month.before(t).to_rfc3339(),
        "2023-03-03T12:00:00+02:00",
        "Go AddDate normalisation"
    );
    let hours = CalendarDuration {
        hours: 13,
        ..Default::default()
    };
    assert_eq!(hours.before(t).to_rfc3339(), "2023-03-30T23:00:00+02:00");
}
