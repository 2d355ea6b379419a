//! Validated paths of files inside a session's `/mnt/data`.

use std::fmt;

use crate::error::Error;

/// The directory every session file lives under.
pub const MOUNT_POINT: &str = "/mnt/data";

/// A file path inside a session's `/mnt/data`, relative to it (`report.csv`, `out/chart.png`).
///
/// Accepts a bare name, a relative path, or an absolute path under `/mnt/data/`. Rejects empty names, `.` and
/// `..` segments, empty segments (`a//b`), absolute paths elsewhere, backslashes, NUL and other control
/// characters, so a path can never point outside the session's directory.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemotePath {
    /// Normalised, `/`-separated, relative to `/mnt/data`, non-empty.
    relative: String,
}

impl RemotePath {
    /// Validates a remote file path.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] saying which rule the path breaks.
    pub fn new(path: &str) -> Result<Self, Error> {
        let relative = strip_mount(path)?;
        if relative.is_empty() {
            return Err(Error::invalid(format!("{path:?} names the /mnt/data directory itself, not a file")));
        }
        validate_segments(path, relative)?;
        Ok(RemotePath { relative: relative.to_owned() })
    }

    /// The path relative to `/mnt/data` (`out/chart.png`).
    pub fn as_str(&self) -> &str {
        &self.relative
    }

    /// The absolute path inside the session (`/mnt/data/out/chart.png`).
    pub fn absolute(&self) -> String {
        format!("{MOUNT_POINT}/{}", self.relative)
    }

    /// The last segment (`chart.png`).
    pub fn file_name(&self) -> &str {
        self.relative.rsplit('/').next().unwrap_or(&self.relative)
    }

    /// The directory relative to `/mnt/data` (`out`), or `None` for a top-level file.
    pub fn directory(&self) -> Option<&str> {
        self.relative.rsplit_once('/').map(|(dir, _)| dir)
    }

    /// The path's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.relative.split('/')
    }
}

/// Validates a directory under `/mnt/data` for listing: `None` is `/mnt/data` itself.
pub(crate) fn directory(path: &str) -> Result<Option<String>, Error> {
    let relative = strip_mount(path)?.trim_end_matches('/');
    if relative.is_empty() {
        return Ok(None);
    }
    validate_segments(path, relative)?;
    Ok(Some(relative.to_owned()))
}

fn strip_mount(path: &str) -> Result<&str, Error> {
    if let Some(rest) = path.strip_prefix(MOUNT_POINT) {
        if rest.is_empty() {
            return Ok("");
        }
        if let Some(rest) = rest.strip_prefix('/') {
            return Ok(rest);
        }
    }
    if path.starts_with('/') {
        return Err(Error::invalid(format!(
            "{path:?} is outside {MOUNT_POINT}; session files are addressed relative to {MOUNT_POINT} (e.g. \"data.csv\")"
        )));
    }
    Ok(path)
}

fn validate_segments(original: &str, relative: &str) -> Result<(), Error> {
    if let Some(c) = relative.chars().find(|c| c.is_control() || *c == '\\') {
        return Err(Error::invalid(format!("{original:?} contains the forbidden character {c:?}")));
    }
    for segment in relative.split('/') {
        match segment {
            "" => return Err(Error::invalid(format!("{original:?} has an empty path segment"))),
            "." | ".." => {
                return Err(Error::invalid(format!(
                    "{original:?} contains a {segment:?} segment; paths must stay inside {MOUNT_POINT}"
                )));
            }
            _ if segment.len() > 255 => {
                return Err(Error::invalid(format!("{original:?} has a segment longer than 255 bytes")));
            }
            _ => {}
        }
    }
    Ok(())
}

impl fmt::Debug for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemotePath({:?})", self.relative)
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.relative)
    }
}

/// Anything that names a remote file: `&str`, `String` or an already validated [`RemotePath`].
pub trait IntoRemotePath {
    /// Validates and converts.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a path that [`RemotePath::new`] rejects.
    fn into_remote_path(self) -> Result<RemotePath, Error>;
}

impl IntoRemotePath for RemotePath {
    fn into_remote_path(self) -> Result<RemotePath, Error> {
        Ok(self)
    }
}
impl IntoRemotePath for &RemotePath {
    fn into_remote_path(self) -> Result<RemotePath, Error> {
        Ok(self.clone())
    }
}
impl IntoRemotePath for &str {
    fn into_remote_path(self) -> Result<RemotePath, Error> {
        RemotePath::new(self)
    }
}
impl IntoRemotePath for String {
    fn into_remote_path(self) -> Result<RemotePath, Error> {
        RemotePath::new(&self)
    }
}
impl IntoRemotePath for &String {
    fn into_remote_path(self) -> Result<RemotePath, Error> {
        RemotePath::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_accepted_forms() -> Result<(), Error> {
        assert_eq!(RemotePath::new("data.csv")?.as_str(), "data.csv");
        assert_eq!(RemotePath::new("/mnt/data/out/c.png")?.as_str(), "out/c.png");
        let p = RemotePath::new("a b/ü (1).txt")?;
        assert_eq!(p.file_name(), "ü (1).txt");
        assert_eq!(p.directory(), Some("a b"));
        assert_eq!(p.absolute(), "/mnt/data/a b/ü (1).txt");
        assert_eq!(RemotePath::new("x.txt")?.directory(), None);
        Ok(())
    }

    #[test]
    fn rejects_escapes_and_junk() {
        for bad in [
            "",
            "/mnt/data",
            "/mnt/data/",
            "/etc/passwd",
            "/mnt/database/x",
            "../x",
            "a/../../x",
            "./x",
            "a//b",
            "a/",
            "nul\0",
            "back\\slash",
            "new\nline",
        ] {
            assert!(RemotePath::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn directories() -> Result<(), Error> {
        assert_eq!(directory("")?, None);
        assert_eq!(directory("/mnt/data")?, None);
        assert_eq!(directory("/mnt/data/")?, None);
        assert_eq!(directory("sub/dir/")?.as_deref(), Some("sub/dir"));
        assert!(directory("../x").is_err());
        assert!(directory("/tmp").is_err());
        Ok(())
    }
}
