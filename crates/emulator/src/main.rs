//! `dynamic-sessions-emulator`: serve the session-pool API locally, or prepare the runtimes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dynamic_sessions_emulator::Runtimes;
use dynamic_sessions_emulator::config::{EmulatorConfig, Limits, PoolSpec, SandboxMode, WarmUp};

/// A warm-up name (checked), or "" for none.
fn warm_up_name(name: &str) -> Result<String, String> {
    match name.trim() {
        "" => Ok(String::new()),
        name => name.parse::<WarmUp>().map(|w| w.to_string()).map_err(|e| e.to_string()),
    }
}

/// The defaults of every option: the library's.
fn defaults() -> EmulatorConfig {
    EmulatorConfig::default()
}

/// Local Azure Container Apps dynamic sessions pools: each session a sandboxed, stateful Python or JavaScript
/// kernel, or a shell.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on. Anything but loopback exposes code execution to the network: set --token.
    #[arg(global = true, long, env = "DS_EMULATOR_BIND", default_value_t = defaults().bind)]
    bind: SocketAddr,
    /// Idle seconds before a session and its files are destroyed.
    #[arg(global = true, long, env = "DS_EMULATOR_COOLDOWN", default_value_t = defaults().cooldown.as_secs())]
    cooldown: u64,
    /// Maximum concurrent sessions; new identifiers then get 404, as from the service.
    #[arg(global = true, long, env = "DS_EMULATOR_MAX_SESSIONS", default_value_t = defaults().max_sessions)]
    max_sessions: usize,
    /// Sandboxes kept started for new identifiers.
    #[arg(global = true, long, env = "DS_EMULATOR_READY_SESSIONS", default_value_t = defaults().ready_sessions)]
    ready_sessions: usize,
    /// Require `Authorization: Bearer <token>` on every API request. Prefer the environment variable: a
    /// command line is visible to every user of the machine.
    #[arg(global = true, long, env = "DYNAMIC_SESSIONS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Also accept requests whose Host is this name (a proxy in front), comma-separated; `*` accepts any Host
    /// (only behind a trusted reverse proxy). Loopback names and the bind address are always accepted.
    #[arg(global = true, long = "allowed-host", env = "DS_EMULATOR_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Serve https with a certificate of the emulator's own local CA (made on first start in
    /// <data-dir>/tls/; clients trust <data-dir>/tls/ca.pem, whose path is logged).
    #[arg(global = true, long, env = "DS_EMULATOR_TLS")]
    tls: bool,
    /// Isolation tier. `auto` is the strongest this host offers that keeps every limit; as an ordinary user
    /// it never picks `landlock`, which cannot bound a session's total disk (choose it by name to accept that).
    #[arg(
        global = true,
        long,
        env = SandboxMode::ENV,
        default_value_t = defaults().sandbox,
        ignore_case = true,
        value_parser = PossibleValuesParser::new(SandboxMode::NAMES).try_map(|name| name.parse::<SandboxMode>())
    )]
    sandbox: SandboxMode,
    /// Run session code without any sandbox (trusted code only).
    #[arg(global = true, long)]
    insecure_no_sandbox: bool,
    /// Where sessions, the kernel and the runtime live.
    #[arg(global = true, long, env = "DS_EMULATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where Python environments are cached (default: <data-dir>/runtime).
    #[arg(global = true, long, env = "DS_EMULATOR_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
    /// The Python interpreter (default /usr/bin/python3).
    #[arg(global = true, long, env = "DS_EMULATOR_PYTHON")]
    python: Option<PathBuf>,
    /// Do not create the package environment; sessions run bare Python.
    #[arg(global = true, long)]
    no_setup: bool,
    /// Packages of the runtime environment (comma-separated).
    #[arg(global = true, long, value_delimiter = ',', default_values_t = defaults().packages)]
    packages: Vec<String>,
    /// Modules every session starts with imported (comma-separated; "" for none). Default: numpy, pandas and
    /// matplotlib.pyplot in the namespace tier (imported once by the template), none in the others.
    #[arg(global = true, long, value_delimiter = ',')]
    preimport: Option<Vec<String>>,
    /// Memory per session, MiB.
    #[arg(global = true, long, default_value_t = defaults().limits.memory_bytes >> 20)]
    memory_mb: u64,
    /// Processes per session.
    #[arg(global = true, long, default_value_t = defaults().limits.max_processes)]
    max_processes: u32,
    /// CPU cores per session.
    #[arg(global = true, long, default_value_t = defaults().limits.cpus)]
    cpus: f64,
    /// Disk per session (/mnt/data), MiB.
    #[arg(global = true, long, default_value_t = defaults().limits.disk_bytes >> 20)]
    disk_mb: u64,
    /// A session's /tmp, MiB.
    #[arg(global = true, long, default_value_t = defaults().limits.tmp_bytes >> 20)]
    tmp_mb: u64,
    /// Captured stdout/stderr per stream and execution, KiB (more is cut, with a note).
    #[arg(global = true, long, default_value_t = defaults().limits.output_bytes >> 10)]
    output_kb: u64,
    /// A pool besides the default one, as NAME=TYPE with TYPE PythonLTS, NodeLTS or Shell, served at
    /// /subscriptions/{sub}/resourceGroups/{rg}/sessionPools/NAME (repeatable, or comma-separated in the
    /// environment). `default=TYPE` changes the type of the pool at the root path.
    #[arg(global = true, long = "pool", env = "DS_EMULATOR_POOLS", value_delimiter = ',')]
    pools: Vec<PoolSpec>,
    /// The Node.js of NodeLTS pools (default /usr/bin/node, else node on PATH).
    #[arg(global = true, long, env = "DS_EMULATOR_NODE")]
    node: Option<PathBuf>,
    /// What each new Python kernel runs before it is ready (comma-separated: cell, describe, chart; "" for
    /// nothing): a session's first such cell is then faster, and every session takes more memory.
    #[arg(
        global = true,
        long,
        env = "DS_EMULATOR_WARM_UP",
        value_delimiter = ',',
        value_parser = warm_up_name,
        default_values_t = defaults().warm_up.iter().map(ToString::to_string).collect::<Vec<_>>()
    )]
    warm_up: Vec<String>,
    /// Serve each pool's own MCP endpoint at <pool>/mcp (JSON-RPC with the x-ms-apikey header), as the
    /// service does for a pool with mcpServerSettings.isMCPServerEnabled. The key is printed once at start and
    /// kept in <data-dir>/mcp-api-key.
    #[arg(global = true, long, env = "DS_EMULATOR_MCP")]
    mcp: bool,
    /// The MCP endpoints' API key (default: a new random one each start).
    #[arg(global = true, long, env = "DS_EMULATOR_MCP_API_KEY", hide_env_values = true)]
    mcp_api_key: Option<String>,
    /// npm packages of the NodeLTS pools' runtime (comma-separated).
    #[arg(global = true, long, value_delimiter = ',', default_values_t = defaults().node_packages)]
    node_packages: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create (or verify) the Python package environment (and the npm packages of NodeLTS pools), then exit.
    Setup,
}

