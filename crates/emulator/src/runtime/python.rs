//! The Python the sessions run: a bare interpreter, or a cached virtual environment with packages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use tokio::process::Command;

use super::{Package, RuntimeError, cache_key, make_world_readable, run_logged, setup_lock, world_readable_path};

/// The interpreter and packages sessions get.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The base interpreter (absolute, symlinks resolved).
    pub python: PathBuf,
    /// Its version, e.g. `3.11.2`.
    pub version: String,
    /// Its installation prefix (`sys.base_prefix`).
    pub base_prefix: PathBuf,
    /// The virtual environment, when one is in use.
    pub venv: Option<PathBuf>,
    /// What is really installed, as `importlib.metadata` reports it.
    pub packages: Vec<Package>,
    /// A note for the operator, e.g. why packages are missing.
    pub note: Option<String>,
}

impl Runtime {
    /// matplotlib's prebuilt font cache files (in the virtual environment's `mpl/`), which each session's
    /// writable matplotlib config directory gets.
    pub(crate) fn mpl_cache_files(&self) -> Vec<PathBuf> {
        self.venv
            .as_ref()
            .and_then(|v| std::fs::read_dir(v.join("mpl")).ok())
            .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
            .unwrap_or_default()
    }

    /// The interpreter's prefix when it is not under `/usr` (it must then be mounted into the sandbox).
    pub fn prefix_outside_usr(&self) -> Option<&Path> {
        (!self.base_prefix.starts_with("/usr")).then_some(self.base_prefix.as_path())
    }
}

