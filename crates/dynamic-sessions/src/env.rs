//! Names of the environment variables the client reads. See [`SessionPoolClient::from_env`](crate::SessionPoolClient::from_env).

/// The pool management endpoint (the seed demo's name; also set by the `azd` deployment).
pub const POOL_MANAGEMENT_ENDPOINT: &str = "POOL_MANAGEMENT_ENDPOINT";
/// Optional data-plane api-version override, e.g. `2024-02-02-preview`.
pub const DYNAMIC_SESSIONS_API_VERSION: &str = "DYNAMIC_SESSIONS_API_VERSION";
/// Optional static bearer token (for an emulator started with `--token`). Takes precedence over Entra ID.
pub const DYNAMIC_SESSIONS_TOKEN: &str = "DYNAMIC_SESSIONS_TOKEN";
/// Optional path of a PEM CA certificate to trust besides the system's (an emulator started with `--tls`
/// prints the path of its CA).
pub const DYNAMIC_SESSIONS_CA_CERT: &str = "DYNAMIC_SESSIONS_CA_CERT";
/// Client (application) id: a user-assigned managed identity, a service principal or a workload identity.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Tenant id for a service principal or workload identity.
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// Client secret of a service principal.
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// Federated token file of a Kubernetes workload identity.
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Set by Container Apps and App Service when a managed identity is available.
pub const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
/// Older managed-identity endpoint variable.
pub const MSI_ENDPOINT: &str = "MSI_ENDPOINT";

/// The process environment's value of `name`, treating an empty or blank value as unset: how every variable
/// above is read.
pub(crate) fn lookup(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
