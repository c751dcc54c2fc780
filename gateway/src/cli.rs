//! The `s3gw` command line (clap): `s3gw [serve]`, `s3gw check-config`,
//! `s3gw keys ...` and `s3gw accounts ...` ([`crate::keys_cli`]),
//! `s3gw completions SHELL`, `s3gw man`, `s3gw --version` (with the git
//! commit), with overrides
//! that let a script start a throwaway endpoint in one line
//! (`s3gw --listen 127.0.0.1:0 --data /tmp/x`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// The git commit this binary was built from (`gateway/build.rs`).
pub const GIT_COMMIT: &str = env!("S3GW_GIT_COMMIT");

/// What `s3gw --version` prints after the name.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("S3GW_GIT_COMMIT"),
    ")"
);

/// An S3 gateway in front of a Manta buckets-API store.
///
/// With no configuration, `s3gw` serves an embedded store with its data in
/// ./s3gw-data and prints a development access key on first start.
#[derive(Debug, Parser)]
#[command(name = "s3gw", version = VERSION, about, long_about)]
pub struct Cli {
    /// Configuration file (TOML; see etc/s3gw.toml). Environment variables
    /// S3GW__SECTION__KEY override it.
    #[arg(long, global = true, value_name = "FILE", env = "S3GW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address, overriding server.listen (port 0: any free port).
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory of the embedded default, overriding embedded.data_dir.
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Service domain for virtual-host addressing (repeatable), replacing
    /// server.domains.
    #[arg(long = "domain", global = true, value_name = "NAME")]
    pub domains: Vec<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Load and validate the configuration, then exit (0 when valid).
    CheckConfig,
    /// Manage tenants' access keys in the configured key source.
    Keys(crate::keys_cli::KeysArgs),
    /// Disable or enable an account in the directory (UFDS `disabled`).
    Accounts(crate::keys_cli::AccountsArgs),
    /// Print a shell completion script for SHELL on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the s3gw(1) man page (roff) on stdout.
    Man,
}

impl Cli {
    /// Writes the completion script of `shell` for the whole command line.
    pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
        clap_complete::generate(
            shell,
            &mut <Cli as clap::CommandFactory>::command(),
            "s3gw",
            out,
        );
    }

    /// Writes the man page generated from the same definitions.
    pub fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
        clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
    }
}

impl Cli {
    /// The configuration: file, environment, then command-line overrides,
    /// validated.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(l) = &self.listen {
            c.server.listen = l.clone();
        }
        if let Some(d) = &self.data {
            c.embedded.data_dir = d.clone();
        }
        if !self.domains.is_empty() {
            c.server.domains = self.domains.clone();
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subcommands_and_overrides() {
        let c = Cli::try_parse_from([
            "s3gw",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "a.test",
            "--domain",
            "b.test",
        ])
        .unwrap();
        assert_eq!(c.command, None);
        assert_eq!(c.domains, vec!["a.test", "b.test"]);
        let c = Cli::try_parse_from(["s3gw", "check-config", "--data", "/tmp/x"]).unwrap();
        assert_eq!(c.command, Some(Command::CheckConfig));
        assert_eq!(c.data.as_deref(), Some(std::path::Path::new("/tmp/x")));
        let cfg = c.load_config().unwrap();
        assert_eq!(cfg.embedded.data_dir, std::path::PathBuf::from("/tmp/x"));
        assert!(Cli::try_parse_from(["s3gw", "bogus"]).is_err());
        let c = Cli::try_parse_from(["s3gw", "accounts", "disable", "alice"]).unwrap();
        assert!(matches!(c.command, Some(Command::Accounts(_))));
        assert!(Cli::try_parse_from(["s3gw", "accounts", "disable"]).is_err());
    }
}
