//! A store that accepts connections and never answers is "unavailable" (exit 1) within
//! the retry budget, never a hang and never damage (exit 3).

use std::net::TcpListener;
use std::process::Command;

/// A listener on 127.0.0.1 that accepts every connection and never answers; the
/// connections stay open until the process ends.
fn stalling_endpoint() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    addr
}

/// Finding: an endpoint that accepts connections and never answers made `snapshots` hang
/// 364 s.
#[test]
fn snapshots_of_a_stalled_store_fail_as_unavailable() {
    let addr = stalling_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["snapshots"])
        .current_dir(dir.path())
        .env(
            "HOLDFAST_REPOSITORY",
            format!("s3://bucket/prefix?endpoint=http://{addr}&region=test"),
        )
        .env("HOLDFAST_PASSWORD", "pw")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env("HOLDFAST_STORE_RETRY_FOR", "1s")
        .env("HOLDFAST_STORE_TIMEOUT", "300ms")
        .env("HOLDFAST_CACHE_DIR", dir.path().join("cache"))
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("STORAGE_TYPE")
        .output()
        .expect("run holdfast");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(!stderr.contains("not-a-real-secret"), "{stderr}");
}
