//! Where the app keeps its conversations and its key, from the environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `DATABASE_URL` | PostgreSQL (`postgres://...`): several replicas may share it; needs `CHAT_APP_SECRET` |
//! | `DATABASE_AUTH=entra` | sign in to PostgreSQL with the app's Entra ID identity (no password) |
//! | `DATABASE_MAX_CONNECTIONS` | connections per app process (default 5 for PostgreSQL, 4 for SQLite) |
//! | `CHAT_APP_DATA_DIR` | without `DATABASE_URL`: the directory of the SQLite file (and of the generated key) |
//! | `CHAT_APP_SECRET` | the key of cookies, CSRF tokens and session identifiers (32 characters or more) |

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::store::{EntraPassword, Store};

/// The shortest secret accepted.
pub const MIN_SECRET_CHARS: usize = 32;

/// The file of the generated key in the data directory.
const SECRET_FILE: &str = "secret";

/// What the environment says, looked up by name (the real environment, or a test's).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The data directory: `CHAT_APP_DATA_DIR`, else `$XDG_DATA_HOME/dynamic-sessions-chat-app`, else
/// `$HOME/.local/share/dynamic-sessions-chat-app`, else `./chat-app-data`.
pub fn data_dir(lookup: Lookup<'_>) -> PathBuf {
    if let Some(dir) = lookup("CHAT_APP_DATA_DIR") {
        return dir.into();
    }
    let base = lookup("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| lookup("HOME").map(|home| Path::new(&home).join(".local/share")));
    match base {
        Some(base) => base.join("dynamic-sessions-chat-app"),
        None => PathBuf::from("chat-app-data"),
    }
}

/// The store the environment names, not yet connected, and a description for the log.
///
/// # Errors
/// In words: a `DATABASE_URL` without `CHAT_APP_SECRET`, a bad URL, a data directory that cannot be made.
pub async fn store(lookup: Lookup<'_>) -> Result<(Store, String), String> {
    let Some(url) = lookup("DATABASE_URL") else {
        let dir = data_dir(lookup);
        let store = Store::sqlite_in(&dir).map_err(|e| e.to_string())?;
        return Ok((store, format!("SQLite in {}", dir.display())));
    };
    if lookup("CHAT_APP_SECRET").is_none() {
        return Err("DATABASE_URL is set, so CHAT_APP_SECRET must be too: every replica must sign cookies and \
                    derive session identifiers with the same key (32 characters or more)"
            .into());
    }
    let host = url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let connections = match lookup("DATABASE_MAX_CONNECTIONS") {
        Some(n) => Some(
            n.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("DATABASE_MAX_CONNECTIONS={n:?}: give a number of connections, 1 or more"))?,
        ),
        None => None,
    };
    match lookup("DATABASE_AUTH").as_deref() {
        Some("entra") => {
            let credential = dynamic_sessions::credential_from_env().map_err(|e| e.to_string())?;
            let entra = EntraPassword::new(&url, credential.credential).map_err(|e| e.to_string())?;
            let store = entra.into_store(connections).await.map_err(|e| e.to_string())?;
            Ok((store, format!("PostgreSQL at {host} (Entra ID, {:?})", credential.kind)))
        }
        None | Some("password") => {
            let store = Store::lazy_with(&url, connections).map_err(|e| e.to_string())?;
            Ok((store, format!("PostgreSQL at {host}")))
        }
        Some(other) => Err(format!("DATABASE_AUTH={other:?}: use entra, or leave it unset")),
    }
}

/// The key: `CHAT_APP_SECRET`, else (SQLite only) the one generated on first start in the data directory, so
/// cookies and sessions survive restarts.
///
/// # Errors
/// In words: a secret that is too short, a key file that cannot be read or written.
pub fn secret(lookup: Lookup<'_>) -> Result<Vec<u8>, String> {
    if let Some(secret) = lookup("CHAT_APP_SECRET") {
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(format!("CHAT_APP_SECRET must be at least {MIN_SECRET_CHARS} characters"));
        }
        return Ok(secret.into_bytes());
    }
    let file = data_dir(lookup).join(SECRET_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) if text.trim().chars().count() >= MIN_SECRET_CHARS => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => return Err(format!("{} is too short: delete it to make a new key", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read the app's key {}: {e}", file.display())),
    }
    let key = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_private(&file, &key).map_err(|e| format!("cannot write the app's key {}: {e}", file.display()))?;
    tracing::info!(file = %file.display(), "made the app's key (set CHAT_APP_SECRET to choose it)");
    Ok(key.into_bytes())
}

/// Writes a file only its owner can read, failing if it exists (two first starts at once keep one key).
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |name| map.get(name).cloned()
    }

    #[tokio::test]
    async fn postgres_needs_the_shared_secret_and_sane_settings() {
        let lookup = env(&[("DATABASE_URL", "postgres://app@127.0.0.1/chat")]);
        let Err(message) = store(&lookup).await else { unreachable!("a store without a secret") };
        assert!(message.contains("CHAT_APP_SECRET"), "{message}");
        let secret = "k".repeat(32);
        let lookup = env(&[("DATABASE_URL", "mysql://x"), ("CHAT_APP_SECRET", &secret)]);
        let Err(message) = store(&lookup).await else { unreachable!("a MySQL store") };
        assert!(message.contains("postgres://"), "{message}");
        let pg = "postgres://app@127.0.0.1/chat";
        for (name, value, says) in
            [("DATABASE_MAX_CONNECTIONS", "0", "1 or more"), ("DATABASE_AUTH", "kerberos", "use entra")]
        {
            let lookup = env(&[("DATABASE_URL", pg), ("CHAT_APP_SECRET", &secret), (name, value)]);
            let Err(message) = store(&lookup).await else { unreachable!("{name}={value} accepted") };
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn the_generated_key_is_kept_and_private() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let path = dir.path().join("data");
        let lookup = env(&[("CHAT_APP_DATA_DIR", path.to_str().unwrap_or_default())]);
        let first = secret(&lookup);
        assert!(first.as_ref().is_ok_and(|k| k.len() >= MIN_SECRET_CHARS), "{first:?}");
        assert_eq!(secret(&lookup), first, "the second start reads the same key");
        let mode = std::fs::metadata(path.join(SECRET_FILE))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o600));
        let short = env(&[("CHAT_APP_SECRET", "short")]);
        assert!(secret(&short).is_err());
    }

    #[test]
    fn the_data_directory_follows_xdg() {
        assert_eq!(data_dir(&env(&[("CHAT_APP_DATA_DIR", "/d")])), PathBuf::from("/d"));
        assert_eq!(data_dir(&env(&[("XDG_DATA_HOME", "/x")])), PathBuf::from("/x/dynamic-sessions-chat-app"));
        assert_eq!(data_dir(&env(&[("HOME", "/h")])), PathBuf::from("/h/.local/share/dynamic-sessions-chat-app"));
    }
}
