//! `dynamic-sessions-mcp`: an MCP server that gives any MCP client a sandboxed session (Python, JavaScript or
//! a shell, as the pool runs).
//!
//! ```text
//! dynamic-sessions-mcp --endpoint http://127.0.0.1:8484              # stdio, against the local emulator
//! POOL_MANAGEMENT_ENDPOINT=https://... dynamic-sessions-mcp          # stdio, against Azure (Entra ID)
//! dynamic-sessions-mcp --transport http --bind 127.0.0.1:8765         # streamable HTTP at /mcp
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::response::IntoResponse;
use clap::{Parser, ValueEnum};
use dynamic_sessions::{ApiVersion, Auth, SessionId, SessionPoolClient};
use dynamic_sessions_agent_tools::mcp::SessionsMcpServer;
use dynamic_sessions_agent_tools::{CodeInterpreter, InterpreterOptions};
use dynamic_sessions_http_guard::BrowserGuard;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

/// An MCP server for Azure Container Apps dynamic sessions (or the local emulator): run code in an isolated
/// session, move files in and out. One session per MCP connection.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The pool management endpoint (or emulator URL).
    #[arg(long, env = "POOL_MANAGEMENT_ENDPOINT")]
    endpoint: String,
    /// Data-plane api-version (default 2025-10-02-preview).
    #[arg(long, env = "DYNAMIC_SESSIONS_API_VERSION")]
    api_version: Option<String>,
    /// stdio (one client) or http (streamable HTTP at /mcp, one session per MCP session).
    #[arg(long, value_enum, default_value_t = Transport::Stdio)]
    transport: Transport,
    /// Where the HTTP transport listens.
    #[arg(long, default_value = "127.0.0.1:8765")]
    bind: SocketAddr,
    /// Keep the session when the connection (stdio) or the MCP session (HTTP) ends (default: delete it, freeing
    /// its slot).
    #[arg(long)]
    keep_session: bool,
    /// Also offer the `run_shell` tool (Bash in the same session).
    #[arg(long)]
    shell: bool,
    /// HTTP transport: also accept requests whose Host is this name (a proxy in front), comma-separated; `*`
    /// accepts any. Loopback names and the bind address are always accepted; web pages never are.
    #[arg(long = "allowed-host", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Transport {
    Stdio,
    Http,
}

fn client(cli: &Cli) -> Result<SessionPoolClient, String> {
    let auth = Auth::for_endpoint(&cli.endpoint).map_err(|e| e.to_string())?;
    let mut builder = SessionPoolClient::builder(cli.endpoint.clone()).auth(auth);
    if let Some(v) = &cli.api_version {
        builder = builder.api_version(ApiVersion::new(v.clone()).map_err(|e| e.to_string())?);
    }
    builder.user_agent("dynamic-sessions-mcp").build().map_err(|e| e.to_string())
}

/// An interpreter on a new session, with the tools the command line asked for.
fn interpreter(client: &SessionPoolClient, options: &InterpreterOptions) -> CodeInterpreter {
    CodeInterpreter::with_options(client.session(SessionId::random()), options.clone())
}

async fn serve(cli: Cli) -> Result<(), String> {
    let client = client(&cli)?;
    // The tools follow the pool: run_python, run_javascript (NodeLTS) or run_shell (Shell).
    let pool = dynamic_sessions_agent_tools::pool_kind(&client).await;
    tracing::info!(?pool, "pool kind");
    let options = InterpreterOptions { shell: cli.shell, pool, ..InterpreterOptions::default() };
    match cli.transport {
        Transport::Stdio => {
            let server = SessionsMcpServer::new(interpreter(&client, &options));
            let interpreter = server.interpreter().clone();
            let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| e.to_string())?;
            let _ = running.waiting().await;
            if !cli.keep_session {
                let _ = interpreter.session().delete().await;
            }
            Ok(())
        }
        Transport::Http => {
            let keep = cli.keep_session;
            let service = StreamableHttpService::new(
                move || {
                    let server = SessionsMcpServer::new(interpreter(&client, &options));
                    Ok(if keep { server } else { server.delete_session_on_close() })
                },
                LocalSessionManager::default().into(),
                StreamableHttpServerConfig::default(),
            );
            // The MCP server runs code in the session: no web page in a browser may reach it (see the emulator's
            // guard, which is the same).
            let guard = BrowserGuard::new(cli.bind, &cli.allowed_hosts);
            let router = axum::Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let verdict = guard.check(request.headers(), request.uri().authority());
                    async move {
                        match verdict {
                            Ok(()) => next.run(request).await,
                            Err(refusal) => {
                                tracing::warn!(%refusal, "request refused");
                                (axum::http::StatusCode::FORBIDDEN, refusal.to_string()).into_response()
                            }
                        }
                    }
                },
            ));
            let listener = tokio::net::TcpListener::bind(cli.bind)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", cli.bind))?;
            tracing::info!(address = %cli.bind, "MCP server listening at /mcp");
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .map_err(|e| e.to_string())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // stdout is the protocol channel on stdio: logs go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match serve(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
