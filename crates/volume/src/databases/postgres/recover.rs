//! Restore to a time (written below).
