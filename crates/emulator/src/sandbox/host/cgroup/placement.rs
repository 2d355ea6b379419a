//! Where this process's cgroups are, and so where the emulator's go: the top of each hierarchy as root, the
//! cgroup delegated to the user otherwise.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Controller, ROOT, SELF_LEAF, V1_CONTROLLERS, Version};

/// One hierarchy this process belongs to, from `/proc/self/cgroup`: `<id>:<controllers>:<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    /// The v1 controllers (`cpu,cpuacct`), or empty for the v2 hierarchy.
    controllers: String,
    /// The cgroup's path from the hierarchy's root.
    path: String,
}

/// Parses `/proc/self/cgroup` (named hierarchies such as `name=systemd` are skipped).
fn memberships(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            (!controllers.starts_with("name="))
                .then(|| Membership { controllers: controllers.to_owned(), path: path.to_owned() })
        })
        .collect()
}

/// A directory under `root` for a cgroup path; a delegated v2 cgroup's `SELF_LEAF` stands for its parent.
fn under(root: &Path, path: &str) -> PathBuf {
    let path = path.trim_matches('/');
    let path = match path.rsplit_once('/') {
        Some((parent, SELF_LEAF)) => parent,
        None if path == SELF_LEAF => "",
        _ => path,
    };
    if path.is_empty() { root.to_path_buf() } else { root.join(path) }
}

/// Where one controller's (or v2's) emulator cgroups go: `(controller, parent of EMULATOR_DIR)`.
/// `privileged`: the top of each hierarchy; otherwise this process's own cgroups (delegated, or not usable).
fn parents(root: &Path, version: Version, privileged: bool, own: &[Membership]) -> Vec<(Controller, PathBuf)> {
    match version {
        Version::V2 => {
            let path = own.iter().find(|m| m.controllers.is_empty()).map(|m| m.path.as_str());
            match (privileged, path) {
                (true, _) => vec![(Controller::Unified, root.to_path_buf())],
                (false, Some(path)) => vec![(Controller::Unified, under(root, path))],
                (false, None) => Vec::new(),
            }
        }
        Version::V1 => V1_CONTROLLERS
            .iter()
            .filter_map(|&name| {
                let controller = Controller::v1(name)?;
                if privileged {
                    return Some((controller, root.join(name)));
                }
                let member = own.iter().find(|m| m.controllers.split(',').any(|c| c == name))?;
                Some((controller, under(&root.join(&member.controllers), &member.path)))
            })
            .collect(),
    }
}

/// This host's cgroup version, and where this process's emulator cgroups go.
pub(super) fn placement(privileged: bool) -> (Version, Vec<(Controller, PathBuf)>) {
    let root = Path::new(ROOT);
    let version = if root.join("cgroup.controllers").exists() { Version::V2 } else { Version::V1 };
    let own = fs::read_to_string("/proc/self/cgroup").map(|t| memberships(&t)).unwrap_or_default();
    (version, parents(root, version, privileged, &own))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/cgroup` of a process in a hybrid systemd host's user session.
    const HYBRID: &str = "12:pids:/user.slice/user-1000.slice/session-2.scope\n\
        4:memory:/user.slice/user-1000.slice/session-2.scope\n\
        3:cpu,cpuacct:/user.slice\n\
        1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n\
        0::/user.slice/user-1000.slice/session-2.scope\n";

    #[test]
    fn memberships_skip_named_hierarchies_and_keep_colons_in_paths() {
        let own = memberships(HYBRID);
        assert_eq!(own.len(), 4, "{own:?}");
        assert!(own.iter().all(|m| !m.controllers.starts_with("name=")));
        let odd = memberships("0::/a:b\n");
        assert_eq!(odd, vec![Membership { controllers: String::new(), path: "/a:b".into() }]);
        assert!(memberships("garbage\n\n").is_empty());
    }

    #[test]
    fn a_user_gets_its_own_cgroups_and_root_the_top_of_each_hierarchy() {
        let root = Path::new("/sys/fs/cgroup");
        let own = memberships(HYBRID);
        let user = parents(root, Version::V1, false, &own);
        assert_eq!(
            user,
            vec![
                (Controller::Pids, root.join("pids/user.slice/user-1000.slice/session-2.scope")),
                (Controller::Memory, root.join("memory/user.slice/user-1000.slice/session-2.scope")),
                (Controller::Cpu, root.join("cpu,cpuacct/user.slice")),
            ]
        );
        let privileged = parents(root, Version::V1, true, &own);
        assert_eq!(privileged[1], (Controller::Memory, root.join("memory")));
        let v2 = parents(root, Version::V2, false, &own);
        assert_eq!(v2, vec![(Controller::Unified, root.join("user.slice/user-1000.slice/session-2.scope"))]);
        assert_eq!(parents(root, Version::V2, true, &own), vec![(Controller::Unified, root.to_path_buf())]);
    }

    #[test]
    fn the_leaf_the_emulator_moved_into_stands_for_the_delegated_cgroup() {
        let root = Path::new("/sys/fs/cgroup");
        let own = memberships(&format!("0::/user.slice/app.scope/{SELF_LEAF}\n"));
        assert_eq!(
            parents(root, Version::V2, false, &own),
            vec![(Controller::Unified, root.join("user.slice/app.scope"))]
        );
        assert_eq!(under(root, "/"), root.to_path_buf());
        assert_eq!(under(root, &format!("/{SELF_LEAF}")), root.to_path_buf());
        assert_eq!(under(root, "/a/x-dynamic-sessions-emulator.self"), root.join("a/x-dynamic-sessions-emulator.self"));
    }
}
