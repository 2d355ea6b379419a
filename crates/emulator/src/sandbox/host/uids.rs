//! Host uids for sessions (when the emulator runs as root): one unprivileged uid per live sandbox.
//!
//! Every emulator instance on a host claims its own block of [`BLOCK`] uids inside [`SESSION_UIDS`]; the
//! claim is an exclusive `flock` on a file in [`CLAIM_DIR`], held for the instance's lifetime, so two
//! emulators never hand out the same uid (a session of one could otherwise signal or read the other's).

use std::fs;
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;

use rustix::fs::{FlockOperation, flock};

/// Every uid any emulator gives a session. Nothing else on a normal host uses this range.
pub const SESSION_UIDS: Range<u32> = 1_000_000..10_000_000;
/// The uids of one instance: `base .. base + BLOCK`.
pub(crate) const BLOCK: u32 = 4096;
/// Where instances record which block they hold (root only; tmpfs, so claims vanish at reboot).
const CLAIM_DIR: &str = "/run/dynamic-sessions-emulator/uid-blocks";

/// An instance's block of uids, and which of them are free.
#[derive(Debug)]
pub(crate) struct UidPool {
    base: u32,
    free: Mutex<Vec<u32>>,
    /// The held claim (the lock is released when the file is closed, at drop).
    _claim: Option<fs::File>,
}

impl UidPool {
    /// Claims a free block for `slots` sandboxes (at most [`BLOCK`]).
    pub(crate) fn claim(slots: usize) -> Result<UidPool, String> {
        let slots = u32::try_from(slots).ok().filter(|s| *s <= BLOCK).ok_or_else(|| {
            format!("at most {BLOCK} sandboxes per emulator (max sessions + ready sessions); lower --max-sessions")
        })?;
        fs::create_dir_all(CLAIM_DIR).map_err(|e| format!("cannot create {CLAIM_DIR}: {e}"))?;
        let blocks = (SESSION_UIDS.end - SESSION_UIDS.start) / BLOCK;
        // Start at a random block so instances rarely contend for the same lock.
        let first = (uuid::Uuid::new_v4().as_u128() % u128::from(blocks)) as u32;
        for n in (0..blocks).map(|i| (first + i) % blocks) {
            let path = Path::new(CLAIM_DIR).join(format!("{n}.lock"));
            let Ok(file) = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path) else {
                continue;
            };
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
                let base = SESSION_UIDS.start + n * BLOCK;
                return Ok(UidPool {
                    base,
                    free: Mutex::new((base..base + slots).rev().collect()),
                    _claim: Some(file),
                });
            }
        }
        Err(format!("every block of session uids is claimed by a running emulator (see {CLAIM_DIR})"))
    }

    /// The uids this instance hands out.
    pub(crate) fn range(&self) -> Range<u32> {
        self.base..self.base + BLOCK
    }

    pub(crate) fn take(&self) -> Option<u32> {
        self.free.lock().ok()?.pop()
    }

    pub(crate) fn give_back(&self, uid: u32) {
        if self.range().contains(&uid)
            && let Ok(mut free) = self.free.lock()
        {
            free.push(uid);
        }
    }
}
