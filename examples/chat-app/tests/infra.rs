//! The Bicep compiler cannot run here, so these tests read the deployment files and check what matters:
//! every variable the chat app reads is set, the code-interpreter pool has no egress, no output or app setting
//! carries a key, the registry admin user is off, the role definition ids are right, images listen on their
//! target ports, and the Dockerfiles build exactly what CI builds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The repository's root: `azure.yaml` and `infra/` deploy this app.
fn root() -> PathBuf {
    let app = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    app.ancestors().nth(2).map(Path::to_path_buf).unwrap_or(app)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn files_under(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path, extension));
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn bicep() -> Vec<(String, String)> {
    files_under(&root().join("infra"), "bicep")
        .into_iter()
        .map(|p| (p.strip_prefix(root()).unwrap().display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// Code lines, without `//` comments.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.split("//").next().unwrap_or("").trim()).filter(|l| !l.is_empty())
}

/// Every `"NAME"` passed to `var(`/`env::var(` in the chat app, plus the variables its libraries read.
fn variables_the_app_reads() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in files_under(&root().join("examples/chat-app/src"), "rs") {
        let text = std::fs::read_to_string(&file).unwrap();
        for marker in ["var(\"", "env::var(\"", "lookup(\""] {
            for (i, _) in text.match_indices(marker) {
                let rest = &text[i + marker.len()..];
                names.insert(rest.split('"').next().unwrap().to_owned());
            }
        }
        if text.contains("try_from_default_env") {
            names.insert("RUST_LOG".to_owned());
        }
    }
    // The client's and the model configuration's variables (`pub const X: &str = "NAME";`).
    for (file, uses) in [
        ("crates/dynamic-sessions/src/env.rs", "SessionPoolClient::builder_from_env"),
        ("crates/agent-tools/src/rig/model.rs", "ModelConfig::from_env"),
    ] {
        assert!(
            read("examples/chat-app/src/main.rs").contains(uses),
            "the app no longer calls {uses}; update this test"
        );
        let text = read(file);
        // In model.rs only the `pub mod env { ... }` block names variables.
        let block = match text.split_once("pub mod env {") {
            Some((_, rest)) => rest.split("\n}\n").next().unwrap().to_owned(),
            None => text.clone(),
        };
        for line in block.lines() {
            if let Some(rest) = line.trim().strip_prefix("pub const ")
                && rest.contains(": &str = \"")
                && rest.split(':').next().unwrap().chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                names.insert(rest.split('"').nth(1).unwrap().to_owned());
            }
        }
    }
    names
}

/// Variables the app reads that the Azure deployment deliberately leaves unset, and why.
const NOT_SET_ON_AZURE: &[(&str, &str)] = &[
    ("AZURE_OPENAI_API_KEY", "keyless: the app uses Entra ID through the managed identity"),
    ("OPENAI_API_KEY", "another model provider"),
    ("OPENAI_MODEL", "another model provider"),
    ("OPENAI_BASE_URL", "another model provider"),
    ("DYNAMIC_SESSIONS_TOKEN", "emulator bearer token; Azure uses Entra ID"),
    ("DYNAMIC_SESSIONS_API_VERSION", "the client's default api-version is right for Azure"),
    ("DYNAMIC_SESSIONS_CA_CERT", "an emulator's own CA; Azure endpoints have public certificates"),
    ("AZURE_TENANT_ID", "service-principal and workload-identity credentials; the app uses the managed identity"),
    ("AZURE_CLIENT_SECRET", "service-principal credential; the app uses the managed identity"),
    ("AZURE_FEDERATED_TOKEN_FILE", "workload identity (Kubernetes); not on Container Apps"),
    ("IDENTITY_ENDPOINT", "set by the Container Apps platform"),
    ("MSI_ENDPOINT", "set by the platform on older hosts"),
    ("CHAT_APP_SHELL_TOOL", "the shell tool is off by default; Python is enough"),
    ("CHAT_APP_POOL_TYPE", "the embedded emulator's pool type; on Azure the app reads the pool's from its metadata"),
    ("MODEL_TOOL_CHOICE", "Azure OpenAI models call tools well on their own (auto)"),
    ("MODEL_MAX_TOKENS", "the default bound per model call suits the deployed model"),
    ("MODEL_TEMPERATURE", "the model's default temperature"),
    ("TURN_TIME_LIMIT_SECONDS", "the default five-minute bound per turn"),
    ("CHAT_APP_DATA_DIR", "the SQLite store's directory: on Azure the conversations are in PostgreSQL"),
    ("XDG_DATA_HOME", "the SQLite store's default directory: on Azure the conversations are in PostgreSQL"),
    ("HOME", "the SQLite store's default directory: on Azure the conversations are in PostgreSQL"),
];

