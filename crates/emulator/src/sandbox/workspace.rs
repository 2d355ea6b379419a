//! Per-session directories and host uids.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{SandboxError, io_err};
use crate::config::Limits;

/// Host uids handed to sessions: `base + slot`, one slot per live sandbox. The base is random per emulator
/// instance, so two emulators on one host do not share uids.
#[derive(Debug)]
pub(crate) struct UidPool {
    base: u32,
    free: Mutex<Vec<usize>>,
}

impl UidPool {
    pub(crate) fn new(slots: usize) -> Self {
        let spread = (uuid::Uuid::new_v4().as_u128() % 2000) as u32;
        UidPool { base: 1_000_000 + spread * 4096, free: Mutex::new((0..slots).rev().collect()) }
    }

    fn take(&self) -> Option<(usize, u32)> {
        let slot = self.free.lock().ok()?.pop()?;
        Some((slot, self.base + slot as u32))
    }

    fn give_back(&self, slot: usize) {
        if let Ok(mut free) = self.free.lock() {
            free.push(slot);
        }
    }
}

/// One sandbox's directories: `<sessions>/<id>/data` (the session's `/mnt/data`) and `<sessions>/<id>/tmp`.
#[derive(Debug)]
pub(crate) struct Workspace {
    pub(crate) id: uuid::Uuid,
    slot: Option<usize>,
    /// The host uid the sandbox runs as (when the emulator is root).
    pub(crate) uid: Option<u32>,
    root: PathBuf,
    /// Mounted at `/mnt/data` inside the sandbox.
    pub(crate) data: PathBuf,
    /// `/tmp` and `$HOME` of the Landlock tier (bubblewrap uses private tmpfs mounts instead).
    pub(crate) tmp: PathBuf,
    tmpfs: bool,
}

impl Workspace {
    pub(crate) fn create(
        sessions: &Path,
        uids: &UidPool,
        own_uid: bool,
        disk_quota: bool,
        limits: &Limits,
    ) -> Result<Workspace, SandboxError> {
        let id = uuid::Uuid::new_v4();
        let (slot, uid) = if own_uid {
            let (slot, uid) = uids
                .take()
                .ok_or_else(|| SandboxError::Unavailable("no free session uid (too many sandboxes)".into()))?;
            (Some(slot), Some(uid))
        } else {
            (None, None)
        };
        let root = sessions.join(id.simple().to_string());
        let mut workspace =
            Workspace { id, slot, uid, data: root.join("data"), tmp: root.join("tmp"), root, tmpfs: false };
        if let Err(e) = workspace.populate(disk_quota, limits) {
            workspace.destroy(uids);
            return Err(e);
        }
        Ok(workspace)
    }

    fn populate(&mut self, disk_quota: bool, limits: &Limits) -> Result<(), SandboxError> {
        fs::create_dir(&self.root).map_err(io_err(format!("cannot create {}", self.root.display())))?;
        set_mode(&self.root, 0o711)?;
        for dir in [&self.data, &self.tmp] {
            fs::create_dir(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
            set_mode(dir, 0o700)?;
            if let Some(uid) = self.uid {
                chown(dir, Some(uid), Some(uid)).map_err(io_err(format!("cannot chown {}", dir.display())))?;
            }
        }
        if disk_quota {
            let uid = self.uid.unwrap_or(0);
            let options = format!("size={},mode=0700,uid={uid},gid={uid}", limits.disk_bytes);
            mount_tmpfs(&self.data, &options)?;
            self.tmpfs = true;
        }
        Ok(())
    }

    /// A short name for logs and cgroups.
    pub(crate) fn name(&self) -> String {
        self.id.simple().to_string()
    }

    pub(crate) fn destroy(&self, uids: &UidPool) {
        if self.tmpfs
            && let Ok(path) = CString::new(self.data.as_os_str().as_encoded_bytes())
        {
            // SAFETY: umount2 with a valid NUL-terminated path.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
        // remove_dir_all does not follow symlinks, so links planted by the session cannot redirect it.
        if let Err(e) = fs::remove_dir_all(&self.root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.root.display(), error = %e, "could not remove a session directory");
        }
        if let Some(slot) = self.slot {
            uids.give_back(slot);
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
