//! Links the `sidegate` binary with packed relative relocations (RELR, `-z pack-relative-relocs`)
//! when the binary it produces runs on the machine that builds it. The dynamic loader reads a
//! 14 kB table instead of the 0.9 MB `.rela.dyn` at each start, which keeps ~0.7 MB less of the
//! binary resident (docs/benchmarks.md, "Memory (issue 16)").
//!
//! A RELR binary needs glibc 2.36 or later at run time (the linker adds a dependency on the
//! `GLIBC_ABI_DT_RELR` version, so an older glibc refuses to load it instead of misreading it).
//! So the flag is used only when building for the host itself and a probe program linked the
//! same way runs here; a cross build, an older glibc or a linker without the option builds
//! without it. `SIDEGATE_RELR=0` or `=1` skips the probe and decides.

use std::path::Path;
use std::process::Command;

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SIDEGATE_RELR");
    let on = match std::env::var("SIDEGATE_RELR").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => probe(),
    };
    if on {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}

/// Builds a tiny program with the flag, for the same target and with the same flags as the
/// crate, and runs it.
fn probe() -> bool {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let (target, host) = (var("TARGET"), var("HOST"));
    if target != host || !target.ends_with("-linux-gnu") {
        return false;
    }
    let out_dir = var("OUT_DIR");
    let dir = Path::new(&out_dir);
    let src = dir.join("relr_probe.rs");
    let exe = dir.join("relr_probe");
    // Pointers in a static: the relative relocations RELR packs.
    let program = "static WORDS: [&str; 2] = [\"a\", \"b\"];\nfn main() { assert_eq!(WORDS.concat(), \"ab\"); }\n";
    if std::fs::write(&src, program).is_err() {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut build = Command::new(rustc);
    // (CARGO_ENCODED_RUSTFLAGS: a configured linker or target flags apply to the probe too)
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    build.args(flags.split('\u{1f}').filter(|f| !f.is_empty()));
    build.arg("--target").arg(&target).arg("-C").arg(format!("link-arg={FLAG}"));
    build.arg("-o").arg(&exe).arg(&src);
    let built = build.output().is_ok_and(|o| o.status.success());
    built && Command::new(&exe).output().is_ok_and(|o| o.status.success())
}
