//! [`RemoteFile`]: a file or directory in a session, read from either family's JSON.

use serde_json::Value;
use time::OffsetDateTime;

use crate::error::Error;
use crate::remote_path::{MOUNT_POINT, RemotePath};
use crate::wire;

/// Whether an entry is a file or a directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A kind this client does not know.
    Other(String),
}

/// A file (or directory) in a session's `/mnt/data`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteFile {
    /// The entry's name (last path segment).
    pub name: String,
    /// The directory relative to `/mnt/data`, or `None` at the top level.
    pub directory: Option<String>,
    /// File or directory.
    pub kind: FileKind,
    /// Size in bytes, when reported.
    pub size: Option<u64>,
    /// Last modification time, when reported.
    pub last_modified: Option<OffsetDateTime>,
    /// The content type, when reported.
    pub content_type: Option<String>,
}

impl RemoteFile {
    /// The path relative to `/mnt/data` (`out/chart.png`).
    pub fn path(&self) -> String {
        match &self.directory {
            Some(dir) => format!("{dir}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The path as a validated [`RemotePath`], for passing back to download or delete.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the service reported a name that is not a valid path.
    pub fn remote_path(&self) -> Result<RemotePath, Error> {
        RemotePath::new(&self.path())
    }

    /// Whether this entry is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Directory
    }

    /// Reads one file resource of either family (`{"properties":{"filename","size","lastModifiedTime"}}` or
    /// `{"name","type","sizeInBytes","lastModifiedAt","directory"}`), as listed at the top of `/mnt/data`.
    /// `None` when it names no file. See [`RemoteFile::from_json_in`] for answers about a subdirectory.
    pub fn from_json(v: &Value) -> Option<RemoteFile> {
        Self::from_json_in(v, None)
    }

    /// Reads one file resource from an answer about the directory `base` (relative to `/mnt/data`): the
    /// directory that was listed, or that a file was uploaded to or looked up in.
    ///
    /// The service names files by their base name. Its upload and metadata answers carry no directory at all,
    /// and the `directory` of a listing entry (2025-10-02-preview) is relative to the listed directory
    /// (`""` for its direct entries). Both are resolved against `base`, so [`RemoteFile::path`] is always the
    /// full path under `/mnt/data`, ready to pass back to download or delete. A name that is itself absolute
    /// (`/mnt/data/out/a.png`, as legacy answers may send) is taken as is.
    pub fn from_json_in(v: &Value, base: Option<&str>) -> Option<RemoteFile> {
        let p = wire::properties(v);
        let raw_name = wire::string(p, &["name", "filename", "fileName", "file_name"])?;
        let relative_dir = wire::string(p, &["directory"]).unwrap_or_default();
        let joined = if raw_name.starts_with('/') {
            raw_name
        } else {
            [base.unwrap_or(""), relative_dir.as_str(), raw_name.as_str()]
                .iter()
                .map(|part| strip_mount(part))
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("/")
        };
        let relative = strip_mount(&joined);
        if relative.is_empty() {
            return None;
        }
        let (directory, name) = match relative.rsplit_once('/') {
            Some((dir, name)) => (Some(dir.to_owned()).filter(|d| !d.is_empty()), name.to_owned()),
            None => (None, relative.to_owned()),
        };
        let kind = match wire::string(p, &["type", "kind"]) {
            None => FileKind::File,
            Some(t) if t.eq_ignore_ascii_case("file") => FileKind::File,
            Some(t) if t.eq_ignore_ascii_case("directory") || t.eq_ignore_ascii_case("dir") => FileKind::Directory,
            Some(t) => FileKind::Other(t),
        };
        Some(RemoteFile {
            name,
            directory,
            kind,
            size: wire::unsigned(p, &["sizeInBytes", "size", "size_in_bytes"]),
            last_modified: wire::timestamp(
                p,
                &["lastModifiedAt", "lastModifiedTime", "last_modified_time", "lastModified"],
            ),
            content_type: wire::string(p, &["contentType", "content_type", "mime_type", "mimeType"]),
        })
    }

    /// Reads every file of a list or upload answer about the top of `/mnt/data`: an object with `value` (or
    /// `$values`), an array, or a single resource.
    pub fn list_from_json(v: &Value) -> Vec<RemoteFile> {
        Self::list_from_json_in(v, None)
    }

    /// Reads every file of an answer about the directory `base`; see [`RemoteFile::from_json_in`].
    pub fn list_from_json_in(v: &Value, base: Option<&str>) -> Vec<RemoteFile> {
        wire::items(v).into_iter().filter_map(|item| RemoteFile::from_json_in(item, base)).collect()
    }
}

/// The path relative to `/mnt/data`: without the mount point and surrounding slashes. `/` alone (the
/// service's way of naming `/mnt/data` in some answers) is the mount point too.
fn strip_mount(path: &str) -> &str {
    let trimmed =
        path.strip_prefix(MOUNT_POINT).filter(|rest| rest.is_empty() || rest.starts_with('/')).unwrap_or(path);
    trimmed.trim_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_entry_with_both_timestamp_spellings() {
        for key in ["lastModifiedTime", "last_modified_time"] {
            let v = json!({"$id": "2", "properties": {"$id": "3", "filename": "test1.txt", "size": 16, key: "2024-05-02T07:21:07.9922617Z"}});
            let f = RemoteFile::from_json(&v);
            assert_eq!(f.as_ref().map(|f| f.name.as_str()), Some("test1.txt"));
            assert_eq!(f.as_ref().and_then(|f| f.size), Some(16));
            assert!(f.as_ref().and_then(|f| f.last_modified).is_some(), "{key}");
        }
    }

    #[test]
    fn current_entry_with_directory() {
        let v = json!({"name": "testfile.yaml", "type": "File", "contentType": "application/yaml", "sizeInBytes": 4,
                       "lastModifiedAt": "2024-05-29T00:00:00.000Z", "directory": "level1/level2"});
        let f = RemoteFile::from_json(&v);
        assert_eq!(f.as_ref().map(RemoteFile::path).as_deref(), Some("level1/level2/testfile.yaml"));
        assert_eq!(f.as_ref().and_then(|f| f.content_type.clone()).as_deref(), Some("application/yaml"));
    }

    #[test]
    fn directories_are_relative_to_the_listed_one() {
        let v = json!({"name": "testfile.yaml", "directory": "directory-level1/directory-level2", "type": "File"});
        let f = RemoteFile::from_json_in(&v, Some("test-directory"));
        assert_eq!(
            f.map(|f| f.path()).as_deref(),
            Some("test-directory/directory-level1/directory-level2/testfile.yaml")
        );
        let top = json!({"name": "directory-level1", "directory": "", "type": "directory"});
        let d = RemoteFile::from_json_in(&top, Some("/mnt/data/test-directory/"));
        assert_eq!(d.map(|d| (d.is_dir(), d.path())), Some((true, "test-directory/directory-level1".to_owned())));
        let upload = json!({"name": "testfile.yaml", "type": "File", "sizeInBytes": 4});
        let u = RemoteFile::from_json_in(&upload, Some("test-directory"));
        assert_eq!(u.map(|u| u.path()).as_deref(), Some("test-directory/testfile.yaml"));
        let legacy = json!({"properties": {"filename": "a.txt", "mime_type": "text/plain"}});
        let l = RemoteFile::from_json_in(&legacy, Some("/"));
        assert_eq!(l.map(|l| (l.path(), l.content_type)), Some(("a.txt".to_owned(), Some("text/plain".to_owned()))));
    }

    #[test]
    fn absolute_names_and_directories() {
        let f = RemoteFile::from_json(&json!({"properties": {"filename": "/mnt/data/out/a.png", "size": 1}}));
        assert_eq!(f.map(|f| (f.directory, f.name)), Some((Some("out".to_owned()), "a.png".to_owned())));
        let d = RemoteFile::from_json(&json!({"name": "sub", "type": "directory", "directory": "/mnt/data"}));
        assert_eq!(d.map(|d| (d.is_dir(), d.path())), Some((true, "sub".to_owned())));
    }
}
