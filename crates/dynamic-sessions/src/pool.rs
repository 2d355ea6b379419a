//! Session management and pool-level calls: `session`, `listSessions`, `metadata`.

use serde_json::Value;
use time::OffsetDateTime;

use crate::error::Error;
use crate::paging;
use crate::retry::Replay;
use crate::session_id::SessionId;
use crate::transport::{Transport, read_json};
use crate::wire;

/// A session as the service reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session identifier.
    pub identifier: String,
    /// When the session was allocated.
    pub created_at: Option<OffsetDateTime>,
    /// The last request to the session.
    pub last_accessed_at: Option<OffsetDateTime>,
    /// When the session expires unless used again.
    pub expire_at: Option<OffsetDateTime>,
    /// Identifies the underlying container.
    pub etag: Option<String>,
}

impl SessionInfo {
    /// Reads a session resource.
    pub fn from_json(v: &Value) -> Self {
        let v = wire::properties(v);
        SessionInfo {
            identifier: wire::string(v, &["identifier", "id", "sessionId"]).unwrap_or_default(),
            created_at: wire::timestamp(v, &["createdAt", "created_at"]),
            last_accessed_at: wire::timestamp(v, &["lastAccessedAt", "last_accessed_at"]),
            expire_at: wire::timestamp(v, &["expireAt", "expiresAt", "expire_at"]),
            etag: wire::string(v, &["etag", "eTag"]),
        }
    }
}

/// A name and version (a runtime or a package).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameVersion {
    /// Name.
    pub name: String,
    /// Version, when reported.
    pub version: Option<String>,
}

/// What a pool runs: runtimes, kernel and preinstalled packages.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PoolMetadata {
    /// Language runtimes (e.g. `python 3.12`).
    pub runtimes: Vec<NameVersion>,
    /// Preinstalled packages.
    pub preinstalled_packages: Vec<NameVersion>,
    /// The kernel's name and version, when reported.
    pub jupyter_kernel: Option<NameVersion>,
    /// When the pool was created.
    pub created_at: Option<OffsetDateTime>,
    /// When the pool was last updated.
    pub last_updated_at: Option<OffsetDateTime>,
    /// The whole answer, for fields this client does not model.
    pub raw: Value,
}

impl PoolMetadata {
    /// Reads a metadata resource.
    pub fn from_json(v: Value) -> Self {
        let list = |names: &[&str]| -> Vec<NameVersion> {
            wire::field(&v, names).map(wire::items).unwrap_or_default().into_iter().filter_map(name_version).collect()
        };
        PoolMetadata {
            runtimes: list(&["runtimes"]),
            preinstalled_packages: list(&["preInstalledPackages", "preinstalledPackages", "packages"]),
            jupyter_kernel: wire::field(&v, &["jupyterKernel", "kernel"]).and_then(name_version),
            created_at: wire::timestamp(&v, &["createdAt"]),
            last_updated_at: wire::timestamp(&v, &["lastUpdatedAt"]),
            raw: v,
        }
    }
}

impl PoolMetadata {
    /// What kind of pool this is, read from its runtimes and kernel: a `NodeLTS` pool reports a `node`
    /// runtime and a JavaScript kernel (`IJavascript`), a `PythonLTS` pool a `python` runtime, a `Shell` pool
    /// no kernel at all.
    pub fn kind(&self) -> PoolKind {
        let kernel = self.jupyter_kernel.as_ref().map(|k| k.name.to_ascii_lowercase());
        let described = wire::field(&self.raw, &["jupyterKernel", "kernel"])
            .and_then(|k| wire::string(k, &["description"]))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let runtime =
            |names: &[&str]| self.runtimes.iter().any(|r| names.contains(&r.name.to_ascii_lowercase().as_str()));
        let kernel_is = |words: &[&str]| {
            kernel.as_deref().is_some_and(|k| words.iter().any(|w| k.contains(w)))
                || words.iter().any(|w| described.contains(w))
        };
        if kernel_is(&["javascript", "node"]) || runtime(&["node", "nodejs", "javascript"]) {
            PoolKind::JavaScript
        } else if kernel_is(&["python"]) || runtime(&["python", "python3"]) {
            PoolKind::Python
        } else if kernel.is_none() && (self.runtimes.is_empty() || runtime(&["bash", "sh", "shell"])) {
            PoolKind::Shell
        } else {
            PoolKind::Other
        }
    }
}

