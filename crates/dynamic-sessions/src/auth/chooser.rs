//! Picks an `azure_identity` credential from the environment, the way `DefaultAzureCredential` used to.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use crate::env;
use crate::error::Error;

/// Which kind of credential [`credential_from_env`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialKind {
    /// Kubernetes workload identity (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// Managed identity (Container Apps and App Service set `IDENTITY_ENDPOINT`); user-assigned when
    /// `AZURE_CLIENT_ID` is set.
    ManagedIdentity,
    /// A service principal with a client secret (`AZURE_CLIENT_SECRET`).
    ClientSecret,
    /// The developer's `az login` or `azd auth login`.
    DeveloperTools,
}

/// A credential and why it was chosen.
#[derive(Clone)]
pub struct SelectedCredential {
    /// The kind that was chosen.
    pub kind: CredentialKind,
    /// The credential itself.
    pub credential: Arc<dyn TokenCredential>,
}

impl fmt::Debug for SelectedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedCredential").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Chooses a credential from the environment, in this order:
///
/// | condition | credential |
/// |---|---|
/// | `AZURE_FEDERATED_TOKEN_FILE` | workload identity (needs `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`) |
/// | `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` (Container Apps, App Service) | managed identity; user-assigned if `AZURE_CLIENT_ID` |
/// | `AZURE_CLIENT_SECRET` | client secret (needs `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`) |
/// | otherwise | developer tools: `az login`, then `azd auth login` |
///
/// # Errors
/// [`Error::MissingEnv`] naming the variable a partially configured credential lacks; [`Error::Config`] when
/// `azure_identity` rejects the settings.
pub fn credential_from_env() -> Result<SelectedCredential, Error> {
    choose(&crate::env::lookup)
}

pub(crate) fn choose(lookup: &dyn Fn(&str) -> Option<String>) -> Result<SelectedCredential, Error> {
    let require = |name: &'static str, hint: &'static str| lookup(name).ok_or(Error::MissingEnv { name, hint });
    let build_err = |what: &str, e: azure_core::Error| Error::config(format!("could not create the {what}: {e}"));

    if let Some(token_file) = lookup(env::AZURE_FEDERATED_TOKEN_FILE) {
        let options = WorkloadIdentityCredentialOptions {
            client_id: Some(require(env::AZURE_CLIENT_ID, "workload identity needs the identity's client id")?),
            tenant_id: Some(require(env::AZURE_TENANT_ID, "workload identity needs the tenant id")?),
            token_file_path: Some(token_file.into()),
            ..Default::default()
        };
        let credential =
            WorkloadIdentityCredential::new(Some(options)).map_err(|e| build_err("workload identity credential", e))?;
        return Ok(SelectedCredential { kind: CredentialKind::WorkloadIdentity, credential });
    }
    if lookup(env::IDENTITY_ENDPOINT).is_some() || lookup(env::MSI_ENDPOINT).is_some() {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: lookup(env::AZURE_CLIENT_ID).map(UserAssignedId::ClientId),
            ..Default::default()
        };
        let credential =
            ManagedIdentityCredential::new(Some(options)).map_err(|e| build_err("managed identity credential", e))?;
        return Ok(SelectedCredential { kind: CredentialKind::ManagedIdentity, credential });
    }
    if let Some(secret) = lookup(env::AZURE_CLIENT_SECRET) {
        let tenant = require(env::AZURE_TENANT_ID, "a client secret needs the tenant id")?;
        let client = require(env::AZURE_CLIENT_ID, "a client secret needs the application (client) id")?;
        let credential = ClientSecretCredential::new(&tenant, client, Secret::new(secret), None)
            .map_err(|e| build_err("client secret credential", e))?;
        return Ok(SelectedCredential { kind: CredentialKind::ClientSecret, credential });
    }
    let credential =
        DeveloperToolsCredential::new(None).map_err(|e| build_err("developer tools (az/azd) credential", e))?;
    Ok(SelectedCredential { kind: CredentialKind::DeveloperTools, credential })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pick(vars: &[(&str, &str)]) -> Result<SelectedCredential, Error> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        choose(&move |name| map.get(name).cloned())
    }

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn chooses_in_documented_order() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::config(e.to_string()))?;
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "federated-token").map_err(|e| Error::config(e.to_string()))?;
        let token_file = token_file.to_string_lossy();
        assert_eq!(
            pick(&[
                ("AZURE_FEDERATED_TOKEN_FILE", &token_file),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_TENANT_ID", TENANT),
                ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
            ])?
            .kind,
            CredentialKind::WorkloadIdentity
        );
        assert_eq!(
            pick(&[("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"), ("AZURE_CLIENT_ID", "c")])?.kind,
            CredentialKind::ManagedIdentity
        );
        assert_eq!(
            pick(&[("AZURE_CLIENT_SECRET", "s"), ("AZURE_CLIENT_ID", "c"), ("AZURE_TENANT_ID", TENANT)])?.kind,
            CredentialKind::ClientSecret
        );
        assert_eq!(pick(&[])?.kind, CredentialKind::DeveloperTools);
        Ok(())
    }

    #[test]
    fn names_the_missing_variable() {
        let err = pick(&[("AZURE_CLIENT_SECRET", "s"), ("AZURE_CLIENT_ID", "c")]).err();
        assert!(matches!(err, Some(Error::MissingEnv { name: "AZURE_TENANT_ID", .. })), "{err:?}");
        let err = pick(&[("AZURE_FEDERATED_TOKEN_FILE", "/f"), ("AZURE_TENANT_ID", TENANT)]).err();
        assert!(matches!(err, Some(Error::MissingEnv { name: "AZURE_CLIENT_ID", .. })), "{err:?}");
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("AZURE_CLIENT_ID"), "{text}");
    }

    #[test]
    fn debug_hides_secrets() -> Result<(), Error> {
        let chosen =
            pick(&[("AZURE_CLIENT_SECRET", "hunter2"), ("AZURE_CLIENT_ID", "c"), ("AZURE_TENANT_ID", TENANT)])?;
        assert!(!format!("{chosen:?}").contains("hunter2"));
        Ok(())
    }
}
