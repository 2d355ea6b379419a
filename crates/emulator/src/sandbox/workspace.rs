//! Per-session places for files (`/mnt/data`) and host uids.

use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use super::host::spawner::Spawner;
use super::host::uids::UidPool;
use super::tiers::bubblewrap::holder::{HeldData, HolderTools};
use super::tiers::namespaces::Template;
use super::{SandboxError, io_err};
use crate::config::Limits;

/// One session's place: its `/mnt/data`, and its host uid (when the emulator is root).
#[derive(Debug)]
pub(crate) struct Workspace {
    pub(crate) id: uuid::Uuid,
    /// The host uid the sandbox runs as (when the emulator is root).
    pub(crate) uid: Option<u32>,
    pub(crate) place: Place,
}

/// Where a session's files are.
#[derive(Debug)]
pub(crate) enum Place {
    /// Directories of the host (the bubblewrap and Landlock tiers).
    Host(HostDirs),
    /// Directories of the host whose `data` is covered by a sized tmpfs in a mount namespace of its own (the
    /// bubblewrap tier as an ordinary user; see [`super::holder`]).
    Held(HostDirs, Box<HeldData>),
    /// A sized tmpfs in the session template's mount namespace, reached through this directory descriptor.
    Template(OwnedFd),
}

/// `<sessions>/<id>/data` (the session's `/mnt/data`) and `<sessions>/<id>/tmp`.
#[derive(Debug)]
pub(crate) struct HostDirs {
    root: PathBuf,
    /// Mounted at `/mnt/data` inside the sandbox.
    pub(crate) data: PathBuf,
    /// `/tmp` and `$HOME` of the Landlock tier (bubblewrap uses private tmpfs mounts instead).
    pub(crate) tmp: PathBuf,
    /// The sized tmpfs mounted here (as root), unmounted on destroy.
    mounts: Vec<PathBuf>,
}

/// Which of a host workspace's directories get a sized tmpfs of their own (root only).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quotas {
    /// `data` (`/mnt/data`), `limits.disk_bytes`.
    pub(crate) data: bool,
    /// `tmp` (the Landlock tier's `/tmp` and home), `limits.tmp_bytes`.
    pub(crate) tmp: bool,
}

fn take_uid(uids: Option<&UidPool>) -> Result<Option<u32>, SandboxError> {
    match uids {
        Some(pool) => Ok(Some(
            pool.take().ok_or_else(|| SandboxError::Unavailable("no free session uid (too many sandboxes)".into()))?,
        )),
        None => Ok(None),
    }
}

impl Workspace {
    /// A session's `/mnt/data` in the template: a tmpfs of the session's disk size, owned by its uid.
    pub(crate) fn in_template(
        template: &Template,
        uids: Option<&UidPool>,
        limits: &Limits,
    ) -> Result<Workspace, SandboxError> {
        let id = uuid::Uuid::new_v4();
        let uid = take_uid(uids)?;
        // As root the tmpfs belongs to the session's host uid; otherwise to the template's root, which is the
        // emulator's own user.
        match template.mount(&id.simple().to_string(), limits.disk_bytes, uid.unwrap_or(0)) {
            Ok(data) => Ok(Workspace { id, uid, place: Place::Template(data) }),
            Err(e) => {
                if let (Some(uid), Some(pool)) = (uid, uids) {
                    pool.give_back(uid);
                }
                Err(SandboxError::Io { context: "cannot make the session's /mnt/data".into(), source: e })
            }
        }
    }

    /// The host directories of a host-tier workspace.
    pub(crate) fn host(&self) -> Result<&HostDirs, SandboxError> {
        match &self.place {
            Place::Host(dirs) | Place::Held(dirs, _) => Ok(dirs),
            Place::Template(_) => Err(SandboxError::Unavailable("this session has no host directories".into())),
        }
    }

    /// A fresh workspace of host directories; with `uids` (running as root) it gets its own uid.
    pub(crate) fn create(
        sessions: &Path,
        uids: Option<&UidPool>,
        quotas: Quotas,
        limits: &Limits,
    ) -> Result<Workspace, SandboxError> {
        let id = uuid::Uuid::new_v4();
        let uid = take_uid(uids)?;
        match HostDirs::make(sessions, &id, uid, quotas, limits) {
            Ok(dirs) => Ok(Workspace { id, uid, place: Place::Host(dirs) }),
            Err(e) => {
                if let (Some(uid), Some(pool)) = (uid, uids) {
                    pool.give_back(uid);
                }
                Err(e)
            }
        }
    }

    /// A fresh workspace of host directories whose `/mnt/data` is a tmpfs of the session's disk size in a
    /// mount namespace of its own (the bubblewrap tier when the emulator is not root, so cannot mount on the
    /// host).
    pub(crate) fn create_held(
        sessions: &Path,
        spawner: &Spawner,
        tools: &HolderTools,
        limits: &Limits,
    ) -> Result<Workspace, SandboxError> {
        let id = uuid::Uuid::new_v4();
        let dirs = HostDirs::make(sessions, &id, None, Quotas { data: false, tmp: false }, limits)?;
        match HeldData::make(spawner, tools, &dirs.data, limits.disk_bytes) {
            Ok(held) => Ok(Workspace { id, uid: None, place: Place::Held(dirs, Box::new(held)) }),
            Err(e) => {
                dirs.destroy();
                Err(e)
            }
        }
    }

