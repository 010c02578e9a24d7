//! The snapshot browser through the real `holdfast serve` over a socket: a blob damaged
//! in the middle of a download cuts the connection (the client sees an error, never a
//! short file that looks whole), and a 1 GiB archive of incompressible data streams
//! with the server's peak memory far below its size.

use std::io::Read;
use std::path::Path;

use futures::StreamExt;
use holdfast_repo::{InitOptions, KdfParams};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::serve_util::{Server, Setup};

const PASSWORD: &str = "correct horse battery staple";

/// The server may not hold more than this at its peak while streaming 1 GiB.
const MAX_RSS_KIB: u64 = 200 * 1024;

fn setup() -> Setup {
    let config = "[repository]\nurl = \"file://{dir}/repo\"\n\
                  [[volumes]]\nname = \"data\"\npath = \"vol\"\n";
    let mut setup = Setup::new(config);
    setup
        .env
        .push(("HOLDFAST_PASSWORD".into(), PASSWORD.into()));
    setup
}

/// Incompressible bytes (xorshift), `len` of them from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Initialises the repository at `dir/repo` and backs up `dir/vol` as volume `data`.
async fn init_and_backup(dir: &Path) {
    let url = format!("file://{}/repo", dir.display());
    let store = holdfast_store::Store::open(&url).expect("store");
    let opts = InitOptions {
        password: PASSWORD.into(),
        kdf: KdfParams::insecure_fast(),
    };
    let repo = holdfast_repo::init(store, &opts).await.expect("init");
    let mut repo = repo.load_index().await.expect("index");
    let mut b = holdfast_repo::BackupOptions::new(dir.join("vol"));
    b.volume = Some("data".into());
    holdfast_repo::backup(&mut repo, &b).await.expect("backup");
}

/// Flips a byte in the middle of blob `n` of the file at `path` of the newest snapshot.
async fn damage_blob(dir: &Path, path: &str, n: usize) {
    let url = format!("file://{}/repo", dir.display());
    let store = holdfast_store::Store::open(&url).expect("store");
    let opts = holdfast_repo::OpenOptions {
        password: PASSWORD.into(),
        cache: Some(false),
    };
    let repo = holdfast_repo::open(store, &opts).await.expect("open");
    let (_, snap) = repo.find_snapshot("latest:data").await.expect("snapshot");
    let repo = repo.load_index().await.expect("index");
    let cache = holdfast_repo::TreeCache::default();
    let node = holdfast_repo::browse::lookup(&repo, &cache, snap.tree, &[path])
        .await
        .expect("file");
    assert!(
        node.content.len() > n,
        "the file has {} blobs",
        node.content.len()
    );
    let loc = repo.locate(&node.content[n]).expect("blob");
    let pack = dir
        .join("repo")
        .join(holdfast_repo::pack::pack_key(&loc.pack));
    let mut bytes = std::fs::read(&pack).expect("pack");
    let at = (loc.offset + u64::from(loc.length) / 2) as usize;
    bytes[at] ^= 0x55;
    std::fs::write(&pack, bytes).expect("write pack");
}

#[test]
fn a_damaged_blob_mid_download_cuts_the_connection() {
    let data = noise(12 << 20, 5);
    let expected = data.clone();
    let rt = runtime();
    let s = Server::start(setup(), |d| {
        std::fs::create_dir_all(d.join("vol")).expect("mkdir");
        std::fs::write(d.join("vol/big.bin"), &data).expect("write");
        rt.block_on(async {
            init_and_backup(d).await;
            damage_blob(d, "big.bin", 1).await;
        });
    });
    rt.block_on(async {
        let r = s
            .authed(Method::GET, "/api/v1/snapshots/latest/files/big.bin")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{}", s.log());
        assert_eq!(r.content_length(), Some(expected.len() as u64));
        let mut got = Vec::new();
        let mut failed = false;
        let mut body = r.bytes_stream();
        while let Some(piece) = body.next().await {
            match piece {
                Ok(p) => got.extend_from_slice(&p),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            failed,
            "the body ended without an error after {} bytes",
            got.len()
        );
        assert!(got.len() < expected.len(), "a damaged file came out whole");
        assert_eq!(
            got,
            expected[..got.len()],
            "what came before the damage is intact"
        );
        s.wait_log("the response was cut short");
        // The next request on a fresh connection is served as usual.
        let tree = s
            .authed(Method::GET, "/api/v1/snapshots/latest/tree/")
            .send()
            .await
            .expect("tree");
        assert_eq!(tree.status(), StatusCode::OK);
    });
}

/// Peak resident memory of a process in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// Files of the 1 GiB volume: 8 of 128 MiB.
const FILES: usize = 8;
const FILE_SIZE: usize = 128 << 20;

#[test]
fn a_gigabyte_archive_streams_with_flat_memory() {
    let rt = runtime();
    let mut sums = Vec::new();
    let s = Server::start(setup(), |d| {
        std::fs::create_dir_all(d.join("vol/big")).expect("mkdir");
        for i in 0..FILES {
            let data = noise(FILE_SIZE, i as u64 + 11);
            sums.push((format!("big/f{i}.bin"), Sha256::digest(&data).to_vec()));
            std::fs::write(d.join(format!("vol/big/f{i}.bin")), data).expect("write");
        }
        rt.block_on(init_and_backup(d));
        // The source is not needed any more: the archive comes from the repository.
        std::fs::remove_dir_all(d.join("vol/big")).expect("rm");
    });
    let before = peak_rss_kib(s.pid());
    let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(16);
    let check = std::thread::spawn(move || {
        let reader = ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        };
        let zst = zstd::stream::read::Decoder::new(reader).expect("zstd");
        let mut ar = tar::Archive::new(zst);
        let mut got = Vec::new();
        for e in ar.entries().expect("tar") {
            let mut e = e.expect("entry");
            let path = e.path().expect("path").to_string_lossy().into_owned();
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = e.read(&mut buf).expect("read entry");
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            got.push((path, h.finalize().to_vec()));
        }
        got
    });
    let total = rt.block_on(async {
        let r = s
            .authed(
                Method::GET,
                "/api/v1/snapshots/latest/archive/big?format=tar.zst",
            )
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{}", s.log());
        let mut n = 0u64;
        let mut body = r.bytes_stream();
        while let Some(piece) = body.next().await {
            let piece = piece.expect("body piece");
            n += piece.len() as u64;
            tx.send(piece).expect("checker alive");
        }
        drop(tx);
        n
    });
    let got = check.join().expect("checker");
    assert!(
        total >= (FILES * FILE_SIZE) as u64,
        "archive of {total} bytes"
    );
    assert_eq!(got, sums, "every file back, byte for byte");
    let peak = peak_rss_kib(s.pid());
    assert!(
        peak < MAX_RSS_KIB,
        "serve peaked at {peak} KiB (before the download: {before} KiB) streaming {total} bytes"
    );
    eprintln!("archive of {total} bytes; serve peak RSS {peak} KiB (before: {before} KiB)");
}

/// A blocking reader over the chunks of a channel.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(c) => self.current = c,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
