//! Each error once: a failing repository makes the same long message the banner's
//! reason, every volume's last-backup failure, the snapshot listing's failure and a
//! job's result. The first place shows it in full (with class `error`); every later
//! place that holds it says "the reason above" instead.

/// Messages shorter than this are said again (`no backup of this volume yet` on each
/// card); an error with its cause is longer.
const LONG: usize = 48;

/// What words to put where an error already shown would stand again.
pub const ABOVE: &str = "the reason above";

/// The errors shown so far on this page.
#[derive(Default)]
pub struct Once {
    shown: Vec<String>,
}

impl Once {
    /// `text` with every error already shown replaced by [`ABOVE`], and whether
    /// anything was replaced. What is left, if long, is recorded as shown.
    pub fn say(&mut self, text: &str) -> (String, bool) {
        let mut out = text.to_string();
        for s in &self.shown {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), ABOVE);
            }
        }
        let replaced = out != text;
        if !replaced && text.len() >= LONG {
            self.shown.push(text.to_string());
        }
        (out, replaced)
    }

    /// Records `text` as shown.
    pub fn record(&mut self, text: &str) {
        if text.len() >= LONG {
            self.shown.push(text.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_shown_once_is_referred_to_afterwards() {
        let mut o = Once::default();
        let e = "no repository at file:///r: check the URL, or run holdfast init";
        o.record(e);
        let (t, r) = o.say(&format!("last backup failed 1s ago: {e}"));
        assert_eq!(
            (t.as_str(), r),
            ("last backup failed 1s ago: the reason above", true)
        );
        let (t, r) = o.say("no backup of this volume yet");
        assert_eq!((t.as_str(), r), ("no backup of this volume yet", false));
        let (t, _) = o.say("no backup of this volume yet");
        assert_eq!(t, "no backup of this volume yet");
        let (t, r) = o.say("disk full on /srv/data: free some space or grow the volume");
        assert_eq!(
            (t.as_str(), r),
            (
                "disk full on /srv/data: free some space or grow the volume",
                false
            )
        );
        let (t, _) = o.say("failed: disk full on /srv/data: free some space or grow the volume");
        assert_eq!(t, "failed: the reason above");
    }
}
