//! Compiles the C programs under bpf/ with clang-19 into BPF objects in OUT_DIR.
//!
//! vmlinux.h is generated from the running kernel's BTF with bpftool (programs are CO-RE, so the
//! object also runs on other kernels). `NETWARDEN_VMLINUX_H` points at a pre-generated header instead,
//! `NETWARDEN_CLANG` / `NETWARDEN_LLVM_STRIP` override the tool names.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Programs to build: one object per hook family.
const OBJECTS: &[&str] = &["capture", "firewall", "podguard"];

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../bpf");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-env-changed=NETWARDEN_VMLINUX_H");
    println!("cargo:rerun-if-env-changed=NETWARDEN_CLANG");

    let vmlinux_dir = out.join("vmlinux");
    std::fs::create_dir_all(&vmlinux_dir)
        .unwrap_or_else(|e| fail(&format!("create {vmlinux_dir:?}: {e}")));
    write_vmlinux_h(&vmlinux_dir.join("vmlinux.h"));

    let clang = env::var("NETWARDEN_CLANG").unwrap_or_else(|_| "clang-19".into());
    let strip = env::var("NETWARDEN_LLVM_STRIP").unwrap_or_else(|_| "llvm-strip-19".into());
    for name in OBJECTS {
        let src = root.join(format!("{name}.bpf.c"));
        let obj = out.join(format!("{name}.bpf.o"));
        run(
            Command::new(&clang)
                .args([
                    "-g",
                    "-O2",
                    "-target",
                    "bpf",
                    // v3: atomic OR and compare-and-swap (kernel 5.12+), used by the lock-free flow stats.
                    "-mcpu=v3",
                    "-D__TARGET_ARCH_x86",
                    "-Wall",
                    "-Werror",
                ])
                .arg("-I")
                .arg(root.join("include"))
                .arg("-I")
                .arg(&root)
                .arg("-I")
                .arg(&vmlinux_dir)
                .arg("-c")
                .arg(&src)
                .arg("-o")
                .arg(&obj),
            &clang,
        );
        // Keep .BTF and .BTF.ext (aya needs them), drop DWARF: a third of the size.
        run(Command::new(&strip).arg("-g").arg(&obj), &strip);
    }
}

fn write_vmlinux_h(dest: &Path) {
    if let Ok(given) = env::var("NETWARDEN_VMLINUX_H") {
        std::fs::copy(&given, dest)
            .unwrap_or_else(|e| fail(&format!("copy NETWARDEN_VMLINUX_H={given}: {e}")));
        return;
    }
    let output = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .unwrap_or_else(|e| {
            fail(&format!(
                "bpftool: {e} (install it: see README, `scripts/setup.sh`)"
            ))
        });
    if !output.status.success() {
        fail(&format!(
            "bpftool btf dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::write(dest, output.stdout).unwrap_or_else(|e| fail(&format!("write {dest:?}: {e}")));
}

fn run(cmd: &mut Command, tool: &str) {
    let output = cmd.output().unwrap_or_else(|e| {
        fail(&format!(
            "{tool}: {e} (install it: see README, `scripts/setup.sh`)"
        ))
    });
    if !output.status.success() {
        fail(&format!(
            "{tool} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("netwarden-bpf build: {msg}");
    std::process::exit(1);
}
