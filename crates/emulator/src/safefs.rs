//! Host-side file operations on a session's directory that never follow what sandboxed code planted.
//!
//! Every path is resolved with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
//! relative to the session directory, so a symlink or `..` cannot lead outside it; only regular files are
//! read (a FIFO would block); uploads go to a temporary file that is renamed into place only when complete.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use crate::sandbox::{Place, Workspace};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, openat2, statat};
use time::OffsetDateTime;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS).union(ResolveFlags::NO_MAGICLINKS);
const MAX_DEPTH: usize = 64;
const MAX_ENTRIES: usize = 100_000;

/// File operation failures, each mapped to a service error by the API layer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FsError {
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error("{0} is a symbolic link or leaves the session directory; it cannot be accessed")]
    Refused(String),
    #[error("the session's disk is full")]
    DiskFull,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn classify(path: &str, e: rustix::io::Errno) -> FsError {
    match e {
        rustix::io::Errno::NOENT => FsError::NotFound(display(path)),
        rustix::io::Errno::LOOP | rustix::io::Errno::XDEV => FsError::Refused(display(path)),
        rustix::io::Errno::NOTDIR => FsError::NotFound(display(path)),
        rustix::io::Errno::ISDIR => FsError::NotAFile(display(path)),
        rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT | rustix::io::Errno::FBIG => FsError::DiskFull,
        other => FsError::Io { context: display(path), source: other.into() },
    }
}

fn display(path: &str) -> String {
    format!("/mnt/data/{path}")
}

/// A path inside the session directory, as validated segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelPath {
    segments: Vec<String>,
}

impl RelPath {
    /// Parses a client path: relative, or absolute under `/mnt/data`. Leading and trailing slashes are
    /// tolerated; `.` and `..` segments, NUL and empty names are rejected. `""` and `/mnt/data` are the root.
    pub(crate) fn parse(raw: &str) -> Result<RelPath, FsError> {
        // No trimming: a name may really end in a space.
        let trimmed = raw;
        let rest = match trimmed.strip_prefix("/mnt/data") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ if trimmed.starts_with('/') && trimmed != "/" => {
                return Err(FsError::InvalidPath(format!("{raw:?} is outside /mnt/data")));
            }
            _ => trimmed,
        };
        let mut segments = Vec::new();
        for segment in rest.split('/').filter(|s| !s.is_empty()) {
            if segment == "." || segment == ".." {
                return Err(FsError::InvalidPath(format!("{raw:?} contains a {segment:?} segment")));
            }
            if segment.contains('\0') || segment.len() > 255 {
                return Err(FsError::InvalidPath(format!("{raw:?} contains an invalid file name")));
            }
            segments.push(segment.to_owned());
        }
        Ok(RelPath { segments })
    }

    /// Joins a directory and a name (the service's `path` parameter plus a file name).
    pub(crate) fn join(&self, name: &RelPath) -> RelPath {
        let mut segments = self.segments.clone();
        segments.extend(name.segments.iter().cloned());
        RelPath { segments }
    }

    pub(crate) fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    pub(crate) fn as_string(&self) -> String {
        self.segments.join("/")
    }

    fn split_last(&self) -> Option<(RelPath, &str)> {
        let (last, parent) = self.segments.split_last()?;
        Some((RelPath { segments: parent.to_vec() }, last.as_str()))
    }
}

/// A file or directory in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    /// The parent directory relative to `/mnt/data` (empty at the top).
    pub(crate) directory: String,
    pub(crate) is_dir: bool,
    pub(crate) size: u64,
    pub(crate) modified: OffsetDateTime,
}

/// File access to one session directory.
#[derive(Debug)]
pub(crate) struct SessionFs {
    root: OwnedFd,
    uid: Option<u32>,
}