/// The `name:` of every env entry of the chat app's container.
fn deployed_app_settings() -> BTreeMap<String, String> {
    let text = read("infra/modules/chat-app.bicep");
    let env = text.split("env: [").nth(1).unwrap().split(']').next().unwrap();
    env.lines()
        .filter_map(|l| {
            let name = l.split("name: '").nth(1)?.split('\'').next()?.to_owned();
            Some((name, l.trim().to_owned()))
        })
        .collect()
}

#[test]
fn every_variable_the_app_reads_is_set_by_the_deployment() {
    let reads = variables_the_app_reads();
    for must in [
        "POOL_MANAGEMENT_ENDPOINT",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_DEPLOYMENT",
        "AZURE_CLIENT_ID",
        "CHAT_APP_BIND",
        "CHAT_APP_SECRET",
        "DATABASE_URL",
        "DATABASE_AUTH",
    ] {
        assert!(reads.contains(must), "the scan missed {must}: {reads:?}");
    }
    let unset: BTreeSet<&str> = NOT_SET_ON_AZURE.iter().map(|(n, _)| *n).collect();
    let deployed = deployed_app_settings();
    let missing: Vec<&String> =
        reads.iter().filter(|n| !unset.contains(n.as_str()) && !deployed.contains_key(*n)).collect();
    assert!(missing.is_empty(), "the app reads these but the deployment does not set them: {missing:?}");
    let unknown: Vec<&String> = deployed.keys().filter(|n| !reads.contains(*n)).collect();
    assert!(unknown.is_empty(), "the deployment sets variables the app never reads: {unknown:?}");
    for name in unset {
        assert!(!deployed.contains_key(name), "{name} is documented as unset on Azure but the deployment sets it");
    }
}

#[test]
fn the_pools_container_type_is_a_parameter_with_the_emulators_types_and_python_by_default() {
    use dynamic_sessions_emulator::config::ContainerType;
    let allowed = format!("@allowed([{}])", ContainerType::NAMES.map(|n| format!("'{n}'")).join(", "));
    let main = read("infra/main.bicep");
    assert!(main.contains(&format!("{allowed}\n@description(")), "main.bicep allows exactly {allowed}");
    assert!(code_lines(&main).any(|l| l == "param poolContainerType string = 'PythonLTS'"));
    assert!(code_lines(&main).any(|l| l == "containerType: poolContainerType"), "passed to the pool module");
    let pool = read("infra/modules/session-pool.bicep");
    assert!(pool.contains(&format!("{allowed}\nparam containerType string = 'PythonLTS'")), "{pool}");
    assert!(code_lines(&pool).any(|l| l == "containerType: containerType"));
    // NodeLTS and Shell exist from this API version on.
    assert!(pool.contains("Microsoft.App/sessionPools@2025-10-02-preview"));
    let parameters: serde_json::Value = serde_json::from_str(&read("infra/main.parameters.json")).unwrap();
    assert_eq!(parameters["parameters"]["poolContainerType"]["value"], "${SESSION_POOL_CONTAINER_TYPE=PythonLTS}");
}

