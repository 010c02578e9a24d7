//! Retention policies with restic's `forget` semantics.
//!
//! How it works (the same algorithm as restic 0.16+, `internal/restic/snapshot_policy.go`):
//! the snapshots of one group are sorted newest first and visited in that order. Each
//! `keep-*` count is a bucket with a counter and the "last value" it saw; the value of a
//! snapshot is its position for `last`, and its hour / day / ISO week / month / year in
//! the snapshot's own time zone for the others. A snapshot whose value differs from the
//! bucket's last value is kept by that bucket (which counts down); the oldest snapshot is
//! also kept by every bucket that still has counts left, so a young repository keeps its
//! history. `keep-within D` keeps everything newer than *latest − D* (calendar
//! arithmetic: years, months, days, hours, counted from the newest snapshot, not from
//! now); `keep-within-daily D` etc. keep one snapshot per day (…) within that window,
//! without a count. `keep-tag` keeps every snapshot carrying all tags of one of its sets.
//! An empty policy keeps everything.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Timelike};

/// A calendar duration as restic writes it: `1y2m3d4h` (years, months, days, hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarDuration {
    /// Years.
    pub years: i32,
    /// Months.
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Hours.
    pub hours: i32,
}

/// A `keep-within` duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {why} (use e.g. 7d, 2w, 1y6m, 36h)")]
pub struct DurationError {
    input: String,
    why: &'static str,
}

impl CalendarDuration {
    /// True when every part is zero.
    pub fn is_zero(&self) -> bool {
        *self == CalendarDuration::default()
    }

    /// Whole hours of a std duration (how a `[retention] keep_within` from the config,
    /// given in hours or days, maps onto restic's form).
    pub fn from_std(d: std::time::Duration) -> Self {
        CalendarDuration {
            hours: i32::try_from(d.as_secs() / 3600).unwrap_or(i32::MAX),
            ..Default::default()
        }
    }

    /// `t` minus this duration, with Go's `AddDate` normalisation (Mar 31 − 1 month is
    /// Mar 3, as in restic).
    pub fn before(&self, t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        let local = t.naive_local();
        let months0 = local.year() as i64 * 12 + local.month0() as i64
            - self.years as i64 * 12
            - self.months as i64;
        let (y, m0) = (months0.div_euclid(12), months0.rem_euclid(12));
        let first = NaiveDate::from_ymd_opt(y as i32, m0 as u32 + 1, 1).unwrap_or(NaiveDate::MIN);
        let date = first + Duration::days(local.day() as i64 - 1 - self.days as i64);
        let naive = date.and_time(local.time()) - Duration::hours(self.hours as i64);
        naive.and_local_timezone(*t.offset()).single().unwrap_or(t)
    }
}

impl FromStr for CalendarDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| DurationError {
            input: s.to_string(),
            why,
        };
        let mut d = CalendarDuration::default();
        let mut num = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            if num.is_empty() {
                return Err(err("a unit without a number"));
            }
            let n: i32 = num.parse().map_err(|_| err("number too large"))?;
            num.clear();
            match c {
                'y' => d.years += n,
                'm' => d.months += n,
                'w' => d.days += n * 7,
                'd' => d.days += n,
                'h' => d.hours += n,
                _ => return Err(err("unknown unit (y, m, w, d, h)")),
            }
        }
        if !num.is_empty() {
            return Err(err("a number without a unit"));
        }
        if d.is_zero() {
            return Err(err("empty duration"));
        }
        Ok(d)
    }
}

impl fmt::Display for CalendarDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ];
        for (n, unit) in parts {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Which snapshots of a group to keep. `None` (or 0) leaves a rule out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep the newest N snapshots.
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    pub keep_hourly: Option<u32>,
    /// … days.
    pub keep_daily: Option<u32>,
    /// … ISO weeks.
    pub keep_weekly: Option<u32>,
    /// … months.
    pub keep_monthly: Option<u32>,
    /// … years.
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot newer than the newest minus this.
    pub keep_within: Option<CalendarDuration>,
    /// One per hour within this window.
    pub keep_within_hourly: Option<CalendarDuration>,
    /// One per day within this window.
    pub keep_within_daily: Option<CalendarDuration>,
    /// One per week within this window.
    pub keep_within_weekly: Option<CalendarDuration>,
    /// One per month within this window.
    pub keep_within_monthly: Option<CalendarDuration>,
    /// One per year within this window.
    pub keep_within_yearly: Option<CalendarDuration>,
    /// Keep snapshots carrying all tags of any one of these sets.
    pub keep_tags: Vec<Vec<String>>,
}

impl RetentionPolicy {
    /// True when no rule is set (such a policy keeps everything).
    pub fn is_empty(&self) -> bool {
        let counts = [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ];
        let withins = [
            self.keep_within,
            self.keep_within_hourly,
            self.keep_within_daily,
            self.keep_within_weekly,
            self.keep_within_monthly,
            self.keep_within_yearly,
        ];
        counts.iter().all(|c| c.unwrap_or(0) == 0)
            && withins.iter().all(|w| w.is_none_or(|w| w.is_zero()))
            && self.keep_tags.is_empty()
    }
}

