//! Append-only backups: through an Azurite SAS token that may read, add, create, write
//! and list but not delete, `backup` (its lock included) and `copy --to` succeed, while
//! `forget` and `prune` fail with the store's permission error.

use base64::Engine;
use hmac::{Hmac, Mac};

use super::copy_util::{PW_A, PW_B, Scratch, check, generate, json, snapshot_ids};
use super::repo_util::{contents, remote_url};

/// An Azure account SAS (version 2019-12-12) for blob service, container and objects,
/// with permissions `perms`, signed with the test account's key.
fn account_sas(perms: &str) -> String {
    let account = std::env::var("AZURE_STORAGE_ACCOUNT")
        .expect("AZURE_STORAGE_ACCOUNT (scripts/test.sh sets it)");
    let key =
        std::env::var("AZURE_STORAGE_KEY").expect("AZURE_STORAGE_KEY (scripts/test.sh sets it)");
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("account key is base64");
    let (version, expiry) = ("2019-12-12", "2099-01-01T00:00:00Z");
    let to_sign = format!("{account}\n{perms}\nb\nsco\n\n{expiry}\n\nhttps,http\n{version}\n");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig: String = url_encode(&sig);
    format!("sv={version}&ss=b&srt=sco&sp={perms}&se={expiry}&spr=https,http&sig={sig}")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn append_only_sas_backs_up_and_copies_but_cannot_forget_or_prune() {
    let s = Scratch::new();
    let url = remote_url("HOLDFAST_TEST_AZBLOB_URL");
    s.ok(&url, PW_A, &["init"], 0);
    generate(&s.path("data"), 4, 2_000_000, 3);
    let sas = account_sas("rwlac");
    let append_only = |args: &[&str], code: i32| {
        let out = s
            .command(&url, PW_A, args)
            .env("AZURE_STORAGE_SAS_TOKEN", &sas)
            .env_remove("AZURE_STORAGE_KEY")
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (check(out, args, code), err)
    };
    // Two backups in a row: the second meets the lock the first could not delete.
    let (out, err) = append_only(&["--json", "backup", "data"], 0);
    assert!(json(&out)[0]["snapshot"].is_string(), "{out}");
    assert!(err.contains("stays until it goes stale"), "{err}");
    std::fs::write(s.path("data/new.txt"), "new").expect("write");
    append_only(&["backup", "data"], 0);
    append_only(&["verify"], 0);
    append_only(&["restore", "latest", "--target", "r"], 0);
    assert_eq!(contents(&s.path("r")), contents(&s.path("data")));
    // Copy into the append-only repository works too.
    let src = s.file_url("src");
    s.ok(&src, PW_B, &["init"], 0);
    s.ok(
        &src,
        PW_B,
        &["backup", "data", "--time", "2025-01-01T00:00:00Z"],
        0,
    );
    let out = s
        .command(&src, PW_B, &["--json", "copy", "--to", &url])
        .env("HOLDFAST_TO_PASSWORD", PW_A)
        .env("AZURE_STORAGE_SAS_TOKEN", &sas)
        .env_remove("AZURE_STORAGE_KEY")
        .output()
        .expect("run");
    let r = json(&check(out, &["copy", "--to"], 0));
    assert_eq!(r["copied"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(snapshot_ids(&s, &url, PW_A).len(), 3);
    // What deletes is refused, with the store's permission error.
    let (_, err) = append_only(&["forget", "--keep-last", "1"], 1);
    assert!(err.to_lowercase().contains("permission"), "{err}");
    assert_eq!(
        snapshot_ids(&s, &url, PW_A).len(),
        3,
        "forget deleted nothing"
    );
    s.ok(&url, PW_A, &["forget", "--keep-last", "1"], 0);
    let (_, err) = append_only(&["prune"], 1);
    assert!(err.to_lowercase().contains("permission"), "{err}");
    // With full rights prune works, and what is left restores.
    s.ok(&url, PW_A, &["prune"], 0);
    s.ok(&url, PW_A, &["verify", "--read-data"], 0);
}