impl Cli {
    fn config(&self) -> EmulatorConfig {
        let defaults = EmulatorConfig::default();
        EmulatorConfig {
            bind: self.bind,
            cooldown: Duration::from_secs(self.cooldown.max(1)),
            max_sessions: self.max_sessions,
            ready_sessions: self.ready_sessions,
            token: self.token.clone().filter(|t| !t.is_empty()),
            allowed_hosts: self.allowed_hosts.clone(),
            tls: self.tls,
            sandbox: if self.insecure_no_sandbox { SandboxMode::InsecureNoSandbox } else { self.sandbox },
            limits: Limits {
                memory_bytes: self.memory_mb << 20,
                max_processes: self.max_processes,
                cpus: self.cpus,
                disk_bytes: self.disk_mb << 20,
                tmp_bytes: self.tmp_mb << 20,
                output_bytes: self.output_kb << 10,
            },
            data_dir: self.data_dir.clone().unwrap_or(defaults.data_dir),
            runtime_dir: self.runtime_dir.clone(),
            python: self.python.clone(),
            setup_runtime: !self.no_setup,
            packages: self.packages.clone(),
            preimport: self.preimport.clone().map(|m| m.into_iter().filter(|m| !m.trim().is_empty()).collect()),
            interrupt_grace: defaults.interrupt_grace,
            pools: self.pools.clone(),
            node: self.node.clone(),
            node_packages: self.node_packages.clone(),
            warm_up: self.warm_up.iter().filter_map(|name| name.parse().ok()).collect(),
            mcp: self.mcp,
            mcp_api_key: self.mcp_api_key.clone().filter(|k| !k.is_empty()),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: destroying every session");
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "dynamic_sessions_emulator=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches.value_source("token") == Some(ValueSource::CommandLine) {
        tracing::warn!(
            "--token on the command line is visible to every user of this machine (ps, /proc); set \
             DYNAMIC_SESSIONS_TOKEN in the environment instead"
        );
    }
    let config = cli.config();
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Setup => match dynamic_sessions_emulator::prepare_runtime(&config).await {
            Ok(Runtimes { python: runtime, node }) => {
                if let Some(node) = node {
                    println!(
                        "Node.js {} at {} with {} npm packages{}",
                        node.version,
                        node.node.display(),
                        node.packages.len(),
                        node.note.map(|n| format!(" ({n})")).unwrap_or_default()
                    );
                }
                println!(
                    "Python {} at {} with {} packages{}",
                    runtime.version,
                    runtime
                        .venv
                        .as_ref()
                        .map(|v| v.display().to_string())
                        .unwrap_or_else(|| runtime.python.display().to_string()),
                    runtime.packages.len(),
                    runtime.note.map(|n| format!(" ({n})")).unwrap_or_default()
                );
                Ok(())
            }
            Err(e) => Err(e),
        },
        Command::Serve => {
            if !config.bind.ip().is_loopback() && config.token.is_none() {
                tracing::warn!(bind = %config.bind, "listening beyond loopback without --token: anyone who can reach this port can run code");
            }
            match tokio::net::TcpListener::bind(config.bind).await {
                Ok(listener) => dynamic_sessions_emulator::run(listener, config, shutdown_signal()).await,
                Err(e) => Err(dynamic_sessions_emulator::StartError::Io {
                    context: format!("cannot listen on {}", cli.bind),
                    source: e,
                }),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_options_the_command_line_gives_the_library_defaults() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["dynamic-sessions-emulator"])?;
        let (parsed, defaults) = (cli.config(), EmulatorConfig::default());
        assert_eq!(parsed.bind, defaults.bind);
        assert_eq!(parsed.cooldown, defaults.cooldown);
        assert_eq!((parsed.max_sessions, parsed.ready_sessions), (defaults.max_sessions, defaults.ready_sessions));
        assert_eq!(parsed.limits, defaults.limits);
        assert_eq!(parsed.packages, defaults.packages);
        assert_eq!(parsed.sandbox, defaults.sandbox);
        assert_eq!(parsed.interrupt_grace, defaults.interrupt_grace);
        assert_eq!(parsed.node_packages, defaults.node_packages);
        assert_eq!(parsed.pools, defaults.pools);
        assert_eq!(parsed.warm_up, defaults.warm_up);
        let none = Cli::try_parse_from(["dynamic-sessions-emulator", "--warm-up", ""])?;
        assert!(none.config().warm_up.is_empty());
        let both = Cli::try_parse_from(["dynamic-sessions-emulator", "--warm-up", "cell,describe"])?;
        assert_eq!(both.config().warm_up, [WarmUp::Cell, WarmUp::Describe]);
        assert!(Cli::try_parse_from(["dynamic-sessions-emulator", "--warm-up", "everything"]).is_err());
        Ok(())
    }

    #[test]
    fn pools_are_repeatable_and_a_bad_one_is_refused() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["dynamic-sessions-emulator", "--pool", "js=NodeLTS", "--pool", "sh=shell"])?;
        let types: Vec<String> =
            cli.config().pools.iter().map(|p| format!("{}={}", p.name, p.container_type)).collect();
        assert_eq!(types, ["js=NodeLTS", "sh=Shell"]);
        let bad = Cli::try_parse_from(["dynamic-sessions-emulator", "--pool", "js=Ruby"]);
        assert!(bad.is_err_and(|e| e.to_string().contains("PythonLTS, NodeLTS or Shell")));
        Ok(())
    }
}
