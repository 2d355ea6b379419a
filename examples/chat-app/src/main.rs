//! `chat-app`: serves the chat on http://127.0.0.1:8000 (`CHAT_APP_BIND`), with the session-pool emulator
//! embedded, or against an Azure pool when `POOL_MANAGEMENT_ENDPOINT` is set.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use chat_app::{AppConfig, AppState, app, setup};
use dynamic_sessions::{Auth, MAX_UPLOAD_BYTES, SessionPoolClient};
use dynamic_sessions_agent_tools::InterpreterOptions;
use dynamic_sessions_agent_tools::rig::ModelConfig;
use dynamic_sessions_agent_tools::turn::TurnOptions;
use dynamic_sessions_emulator::RunningEmulator;
use dynamic_sessions_emulator::config::{DEFAULT_POOL, EmulatorConfig, PoolSpec, SandboxMode};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

async fn serve() -> Result<(), String> {
    let bind: SocketAddr = var("CHAT_APP_BIND")
        .unwrap_or_else(|| "127.0.0.1:8000".into())
        .parse()
        .map_err(|e| format!("CHAT_APP_BIND: {e}"))?;
    let (client, emulator) = match var("POOL_MANAGEMENT_ENDPOINT") {
        Some(endpoint) => {
            tracing::info!(%endpoint, "using the session pool at POOL_MANAGEMENT_ENDPOINT");
            (
                SessionPoolClient::builder_from_env()
                    .map_err(|e| e.to_string())?
                    .user_agent("chat-app")
                    .build()
                    .map_err(|e| e.to_string())?,
                None,
            )
        }
        None => {
            tracing::info!("no POOL_MANAGEMENT_ENDPOINT: starting the embedded session-pool emulator");
            let sandbox = match var(SandboxMode::ENV) {
                Some(name) => name.parse().map_err(|e| format!("{}: {e}", SandboxMode::ENV))?,
                None => SandboxMode::Auto,
            };
            // The embedded pool's container type: PythonLTS unless CHAT_APP_POOL_TYPE says NodeLTS or Shell.
            let pools = match var("CHAT_APP_POOL_TYPE") {
                Some(name) => {
                    let container_type = name.parse().map_err(|e| format!("CHAT_APP_POOL_TYPE: {e}"))?;
                    vec![PoolSpec { name: DEFAULT_POOL.into(), container_type }]
                }
                None => Vec::new(),
            };
            let config =
                EmulatorConfig { bind: ([127, 0, 0, 1], 0).into(), sandbox, pools, ..EmulatorConfig::default() };
            let emulator = RunningEmulator::start(config).await.map_err(|e| {
                format!(
                    "the embedded session-pool emulator did not start: {e}\n(see the emulator section of the README, \
                     or set POOL_MANAGEMENT_ENDPOINT to use an Azure session pool)"
                )
            })?;
            let client =
                SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token())).map_err(|e| e.to_string())?;
            (client, Some(emulator))
        }
    };
    let served = run_app(client, bind).await;
    // Whatever happened, the embedded emulator removes its sessions.
    if let Some(emulator) = emulator {
        emulator.shutdown().await;
    }
    served
}

/// Configures and serves the app until a shutdown signal.
async fn run_app(client: SessionPoolClient, bind: SocketAddr) -> Result<(), String> {
    let lookup = |name: &str| var(name);
    let (store, described) = setup::store(&lookup).await?;
    let secret = setup::secret(&lookup)?;
    tracing::info!("conversations are kept in {described}");
    // The app serves (and /readyz says why it is not ready) while the database is unreachable.
    let preparing = store.clone();
    tokio::spawn(async move { preparing.prepare_until_ready(Duration::from_secs(2)).await });
    let model = ModelConfig::from_env().map_err(|e| e.to_string())?;
    match &model {
        Some(m) => tracing::info!(model = %m.describe(), "chat model"),
        None => tracing::warn!(
            "no model configured (set AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT, or OPENAI_API_KEY, or OPENAI_BASE_URL): the chat is off, the code cell works"
        ),
    }
    let secure_cookies = match var("CHAT_APP_SECURE_COOKIES").as_deref() {
        Some("true" | "1") => true,
        Some("false" | "0") => false,
        _ => !bind.ip().is_loopback(),
    };
    let turn = match &model {
        Some(m) => m.turn_options().map_err(|e| e.to_string())?,
        None => TurnOptions::default(),
    };
    if model.is_some() {
        tracing::info!(tool_choice = %turn.tool_choice, max_tokens = turn.max_tokens, seconds = turn.time_limit.as_secs(), "turn options");
    }
    let shell = match var("CHAT_APP_SHELL_TOOL").as_deref() {
        Some("true" | "1") => true,
        Some("false" | "0") | None => false,
        Some(other) => return Err(format!("CHAT_APP_SHELL_TOOL={other:?}: use true or false")),
    };
    // The code cell and the model's code tool follow what the pool runs.
    let pool = dynamic_sessions_agent_tools::pool_kind(&client).await;
    tracing::info!(?pool, "session pool kind");
    let config = AppConfig {
        secret,
        model,
        max_upload_bytes: MAX_UPLOAD_BYTES,
        secure_cookies,
        interpreter: InterpreterOptions { shell, pool, ..InterpreterOptions::default() },
        turn,
    };
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let address = listener.local_addr().map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(%address, "chat app listening on http://{address}");
    let state = AppState::new(client, config, store.clone())?;
    let served =
        axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| e.to_string());
    store.close().await;
    served
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "chat_app=info,dynamic_sessions_emulator=info,tower_http=warn".into());
    if var("CHAT_APP_LOG_FORMAT").as_deref() == Some("json") {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