/// Finds the interpreter: the configured one, else `/usr/bin/python3`, else `python3` on `PATH`.
pub async fn find_python(configured: Option<&Path>) -> Result<(PathBuf, String, PathBuf), RuntimeError> {
    let candidate = match configured {
        Some(p) => p.to_path_buf(),
        None if Path::new("/usr/bin/python3").exists() => PathBuf::from("/usr/bin/python3"),
        None => {
            crate::sandbox::which("python3").ok_or_else(|| RuntimeError::NoPython("python3 is not on PATH".into()))?
        }
    };
    let python =
        fs::canonicalize(&candidate).map_err(|e| RuntimeError::NoPython(format!("{}: {e}", candidate.display())))?;
    let output = Command::new(&python)
        .args(["-I", "-c", "import sys; print(sys.version.split()[0]); print(sys.base_prefix)"])
        .env_clear()
        .output()
        .await
        .map_err(|e| RuntimeError::NoPython(format!("{}: {e}", python.display())))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    match (output.status.success(), lines.next(), lines.next()) {
        (true, Some(version), Some(prefix)) => {
            if rustix::process::geteuid().is_root() && !world_readable_path(&python) {
                return Err(RuntimeError::NoPython(format!(
                    "{} is not readable by unprivileged users (is it under /root?); sessions run as their own \
                     uid, so use a system Python such as /usr/bin/python3 (--python)",
                    python.display()
                )));
            }
            Ok((python, version.to_owned(), PathBuf::from(prefix)))
        }
        _ => Err(RuntimeError::NoPython(format!(
            "{} did not run: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        ))),
    }
}

/// Prepares the runtime: with `setup`, creates (once) or reuses a virtual environment under `runtime_dir` with
/// `packages`; falls back to the bare interpreter with a clear note when that fails (for example offline).
pub async fn prepare(
    configured_python: Option<&Path>,
    runtime_dir: &Path,
    setup: bool,
    packages: &[String],
) -> Result<Runtime, RuntimeError> {
    let (python, version, base_prefix) = find_python(configured_python).await?;
    let mut runtime = Runtime { python, version, base_prefix, venv: None, packages: Vec::new(), note: None };
    if setup && !packages.is_empty() {
        match ensure_venv(&runtime.python, &runtime.version, runtime_dir, packages).await {
            Ok(venv) => runtime.venv = Some(venv),
            Err(reason) => {
                let note = format!(
                    "could not set up the Python packages ({reason}); sessions run bare Python {} without them. \
                     Check network access to PyPI and restart, or run `dynamic-sessions-emulator setup`.",
                    runtime.version
                );
                tracing::warn!("{note}");
                runtime.note = Some(note);
            }
        }
    }
    let interpreter = runtime.venv.as_ref().map(|v| v.join("bin/python")).unwrap_or_else(|| runtime.python.clone());
    runtime.packages = installed_packages(&interpreter).await;
    Ok(runtime)
}

/// The cache directory's name of a package set for one interpreter version.
fn venv_name(version: &str, packages: &[String]) -> String {
    cache_key("venv-py", version, packages)
}

/// Creates the virtual environment once; other emulators wait on a lock and reuse it.
async fn ensure_venv(python: &Path, version: &str, runtime_dir: &Path, packages: &[String]) -> Result<PathBuf, String> {
    let venv = runtime_dir.join(venv_name(version, packages));
    let marker = venv.join(".dynamic-sessions-ready");
    if marker.exists() {
        return Ok(venv);
    }
    let lock = setup_lock(runtime_dir).await?;
    if marker.exists() {
        drop(lock);
        return Ok(venv);
    }
    let started = Instant::now();
    tracing::info!(venv = %venv.display(), packages = %packages.join(" "), "setting up the Python runtime (once; cached afterwards)");
    let _ = fs::remove_dir_all(&venv);
    create_venv(python, &venv).await?;
    let venv_python = venv.join("bin/python");
    let mut pip = Command::new(&venv_python);
    pip.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"])
        .args(["--timeout", "30", "--retries", "2"])
        .args(packages);
    run_logged(&mut pip, "pip install").await?;
    if packages.iter().any(|p| p.eq_ignore_ascii_case("matplotlib")) {
        // Build matplotlib's font cache now: the runtime is read-only inside the sandbox.
        let mpl = venv.join("mpl");
        let _ = fs::create_dir_all(&mpl);
        let mut warm = Command::new(&venv_python);
        warm.args(["-c", "import matplotlib.pyplot"]).env("MPLCONFIGDIR", &mpl).env("MPLBACKEND", "Agg");
        run_logged(&mut warm, "matplotlib font cache").await?;
    }
    make_world_readable(&venv).map_err(|e| format!("cannot make {} readable: {e}", venv.display()))?;
    fs::write(&marker, packages.join("\n")).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "Python runtime ready");
    drop(lock);
    Ok(venv)
}

/// Creates the virtual environment with pip. A Python without `ensurepip` (Debian and Ubuntu without the
/// `python3-venv` package) gets one without pip, and pip's wheel from the package index then installs pip.
async fn create_venv(python: &Path, venv: &Path) -> Result<(), String> {
    let has_ensurepip = Command::new(python)
        .args(["-I", "-c", "import ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if has_ensurepip {
        return run_logged(Command::new(python).arg("-m").arg("venv").arg(venv), "python -m venv").await;
    }
    tracing::info!(
        "this Python has no ensurepip (on Debian and Ubuntu it comes with python3-venv): creating the environment \
         without pip, then installing pip from its wheel on the package index"
    );
    run_logged(Command::new(python).args(["-m", "venv", "--without-pip"]).arg(venv), "python -m venv --without-pip")
        .await?;
    let mut bootstrap = Command::new(venv.join("bin/python"));
    bootstrap.args(["-I", "-c", PIP_BOOTSTRAP]);
    if let Ok(index) = std::env::var("PIP_INDEX_URL") {
        bootstrap.env("DS_INDEX_URL", index);
    }
    run_logged(&mut bootstrap, "pip bootstrap").await
}

/// Installs pip into the running interpreter from the newest pip wheel on the index (PEP 691 JSON; the
/// index's sha256 checked), using pip's own ability to run from its wheel. Standard library only.
const PIP_BOOTSTRAP: &str = r#"
import hashlib, json, os, re, subprocess, sys, tempfile, urllib.parse, urllib.request
index = os.environ.get("DS_INDEX_URL", "https://pypi.org/simple").rstrip("/")
request = urllib.request.Request(index + "/pip/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(request, timeout=60) as answer:
    files = json.load(answer)["files"]
here = sys.version_info[:2]
def fits(spec):
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        m = re.fullmatch(r">=\s*(\d+)\.(\d+)(?:\.\d+)?", part)
        if m and here < (int(m.group(1)), int(m.group(2))):
            return False
    return True
wheels = []
for f in files:
    m = re.fullmatch(r"pip-(\d+(?:\.\d+)*)-py3-none-any\.whl", f["filename"])
    if m and not f.get("yanked") and fits(f.get("requires-python")) and f.get("hashes", {}).get("sha256"):
        wheels.append((tuple(int(x) for x in m.group(1).split(".")), f))
if not wheels:
    sys.exit("no pip wheel for Python %d.%d on %s" % (here + (index,)))
_, best = max(wheels, key=lambda w: w[0])
url = urllib.parse.urljoin(index + "/pip/", best["url"])
print("downloading", best["filename"], flush=True)
with urllib.request.urlopen(url, timeout=120) as answer:
    data = answer.read()
if hashlib.sha256(data).hexdigest() != best["hashes"]["sha256"]:
    sys.exit("the pip wheel does not match the index's sha256")
with tempfile.TemporaryDirectory() as tmp:
    wheel = os.path.join(tmp, best["filename"])
    with open(wheel, "wb") as out:
        out.write(data)
    print("installing", best["filename"], flush=True)
    subprocess.run([sys.executable, os.path.join(wheel, "pip"), "install", "--no-index", "--no-input",
                    "--disable-pip-version-check", wheel], check=True)
"#;

/// Lists the distributions importable by `interpreter`.
async fn installed_packages(interpreter: &Path) -> Vec<Package> {
    let script = "import importlib.metadata as m, json\n\
                  print(json.dumps(sorted({(d.metadata['Name'] or '', d.version) for d in m.distributions()})))";
    let output = Command::new(interpreter).args(["-I", "-c", script]).env_clear().output().await;
    let Ok(output) = output else { return Vec::new() };
    let pairs: Vec<(String, String)> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    pairs.into_iter().filter(|(n, _)| !n.is_empty()).map(|(name, version)| Package { name, version }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_name_ignores_order_and_case() {
        let a = venv_name("3.11.2", &["numpy".into(), "Pandas".into()]);
        let b = venv_name("3.11.2", &["pandas".into(), "numpy".into()]);
        assert_eq!(a, b);
        assert_ne!(a, venv_name("3.12.0", &["numpy".into(), "pandas".into()]));
    }
}
