//! staticedge: the command line. This crate only wires the others together.

mod cert_watch;
mod check;
mod control;
mod demo;
mod drain;
mod live;
mod logging;
mod pid_file;
mod reload;
mod serve;
mod signals;
mod version;

use clap::{Parser, Subcommand, ValueEnum};

/// jemalloc instead of glibc malloc: a proxied request makes many short-lived
/// allocations, and jemalloc serves them cheaper than glibc at the same memory per
/// idle connection (measured in docs/benchmarks.md, one change at a time).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The default configuration path, where the AMI installs it (docs/deploy.md).
pub const DEFAULT_CONFIG: &str = "/etc/staticedge/staticedge.toml";

#[derive(Parser)]
#[command(
    name = "staticedge",
    version = version::LONG,
    about = "A TLS edge proxy that gives a web application fixed public IPs"
)]
struct Cli {
    /// Log format on standard error: "text" for people, "json" for journald/CloudWatch.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "STATICEDGE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: logging::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Run {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Write the process id here (for `staticedge reload --pid-file`); removed at exit.
        #[arg(long)]
        pid_file: Option<PathBuf>,
    },
    /// Validate the configuration and certificates; exit 1 with one line per problem.
    Check {
        /// Configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Also resolve every upstream name and print its addresses and TTL.
        #[arg(long)]
        resolve: bool,
    },
    /// Reload a running proxy (SIGHUP) and wait for its verdict: exit 0 when the new
    /// configuration serves, 1 with every reason when it was refused.
    Reload {
        /// The configuration file the proxy runs with (its admin address is read from it).
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The proxy's process id (in a systemd unit: `--pid $MAINPID`).
        #[arg(long, conflicts_with = "pid_file")]
        pid: Option<i32>,
        /// A file holding the process id, as written by `staticedge run --pid-file`.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// The admin address, if not the configuration's `[admin] listen`.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Seconds to wait for the reload's result.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Start a self-contained demo on loopback and print a curl command that works.
    Demo,
}

impl ValueEnum for logging::Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[logging::Format::Text, logging::Format::Json]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            logging::Format::Text => "text",
            logging::Format::Json => "json",
        }))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    staticedge_metrics::set_build_info(version::build_info());
    // Absolute, so /status and error lines name the file whatever the working directory.
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    match cli.command {
        Command::Run { config, pid_file } => run(&absolute(config), pid_file.as_deref()),
        Command::Check { config, resolve } => check::run(&absolute(config), resolve),
        Command::Reload {
            config,
            pid,
            pid_file,
            admin,
            timeout,
        } => reload::run(&reload::Target {
            config: absolute(config),
            pid,
            pid_file,
            admin,
            timeout: Duration::from_secs(timeout),
        }),
        Command::Demo => {
            take_over_signals();
            demo::run()
        }
    }
}

/// `staticedge run`: the signals, the pid file, then the proxy.
fn run(config: &Path, pid_file: Option<&Path>) -> ExitCode {
    take_over_signals();
    let before_exit = match pid_file.map(pid_file::write).transpose() {
        Ok(clean_up) => clean_up,
        Err(e) => {
            logging::startup_error(&e);
            return ExitCode::from(1);
        }
    };
    let code = serve::run(config, Vec::new(), before_exit.clone());
    // Also when the start failed, which returns before any clean-up; a second
    // removal finds nothing to remove.
    if let Some(clean_up) = before_exit {
        clean_up();
    }
    code
}

/// USR1, HUP and the ignored signals (see `signals.rs`) before anything starts.
fn take_over_signals() {
    if let Err(e) = signals::install() {
        tracing::warn!("{e}; USR1, USR2 and the other signals keep their default action");
    }
}
