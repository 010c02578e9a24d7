//! Turning byte offsets in a TOML text into the line and dotted key that a person can find.

use std::ops::Range;

/// 1-based line number of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The dotted key an error span points into: the enclosing table header, the key on the
/// span's line, and, inside an inline table, the key of the span there.
pub(crate) fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];

    let mut parts: Vec<String> = Vec::new();
    let header_line = line.trim_start().starts_with('[');
    let header_text = if header_line {
        line
    } else {
        enclosing_header(&text[..line_start])
    };
    if let Some(h) = header_name(header_text) {
        parts.push(h);
    }
    if !header_line && let Some(eq) = line.find('=') {
        let key = line[..eq].trim().trim_matches('"');
        if !key.is_empty() {
            parts.push(key.to_string());
        }
    }
    let in_inline_table = !header_line
        && line.contains('{')
        && line.find('=').is_some_and(|eq| line_start + eq < start);
    if in_inline_table && let Some(inner) = inline_key(text, span) {
        parts.push(inner);
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("."))
    }
}

/// The key of an error span inside an inline table: the span itself when an `=` follows
/// it, else the bare key written before the `=` that precedes it.
fn inline_key(text: &str, span: &Range<usize>) -> Option<String> {
    let is_bare = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let spanned = text.get(span.clone())?.trim().trim_matches('"');
    let after = text.get(span.end..)?.trim_start();
    if after.starts_with('=') && is_bare(spanned) {
        return Some(spanned.to_string());
    }
    let before = text.get(..span.start)?.trim_end();
    let before = before.strip_suffix('=')?.trim_end();
    let key_start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &before[key_start..];
    if is_bare(key) {
        Some(key.to_string())
    } else {
        None
    }
}

/// The last `[table]` or `[[array]]` header line in `before`.
fn enclosing_header(before: &str) -> &str {
    before
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .unwrap_or("")
}

fn header_name(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = t
        .strip_prefix("[[")
        .and_then(|r| r.split("]]").next())
        .or_else(|| t.strip_prefix('[').and_then(|r| r.split(']').next()))?;
    let name = inner.trim();
    if name.is_empty() {
        None
    } else {
        Some(name.to_string())
    }
}

/// Line of the `index`-th (0-based) `[[table]]` header, or, when `key` is given and
/// written inside that entry, the line of the key.
pub(crate) fn entry_line(
    text: &str,
    table: &str,
    index: usize,
    key: Option<&str>,
) -> Option<usize> {
    let header = format!("[[{table}]]");
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim().replace(' ', "") == header)
        .nth(index)
        .map(|(n, _)| n)?;
    let Some(key) = key else { return Some(at + 1) };
    let key_line = lines[at + 1..]
        .iter()
        .take_while(|l| !l.trim_start().starts_with('['))
        .position(|l| {
            l.find('=')
                .is_some_and(|eq| l[..eq].trim().trim_matches('"') == key)
        });
    Some(key_line.map_or(at + 1, |k| at + k + 2))
}

/// Line of `key` inside the `[table]` section.
pub(crate) fn table_key_line(text: &str, table: &str, key: &str) -> Option<usize> {
    let header = format!("[{table}]");
    let mut inside = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            inside = line.replace(' ', "") == header;
            continue;
        }
        if inside
            && let Some(eq) = line.find('=')
            && line[..eq].trim().trim_matches('"') == key
        {
            return Some(n + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_keys() {
        let text = "[repository]\nurl = 1\n\n[[volumes]]\nname = \"a\"\nsizee = \"1Gi\"\n";
        let at = text.find("sizee").expect("present");
        assert_eq!(line_of(text, at), 6);
        assert_eq!(
            key_at(text, &(at..at + 5)).as_deref(),
            Some("volumes.sizee")
        );
        let url = text.find('1').expect("present");
        assert_eq!(
            key_at(text, &(url..url + 1)).as_deref(),
            Some("repository.url")
        );
        assert_eq!(entry_line(text, "volumes", 0, None), Some(4));
        assert_eq!(entry_line(text, "volumes", 0, Some("name")), Some(5));
        assert_eq!(table_key_line(text, "repository", "url"), Some(2));
    }

    #[test]
    fn inline_table_key() {
        let text = "[[volumes]]\ndatabases = [{ kind = \"sqlite\", paht = \"x\" }]\n";
        let at = text.find("paht").expect("present");
        assert_eq!(
            key_at(text, &(at..at + 4)).as_deref(),
            Some("volumes.databases.paht")
        );
    }

    #[test]
    fn config_error_after_a_multibyte_character_does_not_panic() {
        // Found by the fuzz harness: the key before an inline table's `=` was cut one
        // byte after a multi-byte character, inside it.
        let text = "v = { \u{e9}= 1x }";
        let at = text.find("1x").expect("span");
        assert_eq!(inline_key(text, &(at..at + 2)), None);
        let text = "v = { k\u{2603}= 1x }";
        let at = text.find("1x").expect("span");
        assert_eq!(inline_key(text, &(at..at + 2)), None);
        let text = "v = { \u{e9} key= 1x }";
        let at = text.find("1x").expect("span");
        assert_eq!(inline_key(text, &(at..at + 2)).as_deref(), Some("key"));
    }
}
