//! Passes the target triple to the binary (`holdfast version`).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=HOLDFAST_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
