//! Builds the browser console (`console/`, TypeScript) with npm and stages `console/dist` in
//! OUT_DIR for `include_bytes!`. Without npm (or when the npm build fails) the binary still
//! builds, with a console page saying how to get the real one.

use std::path::{Path, PathBuf};
use std::process::Command;

const ASSETS: [&str; 3] = ["index.html", "app.js", "app.css"];

fn npm(console: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(console)
        .status()
        .map_err(|e| format!("npm {}: {e}", args.join(" ")))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm {} failed ({status})", args.join(" ")))
    }
}

fn build(console: &Path) -> Result<(), String> {
    if std::env::var_os("NETWARDEN_SKIP_CONSOLE_BUILD").is_some() {
        return Ok(());
    }
    if !console.join("node_modules").is_dir() {
        npm(console, &["ci", "--no-audit", "--no-fund"])?;
    }
    npm(console, &["run", "build"])
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let console = manifest.join("../../console");
    for watched in [
        "src",
        "package.json",
        "package-lock.json",
        "build.mjs",
        "index.html",
    ] {
        println!("cargo:rerun-if-changed={}", console.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=NETWARDEN_SKIP_CONSOLE_BUILD");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("console");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let built = build(&console);
    let dist = console.join("dist");
    let have_dist = ASSETS.iter().all(|a| dist.join(a).is_file());
    if let Err(e) = &built {
        println!("cargo:warning=console not rebuilt: {e}");
    }
    for asset in ASSETS {
        let target = out.join(asset);
        if have_dist {
            std::fs::copy(dist.join(asset), &target).expect("copying the console build");
        } else {
            let placeholder = match asset {
                "index.html" => "<!doctype html><meta charset=utf-8><title>netwarden</title><p>The console was not built: install Node.js and npm (apt-get install nodejs npm), then rebuild netwarden. The API is at <a href=/api/openapi.json>/api/openapi.json</a>.</p>",
                _ => "",
            };
            std::fs::write(&target, placeholder).expect("writing the console placeholder");
        }
    }
}
