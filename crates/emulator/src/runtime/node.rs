//! Node.js for `NodeLTS` pools: the host's interpreter (version 18 or later), and a cached directory of npm
//! packages (`node_modules`) every JavaScript session can `require`, installed once with npm.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::process::Command;

use super::{Package, RuntimeError, cache_key, make_world_readable, run_logged, setup_lock, world_readable_path};

/// The oldest Node.js the JavaScript kernel runs on.
const MIN_MAJOR: u32 = 18;

/// The Node.js sessions of `NodeLTS` pools run.
#[derive(Debug, Clone)]
pub struct NodeRuntime {
    /// The interpreter (absolute, symlinks resolved).
    pub node: PathBuf,
    /// Its version, e.g. `20.20.2`.
    pub version: String,
    /// The `node_modules` directory of the pre-installed packages, when they could be installed.
    pub modules: Option<PathBuf>,
    /// The pre-installed packages, as their `package.json` files say.
    pub packages: Vec<Package>,
    /// A note for the operator, e.g. why packages are missing.
    pub note: Option<String>,
}

impl NodeRuntime {
    /// The interpreter's installation prefix when it is not under `/usr` (it must then be mounted into the
    /// sandbox): `<prefix>/bin/node`.
    pub fn prefix_outside_usr(&self) -> Option<&Path> {
        let prefix = self.node.parent()?.parent()?;
        (!prefix.starts_with("/usr")).then_some(prefix)
    }
}

/// Finds Node.js (the configured one, else `/usr/bin/node`, else `node` on `PATH`) and, with `setup`, makes
/// (once) or reuses the cached packages under `runtime_dir`; without network access the sessions get Node's
/// standard library only, and the note says so.
///
/// # Errors
/// [`RuntimeError::NoNode`] when there is no usable Node.js 18 or later.
pub async fn prepare(
    configured: Option<&Path>,
    runtime_dir: &Path,
    setup: bool,
    packages: &[String],
) -> Result<NodeRuntime, RuntimeError> {
    let (node, version) = find_node(configured).await?;
    let mut runtime = NodeRuntime { node, version, modules: None, packages: Vec::new(), note: None };
    if setup && !packages.is_empty() {
        match ensure_modules(&runtime, runtime_dir, packages).await {
            Ok(modules) => {
                runtime.packages = installed_packages(&modules, packages);
                runtime.modules = Some(modules);
            }
            Err(reason) => {
                let note = format!(
                    "could not install the npm packages of NodeLTS pools ({reason}); JavaScript sessions have Node \
                     {}'s standard library only. Check network access to the npm registry and restart, or run \
                     `dynamic-sessions-emulator setup`.",
                    runtime.version
                );
                tracing::warn!("{note}");
                runtime.note = Some(note);
            }
        }
    }
    Ok(runtime)
}

async fn find_node(configured: Option<&Path>) -> Result<(PathBuf, String), RuntimeError> {
    let candidate = match configured {
        Some(p) => p.to_path_buf(),
        None if Path::new("/usr/bin/node").exists() => PathBuf::from("/usr/bin/node"),
        None => crate::sandbox::which("node").ok_or_else(|| {
            RuntimeError::NoNode("node is not on PATH (install Node.js 18 or later, or pass --node)".into())
        })?,
    };
    let node =
        fs::canonicalize(&candidate).map_err(|e| RuntimeError::NoNode(format!("{}: {e}", candidate.display())))?;
    let output = Command::new(&node)
        .arg("--version")
        .env_clear()
        .output()
        .await
        .map_err(|e| RuntimeError::NoNode(format!("{}: {e}", node.display())))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().trim_start_matches('v').to_owned();
    let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if !output.status.success() || major < MIN_MAJOR {
        return Err(RuntimeError::NoNode(format!(
            "{} is version {version:?}; the JavaScript kernel needs Node.js {MIN_MAJOR} or later (--node)",
            node.display()
        )));
    }
    if rustix::process::geteuid().is_root() && !world_readable_path(&node) {
        return Err(RuntimeError::NoNode(format!(
            "{} is not readable by unprivileged users (is it under /root?); sessions run as their own uid, so use a \
             system Node.js such as /usr/bin/node (--node)",
            node.display()
        )));
    }
    Ok((node, version))
}

/// Installs `packages` once into `<runtime_dir>/node<version>-<hash>/node_modules`; other emulators wait on
/// the setup lock and reuse it.
async fn ensure_modules(runtime: &NodeRuntime, runtime_dir: &Path, packages: &[String]) -> Result<PathBuf, String> {
    let dir = runtime_dir.join(cache_key("node", &runtime.version, packages));
    let modules = dir.join("node_modules");
    let marker = dir.join(".dynamic-sessions-ready");
    if marker.exists() {
        return Ok(modules);
    }
    let lock = setup_lock(runtime_dir).await?;
    if marker.exists() {
        drop(lock);
        return Ok(modules);
    }
    let started = Instant::now();
    tracing::info!(dir = %dir.display(), packages = %packages.join(" "), "installing the npm packages of NodeLTS pools (once; cached afterwards)");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let npm = runtime
        .node
        .parent()
        .map(|bin| bin.join("npm"))
        .filter(|p| p.exists())
        .or_else(|| crate::sandbox::which("npm"));
    let npm = npm.ok_or("npm is not next to node nor on PATH")?;
    let mut install = Command::new(npm);
    install
        .args(["install", "--no-audit", "--no-fund", "--no-package-lock", "--omit=dev", "--loglevel=http"])
        .args(["--fetch-retries", "2", "--fetch-timeout", "30000", "--prefix"])
        .arg(&dir)
        .args(packages);
    run_logged(&mut install, "npm install").await?;
    make_world_readable(&dir).map_err(|e| format!("cannot make {} readable: {e}", dir.display()))?;
    fs::write(&marker, packages.join("\n")).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "npm packages ready");
    drop(lock);
    Ok(modules)
}

/// The versions of `packages` as installed in `modules`.
fn installed_packages(modules: &Path, packages: &[String]) -> Vec<Package> {
    packages
        .iter()
        .filter_map(|name| {
            let manifest = fs::read_to_string(modules.join(name).join("package.json")).ok()?;
            let json: serde_json::Value = serde_json::from_str(&manifest).ok()?;
            Some(Package { name: name.clone(), version: json["version"].as_str()?.to_owned() })
        })
        .collect()
}
