//! `verify --read-data-subset`: which packs one run reads back.

use crate::error::{Error, Result};
use crate::id::Id;

/// A slice of the packs for `verify --read-data-subset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Subset {
    /// Part `n` of `m` (1-based): the packs whose id, read as a number, leaves `n - 1`
    /// modulo `m`. Running 1/m … m/m covers every pack once.
    Part {
        /// Which part, 1 ..= `m`.
        n: u32,
        /// How many parts.
        m: u32,
    },
    /// About this fraction of the packs (0 < f <= 1), picked at random each run.
    Fraction(f64),
}

impl Subset {
    /// Parses `N/M` or `N%` (`2/7`, `10%`, `2.5%`).
    pub fn parse(text: &str) -> Result<Subset> {
        let bad = || {
            Error::Invalid(format!(
                "read-data subset {text:?}: expected N/M (1 <= N <= M) or N% (0 < N <= 100)"
            ))
        };
        if let Some(pct) = text.strip_suffix('%') {
            let f: f64 = pct.trim().parse().map_err(|_| bad())?;
            if !(f > 0.0 && f <= 100.0) {
                return Err(bad());
            }
            return Ok(Subset::Fraction(f / 100.0));
        }
        let (n, m) = text.split_once('/').ok_or_else(bad)?;
        let (n, m): (u32, u32) = (
            n.trim().parse().map_err(|_| bad())?,
            m.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || m == 0 || n > m {
            return Err(bad());
        }
        Ok(Subset::Part { n, m })
    }

    /// Whether pack `id` is in the slice.
    pub fn contains(&self, id: &Id) -> bool {
        let mut head = [0u8; 8];
        head.copy_from_slice(&id.0[..8]);
        let x = u64::from_be_bytes(head);
        match *self {
            Subset::Part { n, m } => x % u64::from(m) == u64::from(n - 1),
            Subset::Fraction(f) => {
                let mut r = [0u8; 8];
                match crate::crypto::random_bytes(&mut r) {
                    Ok(()) => (u64::from_le_bytes(r) as f64) < f * (u64::MAX as f64),
                    Err(_) => true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts_and_percentages_and_rejects_the_rest() {
        assert_eq!(Subset::parse("2/7").ok(), Some(Subset::Part { n: 2, m: 7 }));
        assert_eq!(Subset::parse("10%").ok(), Some(Subset::Fraction(0.1)));
        for bad in ["0/3", "4/3", "3", "/", "0%", "101%", "x%", "1/0", ""] {
            assert!(Subset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_parts_cover_every_pack_exactly_once() {
        let ids: Vec<Id> = (0..500u32).map(|i| Id::hash(&i.to_le_bytes())).collect();
        for m in [1u32, 2, 3, 7] {
            for id in &ids {
                let hits = (1..=m)
                    .filter(|&n| Subset::Part { n, m }.contains(id))
                    .count();
                assert_eq!(hits, 1, "{id} in {hits} of {m} parts");
            }
        }
        assert!(ids.iter().all(|id| Subset::Fraction(1.0).contains(id)));
    }
}
