//! The environments `launchShell` hands out: an id per call, a pool session allocated only on its first use,
//! forgotten when its session ends (or, never used, after the pool's cooldown).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most environments remembered per emulator; the oldest are forgotten first.
const MAX_ENVIRONMENTS: usize = 10_000;

/// One environment: its pool, when it was handed out, and whether a session was made for it.
#[derive(Debug, Clone)]
struct Environment {
    pool: String,
    issued: Instant,
    used: bool,
}

/// What is known of an environment id in a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Handed out, and (still) usable.
    Known,
    /// Handed out, but its session ended (the cooldown passed, or it was deleted).
    Expired,
    /// Never handed out by this pool's MCP server.
    Unknown,
}

/// Every environment handed out, by id.
#[derive(Debug, Default)]
pub(crate) struct Environments {
    /// `std` mutex: held for map operations only.
    issued: Mutex<HashMap<String, Environment>>,
}

impl Environments {
    /// A new environment id in `pool`.
    pub(crate) fn launch(&self, pool: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(mut issued) = self.issued.lock() {
            if issued.len() >= MAX_ENVIRONMENTS
                && let Some(oldest) = issued.iter().min_by_key(|(_, e)| e.issued).map(|(id, _)| id.clone())
            {
                issued.remove(&oldest);
            }
            issued.insert(id.clone(), Environment { pool: pool.to_owned(), issued: Instant::now(), used: false });
        }
        id
    }

    /// What `id` is in `pool`: `session_alive` says whether the pool still has its session, `cooldown` is the
    /// pool's idle time before a session ends (an environment never used expires after it too).
    pub(crate) fn lookup(&self, pool: &str, id: &str, session_alive: bool, cooldown: Duration) -> Lookup {
        let Ok(mut issued) = self.issued.lock() else { return Lookup::Unknown };
        let Some(environment) = issued.get(id).filter(|e| e.pool.eq_ignore_ascii_case(pool)) else {
            return Lookup::Unknown;
        };
        let expired = if environment.used { !session_alive } else { environment.issued.elapsed() > cooldown };
        if expired {
            issued.remove(id);
            Lookup::Expired
        } else {
            Lookup::Known
        }
    }

    /// Notes that a session now exists for `id`.
    pub(crate) fn mark_used(&self, id: &str) {
        if let Ok(mut issued) = self.issued.lock()
            && let Some(environment) = issued.get_mut(id)
        {
            environment.used = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_is_known_in_its_pool_until_its_session_ends() {
        let environments = Environments::default();
        let id = environments.launch("py");
        let cooldown = Duration::from_secs(300);
        assert_eq!(environments.lookup("PY", &id, false, cooldown), Lookup::Known, "not used yet: no session needed");
        assert_eq!(environments.lookup("sh", &id, true, cooldown), Lookup::Unknown, "another pool's");
        assert_eq!(environments.lookup("py", "made-up", true, cooldown), Lookup::Unknown);
        environments.mark_used(&id);
        assert_eq!(environments.lookup("py", &id, true, cooldown), Lookup::Known);
        assert_eq!(environments.lookup("py", &id, false, cooldown), Lookup::Expired, "its session ended");
        assert_eq!(environments.lookup("py", &id, true, cooldown), Lookup::Unknown, "then it is forgotten");
        let unused = environments.launch("py");
        assert_eq!(
            environments.lookup("py", &unused, false, Duration::ZERO),
            Lookup::Expired,
            "never used, past the cooldown"
        );
    }
}
