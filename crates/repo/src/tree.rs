//! Trees: one serialized directory listing per directory, stored as a blob of type
//! tree (docs/FORMAT.md, "Trees"). Names that are not UTF-8 are kept as hex bytes;
//! parsing rejects names that are not a single safe path component.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Id;

/// The kind of a tree entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The name (lossy UTF-8 when `name_raw` is set).
    pub name: String,
    /// The name's bytes as hex when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_raw: Option<String>,
    /// File, dir or symlink.
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Full `st_mode`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// Size in bytes (files).
    pub size: u64,
    /// Symlink target (lossy UTF-8 when `target_raw` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Symlink target bytes as hex when not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_raw: Option<String>,
    /// Content blob ids (files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Id>,
    /// Tree blob id (dirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<Id>,
}

fn split_os(s: &OsStr) -> (String, Option<String>) {
    match s.to_str() {
        Some(u) => (u.to_owned(), None),
        None => (
            s.to_string_lossy().into_owned(),
            Some(hex::encode(s.as_bytes())),
        ),
    }
}

fn join_os(text: &str, raw: &Option<String>) -> Option<OsString> {
    match raw {
        None => Some(OsString::from(text)),
        Some(h) => hex::decode(h).ok().map(OsString::from_vec),
    }
}

impl Node {
    /// A node with the given name and kind, other fields zero.
    pub fn new(name: &OsStr, kind: NodeType) -> Node {
        let (name, name_raw) = split_os(name);
        Node {
            name,
            name_raw,
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            inode: 0,
            size: 0,
            target: None,
            target_raw: None,
            content: Vec::new(),
            subtree: None,
        }
    }

    /// The name as the file system sees it.
    pub fn os_name(&self) -> OsString {
        join_os(&self.name, &self.name_raw).unwrap_or_else(|| OsString::from(&self.name))
    }

    /// Sets the symlink target.
    pub fn set_target(&mut self, target: &OsStr) {
        let (t, raw) = split_os(target);
        self.target = Some(t);
        self.target_raw = raw;
    }

    /// The symlink target as the file system sees it.
    pub fn os_target(&self) -> Option<OsString> {
        self.target
            .as_deref()
            .and_then(|t| join_os(t, &self.target_raw))
    }
}

/// True when `name` is one safe path component.
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// A directory: its entries sorted by name bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// The entries.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Sorts the entries and serializes the tree.
    pub fn to_bytes(&mut self) -> Result<Vec<u8>> {
        self.nodes.sort_by_key(Node::os_name);
        serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Parses a tree blob, rejecting unsafe or duplicate names and inconsistent nodes.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Tree> {
        let tree: Tree = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, e))?;
        let mut prev: Option<OsString> = None;
        for n in &tree.nodes {
            let name = join_os(&n.name, &n.name_raw)
                .ok_or_else(|| Error::corrupt(object, format!("bad name_raw of {:?}", n.name)))?;
            if !is_safe_name(name.as_bytes()) {
                return Err(Error::UnsafePath {
                    path: n.name.clone(),
                    reason: format!("unsafe name in tree {object}"),
                });
            }
            if prev.as_ref().is_some_and(|p| p >= &name) {
                return Err(Error::corrupt(
                    object,
                    format!("entries not sorted or duplicate at {:?}", n.name),
                ));
            }
            match n.kind {
                NodeType::Dir if n.subtree.is_none() => {
                    return Err(Error::corrupt(
                        object,
                        format!("dir {:?} without subtree", n.name),
                    ));
                }
                NodeType::Symlink if n.os_target().is_none() => {
                    return Err(Error::corrupt(
                        object,
                        format!("symlink {:?} without target", n.name),
                    ));
                }
                _ => {}
            }
            prev = Some(name);
        }
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted_and_non_utf8() -> Result<()> {
        let mut t = Tree::default();
        let mut d = Node::new(OsStr::new("zdir"), NodeType::Dir);
        d.subtree = Some(Id::hash(b"t"));
        t.nodes.push(d);
        t.nodes
            .push(Node::new(OsStr::from_bytes(b"caf\xe9"), NodeType::File));
        let mut l = Node::new(OsStr::new("日本"), NodeType::Symlink);
        l.set_target(OsStr::new("../x"));
        t.nodes.push(l);
        let bytes = t.to_bytes()?;
        let back = Tree::parse("t", &bytes)?;
        assert_eq!(back, t);
        assert_eq!(back.nodes[0].os_name().as_bytes(), b"caf\xe9");
        Ok(())
    }

    #[test]
    fn rejects_unsafe_names() {
        for bad in ["..", ".", "", "a/b", "/etc", "a\u{0}b"] {
            let mut t = Tree::default();
            t.nodes.push(Node::new(OsStr::new(bad), NodeType::File));
            let bytes = serde_json::to_vec(&t).unwrap_or_default();
            assert!(Tree::parse("t", &bytes).is_err(), "{bad:?} accepted");
        }
        assert!(Tree::parse("t", b"not json").is_err());
    }
}
