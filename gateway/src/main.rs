//! The `s3gw` binary: parses the command line, loads the configuration,
//! starts the gateway and prints exactly one line
//! `s3gw listening on http(s)://ADDR` on stdout once bound (scripts and the
//! test harness wait for it; with the ops listener on (the default), the line
//! `s3gw ops listening on http://ADDR` comes just before it), then serves
//! until SIGTERM or SIGINT and shuts down gracefully. `s3gw keys ...` manages
//! access keys instead ([`s3gw::keys_cli`]).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use s3gw::cli::{Cli, Command};
use s3gw::config::{Config, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Generated from the command line alone: no configuration needed.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            Cli::completions(*shell, &mut std::io::stdout().lock());
            return ExitCode::SUCCESS;
        }
        Some(Command::Man) => {
            return match Cli::man(&mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("s3gw man: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let config = match cli.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("s3gw: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            if let Err(e) = s3gw::server::load_tls(&config) {
                eprintln!("s3gw: {e:#}");
                return ExitCode::from(2);
            }
            // The operator key as `serve` would parse it.
            if let Some(b) = &config.backend {
                let parsed = std::fs::read_to_string(&b.operator_key_file)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| {
                        s3gw_httpsig::PrivateKey::from_pem_or_openssh(&pem)
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|key| s3gw_translator::manta::check_operator_key(&key));
                if let Err(e) = parsed {
                    eprintln!(
                        "s3gw: backend.operator_key_file {}: {e}",
                        b.operator_key_file.display()
                    );
                    return ExitCode::from(2);
                }
            }
            // The keys as `serve` would load them (also the embedded
            // default's keys file).
            let keys = config.keys.clone().unwrap_or_else(|| {
                s3gw_auth_cache::KeySourceConfig::File(s3gw_auth_cache::FileSourceConfig::new(
                    config.embedded.data_dir.join("keys.toml"),
                ))
            });
            if let Err(e) = keys.validate() {
                eprintln!("s3gw: {e}");
                return ExitCode::from(2);
            }
            for w in &config.deprecations {
                eprintln!("s3gw: warning: {w}");
            }
            println!("s3gw: configuration is valid");
            ExitCode::SUCCESS
        }
        Command::Serve => serve(config),
        Command::Keys(args) => keys(&config, &args),
        Command::Accounts(args) => accounts(&config, &args),
        Command::Completions { .. } | Command::Man => ExitCode::SUCCESS,
    }
}

/// `s3gw accounts ...`: exit 0 on success, 1 when refused, 2 on a usage
/// error.
fn accounts(config: &Config, args: &s3gw::keys_cli::AccountsArgs) -> ExitCode {
    init_logging(config);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3gw: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(s3gw::keys_cli::run_accounts(config, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3gw accounts: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

/// `s3gw keys ...`: exit 0 on success, 1 when the operation was refused,
/// 2 on a usage error.
fn keys(config: &Config, args: &s3gw::keys_cli::KeysArgs) -> ExitCode {
    init_logging(config);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3gw: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match rt.block_on(s3gw::keys_cli::run(config, args, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("s3gw keys: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
    config.log_deprecations();
}

fn serve(config: Config) -> ExitCode {
    init_logging(&config);
    // Both ring and aws-lc may be compiled in; pick ring for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3gw: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let mut gw = match s3gw::server::start(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("s3gw: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        // Watched before the listening line: a SIGTERM sent as soon as the
        // line is read drains gracefully instead of killing the process.
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("s3gw: cannot watch SIGTERM: {e}");
                    return ExitCode::FAILURE;
                }
            };
        if let Some(k) = gw.new_dev_key() {
            eprintln!("WARNING: a development access key was created; it is for development only.");
            println!(
                "Development access key (printed once, kept in the data directory's keys.toml):"
            );
            println!("  access key id:     {}", k.access_key_id);
            println!("  secret access key: {}", k.secret);
            println!("  account:           {}", k.account);
        }
        if let Some(a) = gw.ops_addr() {
            println!("s3gw ops listening on http://{a}");
        }
        println!("s3gw listening on {}", gw.url());
        let _ = std::io::stdout().flush();
        let ended = tokio::select! {
            _ = term.recv() => None,
            _ = tokio::signal::ctrl_c() => None,
            r = gw.wait() => Some(r),
        };
        match ended {
            None => {
                tracing::info!("shutting down: draining in-flight requests");
                gw.stop().await;
                ExitCode::SUCCESS
            }
            Some(r) => {
                eprintln!("s3gw: server ended: {r:?}");
                ExitCode::FAILURE
            }
        }
    })
}