#[test]
fn the_pools_mcp_server_is_a_parameter_its_endpoint_an_output_and_its_key_never_one() {
    let main = read("infra/main.bicep");
    assert!(code_lines(&main).any(|l| l == "param enablePoolMcp bool = false"), "off by default");
    assert!(code_lines(&main).any(|l| l == "mcpEnabled: enablePoolMcp"), "passed to the pool module");
    assert!(code_lines(&main).any(|l| l == "output POOL_MCP_ENDPOINT string = sessionPool.outputs.mcpServerEndpoint"));
    let pool = read("infra/modules/session-pool.bicep");
    assert!(
        code_lines(&pool)
            .any(|l| l == "mcpServerSettings: { isMcpServerEnabled: mcpEnabled, isMcpServerApiKeyDisabled: false }"),
        "{pool}"
    );
    assert!(code_lines(&pool).any(|l| l.starts_with("output mcpServerEndpoint string = mcpEnabled ?")));
    let parameters: serde_json::Value = serde_json::from_str(&read("infra/main.parameters.json")).unwrap();
    assert_eq!(parameters["parameters"]["enablePoolMcp"]["value"], "${ENABLE_POOL_MCP=false}");
    // The key: fetched by the hook into the azd environment, never a Bicep output.
    let hook = read("infra/hooks/postprovision.sh");
    assert!(hook.contains("/fetchMCPServerCredentials\"") && hook.contains("azd env set POOL_MCP_API_KEY"), "{hook}");
    for (file, text) in bicep() {
        assert!(
            !code_lines(&text).any(|l| l.starts_with("output") && l.to_lowercase().contains("apikey")),
            "{file} outputs a key"
        );
        assert!(!text.contains("listMcpServerCredentials") && !text.contains("fetchMCPServerCredentials"), "{file}");
    }
}

#[test]
fn the_code_interpreter_pool_has_no_egress() {
    let pool = read("infra/modules/session-pool.bicep");
    assert!(code_lines(&pool).any(|l| l.contains("status: 'EgressDisabled'")));
    assert!(code_lines(&pool).any(|l| l.contains("cooldownPeriodInSeconds: 300")));
    assert!(code_lines(&pool).any(|l| l.contains("maxConcurrentSessions: maxSessions")), "the maximum is configurable");
    for (file, text) in bicep() {
        assert!(!code_lines(&text).any(|l| l.contains("EgressEnabled")), "{file} enables egress");
    }
}

#[test]
fn no_output_or_app_setting_carries_a_key() {
    let secretish = ["key", "secret", "password", "connectionstring", "token", "credential"];
    for (file, text) in bicep() {
        for line in code_lines(&text) {
            let lower = line.to_ascii_lowercase();
            assert!(
                !lower.contains("listkeys") && !lower.contains("listcredentials") && !lower.contains(".keys("),
                "{file}: {line}"
            );
            if lower.starts_with("output ") {
                assert!(!secretish.iter().any(|s| lower.contains(s)), "{file}: an output looks like a secret: {line}");
            }
        }
    }
    for (name, line) in deployed_app_settings() {
        let lower = line.to_ascii_lowercase();
        if lower.contains("secretref") {
            assert_eq!(name, "CHAT_APP_SECRET", "only the app's own generated secret is a secret reference");
        } else {
            assert!(!secretish.iter().any(|s| lower.replace(&name.to_ascii_lowercase(), "").contains(s)), "{line}");
        }
    }
    let main = read("infra/main.bicep");
    assert!(
        main.contains("@secure()\n@minLength(32)\n@description") && main.contains("param chatAppSecret string"),
        "the app secret is a secure parameter"
    );
    assert!(read("infra/modules/chat-app.bicep").contains("@secure()\nparam chatAppSecret string"));
    assert!(read("infra/modules/openai.bicep").contains("disableLocalAuth: true"), "Azure OpenAI is keyless");
    assert!(read("infra/modules/monitoring.bicep").contains("DisableLocalAuth: true"));
    assert!(
        read("infra/modules/container-apps-environment.bicep").contains("destination: 'azure-monitor'"),
        "no workspace key"
    );
}

#[test]
fn the_registry_admin_user_is_off() {
    let registry = read("infra/modules/registry.bicep");
    assert!(code_lines(&registry).any(|l| l == "adminUserEnabled: false"));
    for (file, text) in bicep() {
        assert!(!code_lines(&text).any(|l| l.contains("adminUserEnabled: true")), "{file}");
    }
    assert!(
        read("infra/modules/chat-app.bicep").contains("registries: [{ server: registryServer, identity: identityId }]"),
        "pulls with the identity"
    );
}