/// What a pool runs, as [`PoolMetadata::kind`] reads it: the service's built-in container types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolKind {
    /// `PythonLTS`: Python code (and shell commands).
    Python,
    /// `NodeLTS`: JavaScript code on Node.js (and shell commands).
    JavaScript,
    /// `Shell`: shell commands only ([`Session::shell`](crate::Session::shell), [`Session::exec`](crate::Session::exec)).
    Shell,
    /// Something else, such as a custom container.
    Other,
}

impl PoolKind {
    /// The language [`Session::execute`](crate::Session::execute) runs in such a pool (`"python"`,
    /// `"javascript"`), or `None` when it runs shell commands only or is unknown.
    pub fn code_language(self) -> Option<&'static str> {
        match self {
            PoolKind::Python => Some("python"),
            PoolKind::JavaScript => Some("javascript"),
            PoolKind::Shell | PoolKind::Other => None,
        }
    }

    /// The service's `containerType` for this kind (`PythonLTS`, `NodeLTS`, `Shell`), or `None`.
    pub fn container_type(self) -> Option<&'static str> {
        match self {
            PoolKind::Python => Some("PythonLTS"),
            PoolKind::JavaScript => Some("NodeLTS"),
            PoolKind::Shell => Some("Shell"),
            PoolKind::Other => None,
        }
    }
}

fn name_version(v: &Value) -> Option<NameVersion> {
    Some(NameVersion { name: wire::string(v, &["name"])?, version: wire::string(v, &["version"]) })
}

pub(crate) async fn session_info(t: &Transport, id: &SessionId) -> Result<SessionInfo, Error> {
    let url = t.url(&["session"], &t.management_version(), Some(id), &[]);
    let op = t.op("session.info", Replay::Idempotent, false);
    let response = t.send(op, Some(id), |http| Ok(http.get(url.clone()))).await?;
    let v: Value = read_json(op, response).await?;
    Ok(SessionInfo::from_json(&v))
}

pub(crate) async fn delete_session(t: &Transport, id: &SessionId) -> Result<(), Error> {
    let url = t.url(&["session"], &t.management_version(), Some(id), &[]);
    let op = t.op("session.delete", Replay::Idempotent, false);
    t.send(op, Some(id), |http| Ok(http.delete(url.clone()))).await?;
    Ok(())
}

pub(crate) async fn list_sessions(t: &Transport) -> Result<Vec<SessionInfo>, Error> {
    let op = t.op("pool.list_sessions", Replay::Idempotent, false);
    let first = t.url(&["listSessions"], &t.management_version(), None, &[]);
    paging::collect(t, op, reqwest::Method::GET, None, first, |page| {
        wire::items(wire::field(page, &["sessions", "value"]).unwrap_or(&Value::Null))
            .into_iter()
            .map(SessionInfo::from_json)
            .collect()
    })
    .await
}

pub(crate) async fn metadata(t: &Transport) -> Result<PoolMetadata, Error> {
    let op = t.op("pool.metadata", Replay::Idempotent, false);
    let url = t.url(&["metadata"], &t.management_version(), None, &[]);
    let response = t.send(op, None, |http| Ok(http.get(url.clone()))).await?;
    Ok(PoolMetadata::from_json(read_json(op, response).await?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_kind_is_read_from_runtimes_and_kernel() {
        let kind = |v: Value| PoolMetadata::from_json(v).kind();
        let node = json!({"runtimes": [{"name": "node", "version": "20.2.4"}],
            "jupyterKernel": {"name": "IJavascript", "description": "sync and async kernel for javascript code executions"}});
        assert_eq!(kind(node), PoolKind::JavaScript);
        let python = json!({"runtimes": [{"name": "python", "version": "3.12"}], "jupyterKernel": {"name": "python3"}});
        assert_eq!(kind(python), PoolKind::Python);
        let emulator_python = json!({"runtimes": [{"name": "python"}], "jupyterKernel": {"name": "dynamic-sessions-kernel",
            "description": "Stateful Python kernel"}});
        assert_eq!(kind(emulator_python), PoolKind::Python);
        assert_eq!(
            kind(json!({"runtimes": [{"name": "bash", "version": "5.2"}], "jupyterKernel": null})),
            PoolKind::Shell
        );
        assert_eq!(kind(json!({})), PoolKind::Shell);
        assert_eq!(
            kind(json!({"runtimes": [{"name": "dotnet"}], "jupyterKernel": {"name": "csharp"}})),
            PoolKind::Other
        );
        assert_eq!(PoolKind::Shell.code_language(), None);
        assert_eq!(PoolKind::JavaScript.code_language(), Some("javascript"));
    }
}