impl fmt::Display for RetentionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let counts = [
            (self.keep_last, "last"),
            (self.keep_hourly, "hourly"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ];
        for (n, what) in counts {
            if let Some(n) = n.filter(|n| *n > 0) {
                parts.push(format!("{n} {what}"));
            }
        }
        if let Some(w) = self.keep_within {
            parts.push(format!("all within {w}"));
        }
        for (w, what) in self.within_buckets() {
            parts.push(format!("{what} within {w}"));
        }
        for tags in &self.keep_tags {
            parts.push(format!("tagged {}", tags.join(",")));
        }
        if parts.is_empty() {
            f.write_str("keep everything")
        } else {
            write!(f, "keep {}", parts.join(", "))
        }
    }
}

#[derive(Clone, Copy)]
enum Bucket {
    Last,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    fn value(self, t: &DateTime<FixedOffset>, nr: usize) -> i64 {
        let (y, m, d, h) = (
            t.year() as i64,
            t.month() as i64,
            t.day() as i64,
            t.hour() as i64,
        );
        match self {
            Bucket::Last => nr as i64,
            Bucket::Hour => y * 1_000_000 + m * 10_000 + d * 100 + h,
            Bucket::Day => y * 10_000 + m * 100 + d,
            Bucket::Week => {
                let w = t.iso_week();
                w.year() as i64 * 100 + w.week() as i64
            }
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

impl RetentionPolicy {
    fn within_buckets(&self) -> Vec<(CalendarDuration, &'static str)> {
        [
            (self.keep_within_hourly, "hourly"),
            (self.keep_within_daily, "daily"),
            (self.keep_within_weekly, "weekly"),
            (self.keep_within_monthly, "monthly"),
            (self.keep_within_yearly, "yearly"),
        ]
        .into_iter()
        .filter_map(|(w, what)| w.filter(|w| !w.is_zero()).map(|w| (w, what)))
        .collect()
    }
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<T> {
    /// The snapshot (or whatever the caller passed).
    pub item: T,
    /// Kept or to be forgotten.
    pub keep: bool,
    /// Why it is kept (empty when forgotten).
    pub reasons: Vec<String>,
}

/// Applies `policy` to one group of snapshots; returns a decision per snapshot, newest
/// first. `time` and `tags` read a snapshot's time and tags.
pub fn apply_policy<T>(
    mut items: Vec<T>,
    policy: &RetentionPolicy,
    time: impl Fn(&T) -> DateTime<FixedOffset>,
    tags: impl Fn(&T) -> &[String],
) -> Vec<Decision<T>> {
    items.sort_by_key(|b| std::cmp::Reverse(time(b)));
    if policy.is_empty() {
        return items
            .into_iter()
            .map(|item| Decision {
                item,
                keep: true,
                reasons: vec!["policy is empty".into()],
            })
            .collect();
    }
    let Some(latest) = items.first().map(&time) else {
        return Vec::new();
    };
    let mut counted = [
        (policy.keep_last, Bucket::Last, "last snapshot"),
        (policy.keep_hourly, Bucket::Hour, "hourly snapshot"),
        (policy.keep_daily, Bucket::Day, "daily snapshot"),
        (policy.keep_weekly, Bucket::Week, "weekly snapshot"),
        (policy.keep_monthly, Bucket::Month, "monthly snapshot"),
        (policy.keep_yearly, Bucket::Year, "yearly snapshot"),
    ]
    .map(|(count, bucket, reason)| (count.unwrap_or(0), bucket, reason, None::<i64>));
    let mut within: Vec<(DateTime<FixedOffset>, Bucket, String, Option<i64>)> = [
        (policy.keep_within_hourly, Bucket::Hour, "hourly"),
        (policy.keep_within_daily, Bucket::Day, "daily"),
        (policy.keep_within_weekly, Bucket::Week, "weekly"),
        (policy.keep_within_monthly, Bucket::Month, "monthly"),
        (policy.keep_within_yearly, Bucket::Year, "yearly"),
    ]
    .into_iter()
    .filter_map(|(w, b, what)| {
        w.filter(|w| !w.is_zero())
            .map(|w| (w.before(latest), b, format!("{what} within {w}"), None))
    })
    .collect();
    let oldest = items.len() - 1;
    let mut out = Vec::with_capacity(items.len());
    for (nr, item) in items.into_iter().enumerate() {
        let t = time(&item);
        let mut reasons = Vec::new();
        let item_tags = tags(&item);
        for set in &policy.keep_tags {
            if set.iter().all(|want| item_tags.contains(want)) {
                reasons.push(format!("has tags {}", set.join(",")));
            }
        }
        if let Some(w) = policy.keep_within.filter(|w| !w.is_zero())
            && t > w.before(latest)
        {
            reasons.push(format!("within {w}"));
        }
        for (count, bucket, reason, last) in counted.iter_mut() {
            if *count == 0 {
                continue;
            }
            let val = bucket.value(&t, nr);
            if Some(val) != *last || nr == oldest {
                *last = Some(val);
                *count -= 1;
                reasons.push((*reason).to_string());
            }
        }
        for (cutoff, bucket, reason, last) in within.iter_mut() {
            if t > *cutoff {
                let val = bucket.value(&t, nr);
                if Some(val) != *last || nr == oldest {
                    *last = Some(val);
                    reasons.push(reason.clone());
                }
            }
        }
        out.push(Decision {
            item,
            keep: !reasons.is_empty(),
            reasons,
        });
    }
    out
}

#[cfg(test)]
mod tests;
