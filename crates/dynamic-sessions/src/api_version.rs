//! Data-plane API versions and the two request/response families they belong to.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The two wire families of the session-pool data plane.
///
/// * [`ApiFamily::Legacy`] (`2024-02-02-preview`, `2024-08-02-preview`): `code/execute`, `files/upload`,
///   `files/content/{name}`, bodies wrapped in `"properties"`, status `Success`/`Failure`. Most deployed
///   pools and most Python clients still use it.
/// * [`ApiFamily::Current`] (`2024-10-02-preview` and later): `executions`, `files`, `files/{name}/content`,
///   flat bodies, status `Succeeded`/`Failed`; from `2025-02-02-preview` also `session`, `listSessions`, `metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiFamily {
    /// `2024-02-02-preview` and `2024-08-02-preview`.
    Legacy,
    /// `2024-10-02-preview` and later.
    Current,
}

/// A data-plane `api-version`, e.g. `2025-10-02-preview`.
///
/// Known versions are associated constants; any other `YYYY-MM-DD[-suffix]` string is accepted and its
/// family inferred from the date (before 2024-10-02: legacy).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    value: String,
    date: (u16, u8, u8),
}

impl ApiVersion {
    /// `2024-02-02-preview`: the legacy family most clients use.
    pub const V2024_02_02_PREVIEW: &'static str = "2024-02-02-preview";
    /// `2024-08-02-preview`: legacy family, same contract as 2024-02-02.
    pub const V2024_08_02_PREVIEW: &'static str = "2024-08-02-preview";
    /// `2024-10-02-preview`: the first version of the current family.
    pub const V2024_10_02_PREVIEW: &'static str = "2024-10-02-preview";
    /// `2025-02-02-preview`: adds session management, `listSessions` and `metadata`.
    pub const V2025_02_02_PREVIEW: &'static str = "2025-02-02-preview";
    /// `2025-10-02-preview`: adds recursive listing and the `directory` field. The default.
    pub const V2025_10_02_PREVIEW: &'static str = "2025-10-02-preview";

    /// Parses an api-version string.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the string is not `YYYY-MM-DD` optionally followed by `-suffix`.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let date = parse_date(&value).ok_or_else(|| {
            Error::invalid(format!(
                "api-version {value:?} is not of the form YYYY-MM-DD[-preview], e.g. {}",
                Self::V2025_10_02_PREVIEW
            ))
        })?;
        Ok(ApiVersion { value, date })
    }

    /// The legacy `2024-02-02-preview`.
    pub fn legacy() -> Self {
        Self::known(Self::V2024_02_02_PREVIEW, (2024, 2, 2))
    }

    /// The newest known version, `2025-10-02-preview` (the default).
    pub fn latest() -> Self {
        Self::known(Self::V2025_10_02_PREVIEW, (2025, 10, 2))
    }

    fn known(value: &'static str, date: (u16, u8, u8)) -> Self {
        ApiVersion { value: value.to_owned(), date }
    }

    /// The version string as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The wire family of this version.
    pub fn family(&self) -> ApiFamily {
        if self.date < (2024, 10, 2) { ApiFamily::Legacy } else { ApiFamily::Current }
    }

    /// Whether `session`, `listSessions` and `metadata` exist in this version (2025-02-02 and later).
    pub fn has_session_management(&self) -> bool {
        self.date >= (2025, 2, 2)
    }

    /// Whether `GET files` takes `recursive` (2025-10-02 and later).
    pub fn has_recursive_listing(&self) -> bool {
        self.date >= (2025, 10, 2)
    }

    /// Whether executions take `outputStreamsMaxLength`, `useEmptyKernel`, the Jupyter-format flag, and
    /// shell commands with `stdin` or `execCommandAndArgs` (2025-10-02 and later). From this version on the
    /// service cuts stdout and stderr at 4,096 characters unless told otherwise.
    pub fn has_execution_options(&self) -> bool {
        self.date >= (2025, 10, 2)
    }

    /// Whether `executions` takes a `shellCommand` (Shell pools, 2025-02-02 and later).
    pub fn has_shell_commands(&self) -> bool {
        self.date >= (2025, 2, 2)
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        Self::latest()
    }
}

impl fmt::Debug for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiVersion({})", self.value)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for ApiVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ApiVersion::new(s)
    }
}

/// `YYYY-MM-DD` optionally followed by `-suffix` (ASCII letters and digits). Works on bytes, so no input,
/// however malformed (multi-byte characters included), can cut a character in two.
fn parse_date(value: &str) -> Option<(u16, u8, u8)> {
    let bytes = value.as_bytes();
    let (date, rest) = (bytes.get(..10)?, &bytes[10.min(bytes.len())..]);
    if !rest.is_empty() {
        let suffix = rest.strip_prefix(b"-")?;
        if suffix.is_empty() || !suffix.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
    }
    let number = |range: std::ops::Range<usize>| -> Option<u16> {
        let digits = date.get(range)?;
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')))
    };
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, u8::try_from(number(5..7)?).ok()?, u8::try_from(number(8..10)?).ok()?);
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        for v in [ApiVersion::V2024_02_02_PREVIEW, ApiVersion::V2024_08_02_PREVIEW] {
            assert_eq!(ApiVersion::new(v).ok().map(|v| v.family()), Some(ApiFamily::Legacy));
        }
        for v in [
            ApiVersion::V2024_10_02_PREVIEW,
            ApiVersion::V2025_02_02_PREVIEW,
            ApiVersion::V2025_10_02_PREVIEW,
            "2026-01-01",
        ] {
            assert_eq!(ApiVersion::new(v).ok().map(|v| v.family()), Some(ApiFamily::Current));
        }
        assert!(!ApiVersion::new("2024-10-02-preview").is_ok_and(|v| v.has_session_management()));
        assert!(ApiVersion::latest().has_recursive_listing());
        assert_eq!(ApiVersion::default().as_str(), "2025-10-02-preview");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "latest",
            "2024-13-01",
            "2024-02-02-",
            "2024/02/02",
            "2024-02-02-pre view",
            "2024-02-0é-preview",
            "2024-02-02é",
            "é024-02-02",
            "+024-02-02",
        ] {
            assert!(ApiVersion::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