#[test]
fn role_definition_ids_are_right() {
    let expected: BTreeMap<&str, &str> = [
        ("sessionExecutorRoleId", "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0"),
        ("openAiUserRoleId", "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"),
        ("acrPullRoleId", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
    ]
    .into();
    let mut seen = BTreeSet::new();
    for (file, text) in bicep() {
        for line in code_lines(&text) {
            if let Some(rest) = line.strip_prefix("var ").filter(|r| r.contains("RoleId = '")) {
                let name = rest.split_whitespace().next().unwrap();
                let id = rest.split('\'').nth(1).unwrap();
                assert_eq!(expected.get(name), Some(&id), "{file}: {line}");
                seen.insert(name.to_owned());
            }
            if line.contains("roleDefinitionId:") {
                assert!(expected.keys().any(|v| line.contains(&format!("roleDefinitions', {v})"))), "{file}: {line}");
            }
        }
    }
    assert_eq!(seen.len(), 3, "all three roles are assigned: {seen:?}");
    let roles = read("infra/modules/role-assignments.bicep");
    for (resource, scope, role) in [
        ("acrPull", "registry", "acrPullRoleId"),
        ("openAiUser", "openAi", "openAiUserRoleId"),
        ("sessionExecutor", "pool", "sessionExecutorRoleId"),
    ] {
        let block = roles.split(&format!("resource {resource} ")).nth(1).unwrap().split("\n}").next().unwrap();
        assert!(
            block.contains(&format!("scope: {scope}"))
                && block.contains(role)
                && block.contains("principalId: principalId"),
            "{resource}"
        );
    }
}

fn exposed_port(dockerfile: &str) -> u16 {
    code_lines(dockerfile).find_map(|l| l.strip_prefix("EXPOSE ")).unwrap().trim().parse().unwrap()
}

#[test]
fn images_listen_on_their_target_ports() {
    let pool_image = read("crates/emulator/Dockerfile");
    let port = exposed_port(&pool_image);
    assert!(pool_image.contains(&format!("\"--bind\", \"0.0.0.0:{port}\"")), "the emulator binds the exposed port");
    let pool = read("infra/modules/custom-session-pool.bicep");
    assert!(pool.contains(&format!("param targetPort int = {port}")), "the pool's target port is the image's port");
    assert!(pool.contains("ingress: { targetPort: targetPort }"));
    let app_image = read("examples/chat-app/Dockerfile");
    let port = exposed_port(&app_image);
    assert!(app_image.contains(&format!("ENV CHAT_APP_BIND=0.0.0.0:{port}")));
    let app = read("infra/modules/chat-app.bicep");
    assert!(
        app.contains(&format!("var port = {port}"))
            && app.contains("targetPort: port")
            && app.contains("value: '0.0.0.0:${port}'")
    );
    for image in [&pool_image, &app_image] {
        assert!(image.contains("\nUSER 10001\n"), "runs as a non-root user");
        assert_eq!(image.matches("\nFROM ").count() + usize::from(image.starts_with("FROM ")), 2, "multi-stage");
    }
}

#[test]
fn dockerfiles_build_exactly_what_ci_builds() {
    let ci = read(".ci/run");
    for dockerfile in ["crates/emulator/Dockerfile", "examples/chat-app/Dockerfile"] {
        let text = read(dockerfile);
        let builds: Vec<&str> =
            code_lines(&text).filter_map(|l| l.strip_prefix("RUN ")).filter(|c| c.starts_with("cargo build")).collect();
        assert_eq!(builds.len(), 1, "{dockerfile}");
        assert!(code_lines(&ci).any(|l| l == builds[0]), "{dockerfile} runs `{}`, which .ci/run does not", builds[0]);
        let package = builds[0].split(" -p ").nth(1).unwrap();
        let binary = format!("/src/target/release/{package}");
        assert!(text.contains(&binary), "{dockerfile} copies the binary it built");
    }
}

#[test]
fn azd_wiring_is_complete() {
    let azure = read("azure.yaml");
    for needle in [
        "host: containerapp",
        "language: docker",
        "path: examples/chat-app/Dockerfile",
        "remoteBuild: true",
        "run: ./infra/hooks/postprovision.sh",
        "run: ./infra/hooks/preprovision.sh",
    ] {
        assert!(azure.contains(needle), "azure.yaml lacks {needle}");
    }
    assert!(read("infra/modules/chat-app.bicep").contains("'azd-service-name': 'web'"));
    let hook = root().join("infra/hooks/postprovision.sh");
    use std::os::unix::fs::PermissionsExt;
    assert!(hook.metadata().unwrap().permissions().mode() & 0o111 != 0, "the hook is executable");
    let hook = read("infra/hooks/postprovision.sh");
    assert!(
        hook.contains("az acr build") && hook.contains("--file crates/emulator/Dockerfile"),
        "the pool image is built by the registry"
    );
    let main = read("infra/main.bicep");
    let parameters: serde_json::Value = serde_json::from_str(&read("infra/main.parameters.json")).unwrap();
    for name in parameters["parameters"].as_object().unwrap().keys() {
        assert!(
            main.contains(&format!("param {name} ")),
            "main.parameters.json sets {name}, which main.bicep does not declare"
        );
    }
    for line in code_lines(&main).filter(|l| l.starts_with("module ")) {
        let path = line.split('\'').nth(1).unwrap();
        assert!(root().join("infra").join(path).exists(), "{line}");
    }
    // The hook's outputs come from main.bicep.
    for output in [
        "AZURE_CONTAINER_REGISTRY_NAME",
        "AZURE_RESOURCE_GROUP",
        "AZURE_CONTAINER_ENVIRONMENT_ID",
        "AZURE_MANAGED_IDENTITY_ID",
        "AZURE_MANAGED_IDENTITY_PRINCIPAL_ID",
        "AZURE_CONTAINER_REGISTRY_ENDPOINT",
        "AZURE_LOCATION",
    ] {
        assert!(hook.contains(output) && main.contains(&format!("output {output} ")), "{output}");
    }
}

#[test]
fn conversations_are_in_postgres_with_entra_only_and_the_app_scales_out() {
    let postgres = read("infra/modules/postgres.bicep");
    assert!(postgres.contains("passwordAuth: 'Disabled'") && postgres.contains("activeDirectoryAuth: 'Enabled'"));
    assert!(
        postgres.contains("flexibleServers/administrators@") && postgres.contains("principalType: 'ServicePrincipal'")
    );
    for (file, text) in bicep() {
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains("administratorloginpassword"), "{file}: a database password");
        assert!(!lower.contains("connectionstring"), "{file}: a connection string");
    }
    let main = read("infra/main.bicep");
    assert!(main.contains("administratorPrincipalId: identity.outputs.principalId"), "the app's identity is the admin");
    assert!(main.contains("databaseUser: identity.outputs.name"));

    // DATABASE_URL names the identity's role and carries no password; the app signs in with Entra tokens.
    let settings = deployed_app_settings();
    let url = settings["DATABASE_URL"].split("value: '").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let user_info = url.strip_prefix("postgres://").unwrap().split('@').next().unwrap();
    assert_eq!(user_info, "${databaseUser}", "no password in DATABASE_URL: {url}");
    assert!(url.ends_with("sslmode=verify-full"), "TLS with the server's certificate checked: {url}");
    assert!(settings["DATABASE_AUTH"].contains("value: 'entra'"));
    assert!(
        read("examples/chat-app/src/store/entra.rs").contains("https://ossrdbms-aad.database.windows.net/.default")
    );

    // Several replicas, with one key for all of them that stays the same across provisions.
    let app = read("infra/modules/chat-app.bicep");
    assert!(app.contains("maxReplicas: maxReplicas") && !app.contains("maxReplicas: 1"), "the app scales out");
    assert!(main.contains("@maxValue(5)") && main.contains("param maxWebReplicas int = 3"));
    assert!(main.contains("@minLength(32)\n@description('Key for the app"), "an empty key fails the provision");
    // Replicas times connections stay within the B1ms server's 35 user connections, with room for a swap.
    assert!(postgres.contains("name: 'Standard_B1ms'"));
    assert!(settings["DATABASE_MAX_CONNECTIONS"].contains("value: '3'"), "2 x 5 replicas x 3 <= 35");
    assert!(!main.contains("newGuid()"), "a key made per deployment would orphan every conversation");
    let parameters: serde_json::Value = serde_json::from_str(&read("infra/main.parameters.json")).unwrap();
    assert_eq!(parameters["parameters"]["chatAppSecret"]["value"], "${CHAT_APP_SECRET}");
    let hook = read("infra/hooks/preprovision.sh");
    assert!(hook.contains("azd env set CHAT_APP_SECRET") && hook.contains("/dev/urandom"));
    use std::os::unix::fs::PermissionsExt;
    let mode = root().join("infra/hooks/preprovision.sh").metadata().unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "the hook is executable");
}
