//! `buckets-lite --config FILE [--listen ADDR] [--data DIR] [--log-format text|json]`
//!
//! Prints exactly one line, `buckets-lite listening on http://ADDR`, to
//! stdout once bound; logs to stderr (`RUST_LOG`, default `info`) as text or
//! JSON, the same formats as s3gw's `log.format`; stops
//! gracefully on SIGTERM or SIGINT. A bad configuration exits with code 2.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(version, about = "Single-node server of the Manta buckets API")]
struct Args {
    /// TOML configuration (accounts, keys, limits).
    #[arg(long)]
    config: PathBuf,
    /// Listen address (overrides the file); port 0 picks a free port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (overrides the file).
    #[arg(long = "data")]
    data: Option<PathBuf>,
    /// Log format on stderr, as s3gw's `log.format`: `text`, or `json`
    /// (one object per line).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "BUCKETS_LITE_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    match args.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }

    let mut config = match buckets_lite::Config::from_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("buckets-lite: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data) = args.data {
        config.data_dir = Some(data);
    }
    let server = match buckets_lite::start(config).await {
        Ok(s) => s,
        Err(e @ buckets_lite::StartError::Config(_)) => {
            eprintln!("buckets-lite: bad configuration: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("buckets-lite: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The handler is in place before the listening line: a SIGTERM sent as
    // soon as the line is read stops it gracefully, not by the default action.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "buckets-lite listening on http://{}",
            server.local_addr()
        );
        let _ = out.flush();
    }

    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
    server.stop().await;
    ExitCode::SUCCESS
}
