//! `s3gw-bench`: see the crate documentation and `docs/benchmarks.md`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = s3gw_bench::cli::Args::parse();
    match s3gw_bench::cli::main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("s3gw-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
