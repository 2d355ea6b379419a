//! `dyns sessions` and `dyns pool`.

use std::process::ExitCode;

use dynamic_sessions::{SessionId, SessionInfo, SessionPoolClient};
use serde_json::json;

use crate::cli::{PoolCommand, SessionsCommand};
use crate::failure::Failure;
use crate::output::Output;

fn when(t: Option<time::OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

fn info_json(info: &SessionInfo) -> serde_json::Value {
    json!({
        "identifier": info.identifier,
        "createdAt": when(info.created_at),
        "lastAccessedAt": when(info.last_accessed_at),
        "expiresAt": when(info.expire_at),
    })
}

pub(crate) async fn run(
    client: &SessionPoolClient,
    command: &SessionsCommand,
    out: &Output,
) -> Result<ExitCode, Failure> {
    match command {
        SessionsCommand::Ls => {
            let sessions = client.list_sessions().await?;
            if out.json {
                out.document(&json!({"sessions": sessions.iter().map(info_json).collect::<Vec<_>>()}));
            } else {
                for s in &sessions {
                    let expires = when(s.expire_at).unwrap_or_else(|| "-".into());
                    crate::output::println(&format!("{}  expires {expires}", s.identifier));
                }
                out.note(&format!("{} sessions", sessions.len()));
            }
        }
        SessionsCommand::Show { id } => {
            let info = client.session(SessionId::new(id.clone())?).info().await?;
            if out.json {
                out.document(&info_json(&info));
            } else {
                crate::output::println(&format!("session       {}", info.identifier));
                crate::output::println(&format!(
                    "created       {}",
                    when(info.created_at).unwrap_or_else(|| "-".into())
                ));
                crate::output::println(&format!(
                    "last used     {}",
                    when(info.last_accessed_at).unwrap_or_else(|| "-".into())
                ));
                crate::output::println(&format!(
                    "expires       {}",
                    when(info.expire_at).unwrap_or_else(|| "-".into())
                ));
            }
        }
        SessionsCommand::Rm { id } => {
            client.session(SessionId::new(id.clone())?).delete().await?;
            out.document(&json!({"deleted": id}));
            out.note(&format!("deleted session {id} and its files"));
        }
        SessionsCommand::Stop { id } => {
            client.session(SessionId::new(id.clone())?).stop().await?;
            out.document(&json!({"stopped": id}));
            out.note(&format!("stopped session {id}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn pool(client: &SessionPoolClient, command: &PoolCommand, out: &Output) -> Result<ExitCode, Failure> {
    match command {
        PoolCommand::Info => {
            let metadata = client.metadata().await?;
            let kind = metadata.kind();
            let name_version = |n: &dynamic_sessions::NameVersion| json!({"name": n.name, "version": n.version});
            if out.json {
                out.document(&json!({
                    "kind": kind.container_type(),
                    "runtimes": metadata.runtimes.iter().map(name_version).collect::<Vec<_>>(),
                    "kernel": metadata.jupyter_kernel.as_ref().map(name_version),
                    "packages": metadata.preinstalled_packages.iter().map(name_version).collect::<Vec<_>>(),
                }));
            } else {
                crate::output::println(&format!("pool       {}", kind.container_type().unwrap_or("unknown")));
                for r in &metadata.runtimes {
                    crate::output::println(&format!("runtime    {} {}", r.name, r.version.as_deref().unwrap_or("")));
                }
                if let Some(k) = &metadata.jupyter_kernel {
                    crate::output::println(&format!("kernel     {} {}", k.name, k.version.as_deref().unwrap_or("")));
                }
                let packages: Vec<String> = metadata
                    .preinstalled_packages
                    .iter()
                    .map(|p| format!("{}{}", p.name, p.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()))
                    .collect();
                crate::output::println(&format!("packages   {}", packages.join(", ")));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