impl SessionFs {
    pub(crate) fn open(dir: &Path, uid: Option<u32>) -> io::Result<SessionFs> {
        let root = rustix::fs::open(dir, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(SessionFs { root, uid })
    }

    /// The files of a session: its host directory, or the descriptor of its tmpfs (in the template or a holder).
    pub(crate) fn for_workspace(workspace: &Workspace) -> io::Result<SessionFs> {
        match &workspace.place {
            Place::Host(dirs) => Self::open(&dirs.data, workspace.uid),
            Place::Held(_, held) => Ok(SessionFs { root: held.data()?, uid: workspace.uid }),
            Place::Template(dir) => {
                Ok(SessionFs { root: rustix::io::fcntl_dupfd_cloexec(dir, 3)?, uid: workspace.uid })
            }
        }
    }

    fn open_dir(&self, path: &RelPath) -> Result<OwnedFd, FsError> {
        if path.is_root() {
            return rustix::io::dup(&self.root).map_err(|e| classify("", e));
        }
        openat2(
            &self.root,
            path.as_string(),
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(|e| classify(&path.as_string(), e))
    }

    fn entry_at(dir: impl AsFd, name: &str, directory: &str) -> Option<Entry> {
        let stat = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        if kind != FileType::RegularFile && kind != FileType::Directory {
            return None; // symlinks, FIFOs, sockets and devices are not session files
        }
        let nanos = i128::from(stat.st_mtime) * 1_000_000_000 + i128::from(stat.st_mtime_nsec);
        Some(Entry {
            name: name.to_owned(),
            directory: directory.to_owned(),
            is_dir: kind == FileType::Directory,
            size: stat.st_size.max(0) as u64,
            modified: OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        })
    }

    /// Lists a directory, or everything below it.
    pub(crate) fn list(&self, dir: &RelPath, recursive: bool) -> Result<Vec<Entry>, FsError> {
        let mut out = Vec::new();
        let mut pending = vec![(dir.clone(), 0usize)];
        while let Some((current, depth)) = pending.pop() {
            let fd = self.open_dir(&current)?;
            let prefix = current.as_string();
            let dir_iter = Dir::read_from(&fd).map_err(|e| classify(&prefix, e))?;
            for item in dir_iter {
                let Ok(item) = item else { continue };
                let name = item.file_name().to_string_lossy().into_owned();
                if name == "." || name == ".." || name.starts_with(".upload-") {
                    continue;
                }
                let Some(entry) = Self::entry_at(&fd, &name, &prefix) else { continue };
                if entry.is_dir && recursive && depth < MAX_DEPTH {
                    pending.push((current.join(&RelPath { segments: vec![name.clone()] }), depth + 1));
                }
                out.push(entry);
                if out.len() >= MAX_ENTRIES {
                    return Ok(out);
                }
            }
        }
        out.sort_by(|a, b| (a.directory.as_str(), a.name.as_str()).cmp(&(b.directory.as_str(), b.name.as_str())));
        Ok(out)
    }

    /// Metadata of one file or directory.
    pub(crate) fn stat(&self, path: &RelPath) -> Result<Entry, FsError> {
        let (parent, name) = path.split_last().ok_or_else(|| FsError::InvalidPath("no file name given".into()))?;
        let fd = self.open_dir(&parent)?;
        Self::entry_at(&fd, name, &parent.as_string()).ok_or_else(|| {
            match statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => FsError::Refused(display(&path.as_string())),
                Err(e) => classify(&path.as_string(), e),
            }
        })
    }

    /// Opens a regular file for reading.
    pub(crate) fn open_read(&self, path: &RelPath) -> Result<(File, Entry), FsError> {
        let text = path.as_string();
        let entry = self.stat(path)?;
        if entry.is_dir {
            return Err(FsError::NotAFile(display(&text)));
        }
        let fd = openat2(
            &self.root,
            &text,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(|e| classify(&text, e))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| classify(&text, e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(FsError::NotAFile(display(&text)));
        }
        Ok((File::from(fd), Entry { size: stat.st_size.max(0) as u64, ..entry }))
    }

    /// Starts an upload: creates missing parent directories and a temporary file beside the target.
    pub(crate) fn create_upload(&self, path: &RelPath) -> Result<PendingUpload, FsError> {
        let (parent, name) =
            path.split_last().ok_or_else(|| FsError::InvalidPath("the upload has no file name".into()))?;
        let mut dir = rustix::io::dup(&self.root).map_err(|e| classify("", e))?;
        let mut walked = RelPath { segments: Vec::new() };
        for segment in &parent.segments {
            walked.segments.push(segment.clone());
            let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            dir = match openat2(&dir, segment.as_str(), flags, Mode::empty(), RESOLVE) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => {
                    rustix::fs::mkdirat(&dir, segment.as_str(), Mode::from_raw_mode(0o755))
                        .map_err(|e| classify(&walked.as_string(), e))?;
                    let fd = openat2(&dir, segment.as_str(), flags, Mode::empty(), RESOLVE)
                        .map_err(|e| classify(&walked.as_string(), e))?;
                    self.chown(&fd);
                    fd
                }
                Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
                    // An existing entry that is not a plain directory (a file, or a link planted by the session).
                    return Err(FsError::Refused(display(&walked.as_string())));
                }
                Err(e) => return Err(classify(&walked.as_string(), e)),
            };
        }
        let temp = format!(".upload-{}.part", uuid::Uuid::new_v4().simple());
        let fd = rustix::fs::openat(
            &dir,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| classify(&path.as_string(), e))?;
        self.chown(&fd);
        Ok(PendingUpload { parent: dir, temp, name: name.to_owned(), path: path.clone(), file: Some(File::from(fd)) })
    }

    fn chown(&self, fd: &OwnedFd) {
        if let Some(uid) = self.uid {
            let id = rustix::process::Uid::from_raw(uid);
            let gid = rustix::process::Gid::from_raw(uid);
            let _ = rustix::fs::fchown(fd, Some(id), Some(gid));
        }
    }

    /// Deletes a file (not a directory).
    pub(crate) fn delete(&self, path: &RelPath) -> Result<(), FsError> {
        let entry = self.stat(path)?;
        if entry.is_dir {
            return Err(FsError::NotAFile(display(&path.as_string())));
        }
        let (parent, name) = path.split_last().ok_or_else(|| FsError::InvalidPath("no file name given".into()))?;
        let fd = self.open_dir(&parent)?;
        rustix::fs::unlinkat(&fd, name, AtFlags::empty()).map_err(|e| classify(&path.as_string(), e))
    }
}

