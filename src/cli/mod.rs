//! The command line: parsing flags and dispatching to commands.

use crate::cli::out::out;
mod apply;
mod controller;
pub mod demo;
mod docs;
mod errors;
mod export;
mod export_files;
mod list;
mod options;
pub(crate) mod out;
mod process;
mod rekey;
mod report;
mod serve;
mod simulate;
mod status;
mod table;
mod validate;
mod verify;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: everything is fine.
pub const EXIT_OK: u8 = 0;
/// Exit code: something is invalid or failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command line was wrong.
pub const EXIT_USAGE: u8 = 2;

/// The exit codes of every command, as `--help` and the README list them.
pub const EXIT_CODES: &str = "Exit codes:
  0  success; plan --exit-code: no changes
  1  something is invalid or failed; status: a credential is not Ready
  2  usage error (a flag, the store URL, table prefix or APP_KEY); plan --exit-code: changes";

/// Declarative BigCommerce API credentials for UnoPim's BigCommerce connector.
#[derive(Debug, Parser)]
#[command(name = "bccreds", version, about, long_about = None)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    /// Log lines on stderr as text or as one JSON object per line (for log pipelines).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BCCREDS_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    // `LEVEL target: message key=value`, coloured on a terminal.
    Text,
    // One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests against the schema and the semantic rules, without network access.
    Validate(validate::ValidateArgs),
    /// Verify manifests with BigCommerce now; stores nothing.
    Verify(verify::VerifyArgs),
    /// Show what `apply` would do, with secrets masked; changes nothing.
    Plan(apply::PassArgs),
    /// Reconcile manifests into the connector store once.
    Apply(apply::PassArgs),
    /// Watch a manifest directory and keep the store in step (the file-mode daemon).
    Watch(Box<watch::WatchArgs>),
    /// Reconcile BigCommerceCredential resources in Kubernetes (Kubernetes mode).
    Controller(Box<controller::ControllerArgs>),
    /// Show the conditions a running `watch` daemon reports.
    Status(status::StatusArgs),
    /// List the stored credentials, as the connector's credentials page does.
    List(list::ListArgs),
    /// Write the stored credentials as manifests that adopt them unchanged (onboarding).
    Export(Box<export::ExportArgs>),
    /// Serve the read-only credentials page over a store (no reconciler, no APP_KEY).
    Serve(serve::ServeArgs),
    /// Re-encrypt the secrets of this owner's rows with the current APP_KEY after a key rotation.
    Rekey(rekey::RekeyArgs),
    /// Serve a simulated BigCommerce API on loopback from a YAML fixture.
    SimulateBigcommerce(simulate::SimulateArgs),
    /// Print the JSON Schema of a BigCommerceCredential manifest.
    Schema,
    /// Print the BigCommerceCredential CustomResourceDefinition.
    Crd,
    /// Run the whole flow against a built-in BigCommerce simulator and a temporary store.
    Demo(demo::DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(docs::CompletionsArgs),
    /// Print the man page, or write one per command with --dir.
    Man(docs::ManArgs),
}

/// How results are printed; one set of values for every command, so that one `BCCREDS_OUTPUT`
/// suits them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    // Human-readable lines (a table for `list`).
    #[value(alias = "table")]
    Text,
    // JSON for scripts.
    Json,
    // YAML, the same document as JSON.
    Yaml,
}

impl Output {
    /// `value` as JSON or YAML text ending in a newline; None for text output.
    pub fn document<T: serde::Serialize>(self, value: &T) -> Option<Result<String, String>> {
        match self {
            Output::Text => None,
            Output::Json => Some(
                serde_json::to_string_pretty(value)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string()),
            ),
            Output::Yaml => Some(serde_yaml_ng::to_string(value).map_err(|e| e.to_string())),
        }
    }
}

/// The command line as parsed and documented: `plan` and `apply` share their flags, but each
/// shows only those it reads (plan calls no BigCommerce; --exit-code and --diff are plan's).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    const PLAN_HIDES: [&str; 6] = [
        "bigcommerce_base_url",
        "connect_timeout",
        "request_timeout",
        "max_retries",
        "retry_base_delay",
        "concurrency",
    ];
    Cli::command()
        .mut_subcommand("plan", |plan| {
            PLAN_HIDES
                .iter()
                .fold(plan, |c, id| c.mut_arg(*id, |a| a.hide(true)))
        })
        .mut_subcommand("apply", |apply| {
            ["exit_code", "diff"]
                .iter()
                .fold(apply, |c, id| c.mut_arg(*id, |a| a.hide(true)))
        })
}

/// With this set to `1`, every command ends with `live secrets at exit: N` on stderr (see
/// [`crate::secret::live_secrets`]).
pub const LIVE_SECRETS_VAR: &str = "BCCREDS_DEBUG_LIVE_SECRETS";

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = match command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        // clap prints help, versions and usage errors itself, with exit code 0 or 2.
        Err(e) => e.exit(),
    };
    // The daemons report what they change at info; one-shot commands print their own results.
    let daemon = matches!(
        cli.command,
        Command::Watch(_) | Command::Controller(_) | Command::Serve(_)
    );
    init_logging(cli.log_format, if daemon { "info" } else { "warn" });
    let code = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::List(args) => list::run(&args),
        Command::Rekey(args) => rekey::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Plan(args) => apply::run(&args, false),
        Command::Watch(args) => watch::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Controller(args) => controller::run(&args),
        Command::Apply(args) => apply::run(&args, true),
        Command::SimulateBigcommerce(args) => simulate::run(&args),
        Command::Schema => {
            out!("{}", crate::schema::manifest_schema_json());
            EXIT_OK
        }
        Command::Crd => {
            out!("{}", crate::schema::crd_yaml());
            EXIT_OK
        }
        Command::Demo(args) => demo::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    };
    // The command and its arguments are dropped by now, and with them every secret they read;
    // tests set the variable and expect 0.
    if std::env::var_os(LIVE_SECRETS_VAR).is_some_and(|v| v == "1") {
        crate::cli::out::errln!("live secrets at exit: {}", crate::secret::live_secrets());
    }
    ExitCode::from(code)
}

/// Logs go to stderr, so stdout stays for results. `RUST_LOG` decides what is logged; without
/// it, bccreds' own lines at `level` and nothing from other crates, whose internals mean nothing
/// to an operator (a failure that matters reaches bccreds' own log lines as an error).
fn init_logging(format: LogFormat, level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("off,bccreds={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