    /// Whether the session's `/mnt/data` is held in namespaces of its own (see `tiers::bubblewrap::holder`).
    pub(crate) fn is_held(&self) -> bool {
        matches!(self.place, Place::Held(..))
    }

    /// Descriptors of the namespaces that hold the session's `/mnt/data`, which its kernels enter.
    pub(crate) fn held_namespaces(&self) -> Result<Option<[OwnedFd; 2]>, SandboxError> {
        match &self.place {
            Place::Held(_, held) => {
                held.namespaces().map(Some).map_err(io_err("cannot share the namespaces of the session's /mnt/data"))
            }
            _ => Ok(None),
        }
    }

    /// A short name for logs and cgroups.
    pub(crate) fn name(&self) -> String {
        self.id.simple().to_string()
    }

    /// Removes the workspace's files and frees its uid.
    pub(crate) fn destroy(&self, uids: Option<&UidPool>, template: Option<&Template>) {
        match &self.place {
            Place::Host(dirs) => dirs.destroy(),
            Place::Held(dirs, held) => {
                held.release();
                dirs.destroy();
            }
            Place::Template(_) => {
                if let Some(template) = template
                    && let Err(e) = template.umount(&self.name())
                {
                    tracing::warn!(error = %e, "could not remove a session's /mnt/data");
                }
            }
        }
        if let (Some(uid), Some(pool)) = (self.uid, uids) {
            pool.give_back(uid);
        }
    }
}

impl HostDirs {
    /// `<sessions>/<id>/{data,tmp}`, owned by `uid` (as root), with the quotas asked for; nothing is left
    /// behind on failure.
    fn make(
        sessions: &Path,
        id: &uuid::Uuid,
        uid: Option<u32>,
        quotas: Quotas,
        limits: &Limits,
    ) -> Result<HostDirs, SandboxError> {
        let root = sessions.join(id.simple().to_string());
        let mut dirs = HostDirs { data: root.join("data"), tmp: root.join("tmp"), root, mounts: Vec::new() };
        match dirs.populate(uid, quotas, limits) {
            Ok(()) => Ok(dirs),
            Err(e) => {
                dirs.destroy();
                Err(e)
            }
        }
    }

    fn populate(&mut self, uid: Option<u32>, quotas: Quotas, limits: &Limits) -> Result<(), SandboxError> {
        fs::create_dir(&self.root).map_err(io_err(format!("cannot create {}", self.root.display())))?;
        set_mode(&self.root, 0o711)?;
        for dir in [&self.data, &self.tmp] {
            fs::create_dir(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
            set_mode(dir, 0o700)?;
            if let Some(uid) = uid {
                chown(dir, Some(uid), Some(uid)).map_err(io_err(format!("cannot chown {}", dir.display())))?;
            }
        }
        let uid = uid.unwrap_or(0);
        for (wanted, dir, size) in
            [(quotas.data, &self.data, limits.disk_bytes), (quotas.tmp, &self.tmp, limits.tmp_bytes)]
        {
            if wanted {
                mount_tmpfs(dir, &format!("size={size},mode=0700,uid={uid},gid={uid}"))?;
                self.mounts.push(dir.clone());
            }
        }
        Ok(())
    }

    fn destroy(&self) {
        for mounted in &self.mounts {
            if let Ok(path) = CString::new(mounted.as_os_str().as_encoded_bytes()) {
                // SAFETY: umount2 with a valid NUL-terminated path.
                unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
            }
        }
        // remove_dir_all does not follow symlinks, so links planted by the session cannot redirect it.
        if let Err(e) = fs::remove_dir_all(&self.root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.root.display(), error = %e, "could not remove a session directory");
        }
    }
}

fn mount_tmpfs(target: &Path, options: &str) -> Result<(), SandboxError> {
    let cstr = |s: &[u8]| CString::new(s).map_err(|_| SandboxError::Unavailable("path contains NUL".into()));
    let target_c = cstr(target.as_os_str().as_encoded_bytes())?;
    let options_c = cstr(options.as_bytes())?;
    let fstype = cstr(b"tmpfs")?;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target_c.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options_c.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(SandboxError::Io {
            context: format!("cannot mount the session tmpfs on {}", target.display()),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), SandboxError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("cannot chmod {}", path.display())))
}

/// Creates the instance's sessions directory; as root, makes the path traversable (not readable) by session uids.
pub(crate) fn prepare_dir(sessions: &Path, root: bool) -> Result<(), SandboxError> {
    fs::create_dir_all(sessions).map_err(io_err(format!("cannot create {}", sessions.display())))?;
    if root {
        let mut dir = Some(sessions);
        // The instance dir, `sessions/` and the data dir itself.
        for _ in 0..3 {
            let Some(d) = dir else { break };
            let mode = d.metadata().map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o700);
            set_mode(d, mode | 0o711)?;
            dir = d.parent();
        }
    }
    Ok(())
}