/// An upload being written. Call [`PendingUpload::commit`] to publish it; dropping it removes the temporary file.
#[derive(Debug)]
pub(crate) struct PendingUpload {
    parent: OwnedFd,
    temp: String,
    name: String,
    path: RelPath,
    file: Option<File>,
}

impl PendingUpload {
    /// The file to write into.
    pub(crate) fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    /// Renames the complete file into place.
    pub(crate) fn commit(mut self) -> Result<Entry, FsError> {
        self.file.take();
        rustix::fs::renameat(&self.parent, self.temp.as_str(), &self.parent, self.name.as_str())
            .map_err(|e| classify(&self.path.as_string(), e))?;
        self.temp.clear();
        let directory = self.path.split_last().map(|(p, _)| p.as_string()).unwrap_or_default();
        SessionFs::entry_at(&self.parent, &self.name, &directory)
            .ok_or_else(|| FsError::NotFound(display(&self.path.as_string())))
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if !self.temp.is_empty() {
            let _ = rustix::fs::unlinkat(&self.parent, self.temp.as_str(), AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn paths() {
        assert_eq!(RelPath::parse("/mnt/data/a/b.txt").map(|p| p.as_string()).ok(), Some("a/b.txt".to_owned()));
        assert!(RelPath::parse("/mnt/data").is_ok_and(|p| p.is_root()));
        assert!(RelPath::parse("").is_ok_and(|p| p.is_root()));
        assert!(RelPath::parse("/").is_ok_and(|p| p.is_root()));
        for bad in ["../x", "a/../../x", "/etc/passwd", "/mnt/database", "a/./b"] {
            assert!(RelPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symlinks_and_escapes_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let session = tmp.path().join("s");
        std::fs::create_dir(&session)?;
        std::fs::write(tmp.path().join("secret"), "host secret")?;
        std::os::unix::fs::symlink(tmp.path().join("secret"), session.join("evil.txt"))?;
        std::os::unix::fs::symlink(tmp.path(), session.join("evil-dir"))?;
        let fs = SessionFs::open(&session, None)?;
        assert!(matches!(fs.open_read(&RelPath::parse("evil.txt")?), Err(FsError::Refused(_))));
        assert!(fs.open_read(&RelPath::parse("evil-dir/secret")?).is_err());
        assert!(fs.list(&RelPath::parse("evil-dir")?, false).is_err());
        assert!(fs.create_upload(&RelPath::parse("evil-dir/x")?).is_err());
        assert!(fs.list(&RelPath::parse("")?, true)?.is_empty(), "symlinks are not listed");
        assert_eq!(std::fs::read_to_string(tmp.path().join("secret"))?, "host secret");
        Ok(())
    }

    #[test]
    fn upload_is_atomic_and_nested() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let fs = SessionFs::open(tmp.path(), None)?;
        let path = RelPath::parse("out/deep/r.bin")?;
        let mut pending = fs.create_upload(&path)?;
        pending.take_file().ok_or("no file")?.write_all(b"abc")?;
        assert!(fs.stat(&path).is_err(), "not visible before commit");
        drop(pending);
        assert!(fs.list(&RelPath::parse("out/deep")?, false)?.is_empty(), "aborted upload left nothing");
        let mut pending = fs.create_upload(&path)?;
        pending.take_file().ok_or("no file")?.write_all(b"abc")?;
        let entry = pending.commit()?;
        assert_eq!((entry.size, entry.directory.as_str()), (3, "out/deep"));
        let (mut file, _) = fs.open_read(&path)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        assert_eq!(text, "abc");
        let all = fs.list(&RelPath::parse("")?, true)?;
        assert_eq!(
            all.iter().map(|e| format!("{}/{}", e.directory, e.name)).collect::<Vec<_>>(),
            ["/out", "out/deep", "out/deep/r.bin"]
        );
        fs.delete(&path)?;
        assert!(matches!(fs.stat(&path), Err(FsError::NotFound(_))));
        Ok(())
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

            /// File names and paths from URLs, `path` parameters and multipart file names: no panic; accepted
            /// paths never leave the session directory and round-trip.
            #[test]
            fn client_paths(raw in prop_oneof![
                any::<String>(),
                "(/mnt/data|/|\\.\\.|\\.|[a-zé]{1,3}|\\x00|//|\\\\|/etc)*",
            ]) {
                match RelPath::parse(&raw) {
                    Ok(p) => {
                        prop_assert!(p.segments.iter().all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')));
                        prop_assert_eq!(RelPath::parse(&p.as_string()).ok(), Some(p.clone()));
                    }
                    Err(FsError::InvalidPath(message)) => prop_assert!(!message.is_empty()),
                    Err(other) => prop_assert!(false, "unexpected error {other:?}"),
                }
            }
        }
    }
}
