//! staticedge: the command line. This crate only wires the others together.

mod cert_watch;
mod check;
mod control;
mod demo;
mod drain;
mod live;
mod logging;
mod serve;

use clap::{Parser, Subcommand, ValueEnum};

/// jemalloc instead of glibc malloc: a proxied request makes many short-lived
/// allocations, and jemalloc serves them cheaper than glibc at the same memory per
/// idle connection (measured in docs/benchmarks.md, one change at a time).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::process::ExitCode;

/// The default configuration path, where the AMI installs it (docs/deploy.md).
pub const DEFAULT_CONFIG: &str = "/etc/staticedge/staticedge.toml";

#[derive(Parser)]
#[command(
    name = "staticedge",
    version,
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
    // Absolute, so /status and error lines name the file whatever the working directory.
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    match cli.command {
        Command::Run { config } => serve::run(&absolute(config), Vec::new(), None),
        Command::Check { config, resolve } => check::run(&absolute(config), resolve),
        Command::Demo => demo::run(),
    }
}
