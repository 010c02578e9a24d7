//! Small parsers for the human units in holdfast.toml and on the command line: byte sizes
//! (`10Gi`, `10GiB`, `10GB`, `500Mi`, `1024`), percentages (`80%`) and durations (`7d`,
//! `12h`, `30m`, `2w`, `1y`, `1d12h`).
//!
//! Binary suffixes (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, optionally followed by `B`) count in
//! powers of 1024, decimal ones (`K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB`, `P`/`PB`) in
//! powers of 1000; a bare number is bytes. Duration units are `s`, `m` (minutes), `h`, `d`,
//! `w`, `mo` (30 days) and `y` (365 days); several may follow each other, largest first
//! or not.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A value that could not be parsed as a size, percentage or duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`: {reason}")]
pub struct UnitError {
    /// What was expected: "size", "percentage" or "duration".
    pub what: &'static str,
    /// The text that was given.
    pub input: String,
    /// Why it was refused, with the accepted forms.
    pub reason: String,
}

impl UnitError {
    fn new(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        UnitError {
            what,
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

/// Parses a byte size: `10Gi`, `10GiB`, `10GB`, `1.5G`, `500Mi`, `1024`.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    const FORMS: &str = "use a number with Ki/Mi/Gi/Ti (1024-based) or K/M/G/T (1000-based) \
                         and an optional B, e.g. 10Gi, 500MiB, 2GB, 1024";
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(UnitError::new("size", input, FORMS));
    }
    let unit = unit.trim();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1000_u64.pow(2),
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1000_u64.pow(3),
        "gi" | "gib" => 1 << 30,
        "t" | "tb" => 1000_u64.pow(4),
        "ti" | "tib" => 1 << 40,
        "p" | "pb" => 1000_u64.pow(5),
        "pi" | "pib" => 1 << 50,
        _ => {
            return Err(UnitError::new(
                "size",
                input,
                format!("unknown unit `{unit}`; {FORMS}"),
            ));
        }
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(multiplier)
            .ok_or_else(|| UnitError::new("size", input, "too large"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::new("size", input, FORMS))?;
    let bytes = (value * multiplier as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(UnitError::new("size", input, "too large"));
    }
    Ok(bytes as u64)
}

/// Parses a percentage between 0 and 100: `80%`, `92.5%` or a bare `80`.
pub fn parse_percent(input: &str) -> Result<f64, UnitError> {
    let s = input.trim();
    let number = s.strip_suffix('%').unwrap_or(s).trim();
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::new("percentage", input, "use a number with %, e.g. 80%"))?;
    check_percent(input, value)
}

fn check_percent(input: &str, value: f64) -> Result<f64, UnitError> {
    if !(0.0..=100.0).contains(&value) {
        return Err(UnitError::new(
            "percentage",
            input,
            "must be between 0% and 100%",
        ));
    }
    Ok(value)
}

/// Parses a duration: `7d`, `12h`, `30m`, `45s`, `2w`, `3mo`, `1y` or a combination such
/// as `1d12h`. `m` is minutes; months are `mo` (30 days), years `y` (365 days).
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    const FORMS: &str = "use a number with ms, s, m, h, d, w, mo or y, e.g. 7d, 12h, 1d12h";
    let s = input.trim();
    if s.is_empty() {
        return Err(UnitError::new("duration", input, FORMS));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(UnitError::new("duration", input, FORMS));
        }
        let (number, tail) = rest.split_at(digits);
        let units = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(units);
        let millis: u64 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "mo" => 30 * 86_400_000,
            "y" => 365 * 86_400_000,
            "" => {
                return Err(UnitError::new(
                    "duration",
                    input,
                    format!("`{number}` has no unit; {FORMS}"),
                ));
            }
            other => {
                return Err(UnitError::new(
                    "duration",
                    input,
                    format!("unknown unit `{other}`; {FORMS}"),
                ));
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| UnitError::new("duration", input, "too large"))?;
        total = n
            .checked_mul(millis)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| UnitError::new("duration", input, "too large"))?;
        rest = tail;
    }
    Ok(Duration::from_millis(total))
}

/// Formats bytes for people, 1024-based: `0 B`, `512 B`, `1.5 KiB`, `10.0 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Formats a duration the way [`parse_duration`] reads it, largest units first: `1d12h`.
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    let millis = duration.subsec_millis();
    if secs == 0 && millis == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if millis > 0 {
        out.push_str(&format!("{millis}ms"));
    }
    out
}

/// A byte size read from holdfast.toml: a string such as `"10Gi"` or an integer of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

impl std::str::FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_size(s).map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"10Gi\", \"500MiB\", \"2GB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A percentage between 0 and 100 read from holdfast.toml: `"80%"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    /// The value, 0 to 100.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage such as \"80%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                parse_percent(v).map(Percent).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                if v > 0.0 && v < 1.0 {
                    return Err(E::custom(format!(
                        "{v} is ambiguous: write the percentage as a string, \"{}%\" or \"{v}%\"",
                        v * 100.0
                    )));
                }
                check_percent(&v.to_string(), v)
                    .map(Percent)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A duration read from holdfast.toml: `"7d"`, `"12h"`, `"1d12h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        parse_duration(&s)
            .map(HumanDuration)
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, u64)] = &[
            ("1024", 1024),
            ("10Gi", 10 << 30),
            ("10GiB", 10 << 30),
            ("10GB", 10_000_000_000),
            ("10G", 10_000_000_000),
            ("500Mi", 500 << 20),
            ("500 MiB", 500 << 20),
            ("1.5Ki", 1536),
            ("0", 0),
            ("7b", 7),
            ("2tib", 2 << 40),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), Ok(*want), "{input}");
        }
        for bad in ["", "Gi", "10Xi", "-5Gi", "1e3", "99999999999Pi"] {
            assert!(parse_size(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("80%"), Ok(80.0));
        assert_eq!(parse_percent("92.5 %"), Ok(92.5));
        assert_eq!(parse_percent("50"), Ok(50.0));
        assert!(parse_percent("101%").is_err());
        assert!(parse_percent("x%").is_err());
    }

    #[test]
    fn durations() {
        let cases: &[(&str, u64)] = &[
            ("7d", 7 * 86_400),
            ("12h", 12 * 3600),
            ("30m", 1800),
            ("45s", 45),
            ("2w", 14 * 86_400),
            ("1y", 365 * 86_400),
            ("3mo", 90 * 86_400),
            ("1d12h", 86_400 + 12 * 3600),
            ("1h30m15s", 5415),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_secs(*want)),
                "{input}"
            );
        }
        for bad in ["", "7", "d", "7x", "1d 2h", "-1d"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(10 << 30), "10.0 GiB");
        for d in ["1d12h", "30m", "7d", "1h30m15s"] {
            let parsed = parse_duration(d).expect("valid");
            assert_eq!(format_duration(parsed), d);
        }
    }
}
