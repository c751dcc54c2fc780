//! Records the git commit the binary is built from, for `s3gw --version`
//! and the `s3gw_build_info` metric: `S3GW_GIT_COMMIT` when set (a build
//! without `.git`, e.g. the Dockerfile's build-arg), else `git rev-parse
//! HEAD`, else `unknown`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=S3GW_GIT_COMMIT");
    let from_env = std::env::var("S3GW_GIT_COMMIT")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let commit = match from_env {
        Some(c) => c,
        None => {
            // Rebuild when HEAD moves: HEAD itself (a checkout) and the
            // branch it names (a commit), loose or packed.
            if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
                let head = Path::new(&dir).join("HEAD");
                if head.exists() {
                    println!("cargo:rerun-if-changed={}", head.display());
                }
            }
            if let (Some(common), Some(name)) = (
                git(&["rev-parse", "--git-common-dir"]),
                git(&["symbolic-ref", "-q", "HEAD"]),
            ) {
                for p in [
                    Path::new(&common).join(&name),
                    Path::new(&common).join("packed-refs"),
                ] {
                    if p.exists() {
                        println!("cargo:rerun-if-changed={}", p.display());
                    }
                }
            }
            git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=S3GW_GIT_COMMIT={commit}");
}
