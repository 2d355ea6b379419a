//! Which chat model the agent uses: Azure OpenAI (API key or Entra ID), OpenAI, or any OpenAI-compatible
//! endpoint (a local llama.cpp server, Ollama, vLLM, ...).

use std::fmt;
use std::sync::Arc;

use dynamic_sessions::azure_core::credentials::TokenCredential;
use rig_core::DynModel;
use rig_core::http_client::{self, HeaderMap, HeaderValue, HttpMiddleware, Method, Uri};
use rig_core::operation::Completion;
use rig_core::providers::openai::OpenAIConfig;
use rig_core::providers::openai::wire::{AZURE, Auth};
use rig_core::wasm_compat::WasmBoxedFuture;

/// Environment variables read by [`ModelConfig::from_env`].
pub mod env {
    /// Azure OpenAI endpoint, e.g. `https://my-account.openai.azure.com`.
    pub const AZURE_OPENAI_ENDPOINT: &str = "AZURE_OPENAI_ENDPOINT";
    /// The chat model deployment.
    pub const AZURE_OPENAI_DEPLOYMENT: &str = "AZURE_OPENAI_DEPLOYMENT";
    /// Azure OpenAI api-version (default `2024-10-21`).
    pub const AZURE_OPENAI_API_VERSION: &str = "AZURE_OPENAI_API_VERSION";
    /// An Azure OpenAI key; without it, Entra ID is used (managed identity, `az login`, ...).
    pub const AZURE_OPENAI_API_KEY: &str = "AZURE_OPENAI_API_KEY";
    /// An OpenAI key.
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    /// The model (default `gpt-4o`).
    pub const OPENAI_MODEL: &str = "OPENAI_MODEL";
    /// An OpenAI-compatible base URL, e.g. `http://127.0.0.1:8080/v1` (llama.cpp) or
    /// `http://127.0.0.1:11434/v1` (Ollama); the key is then optional.
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
}

/// Default Azure OpenAI api-version.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// Default OpenAI model.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o";
/// The Entra ID scope of Azure OpenAI.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// How to authenticate to Azure OpenAI. `Debug` never prints the key.
#[derive(Clone)]
pub enum AzureAuth {
    /// An `api-key` header.
    ApiKey(String),
    /// A bearer token from this credential, fetched (from its cache) before every request.
    Entra(Arc<dyn TokenCredential>),
}

impl fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureAuth::ApiKey(_) => f.write_str("AzureAuth::ApiKey(<redacted>)"),
            AzureAuth::Entra(c) => write!(f, "AzureAuth::Entra({c:?})"),
        }
    }
}

/// The chat model behind an agent.
#[derive(Clone)]
#[non_exhaustive]
pub enum ModelConfig {
    /// Azure OpenAI.
    AzureOpenAi {
        /// Endpoint, e.g. `https://my-account.openai.azure.com`.
        endpoint: String,
        /// Deployment name.
        deployment: String,
        /// api-version.
        api_version: String,
        /// Key or Entra ID.
        auth: AzureAuth,
    },
    /// OpenAI, or any OpenAI-compatible server when `base_url` is set.
    OpenAi {
        /// The key; optional for compatible servers.
        api_key: Option<String>,
        /// The model.
        model: String,
        /// A compatible server's base URL (ending in `/v1`).
        base_url: Option<String>,
    },
}

impl fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Why a model could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A variable is missing.
    #[error("{name} is not set: {hint}")]
    MissingEnv {
        /// The variable.
        name: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// The Entra ID credential could not be created.
    #[error("cannot create the Entra ID credential for Azure OpenAI: {0}")]
    Credential(String),
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl ModelConfig {
    /// Reads the model from the environment: Azure OpenAI when `AZURE_OPENAI_ENDPOINT` is set, OpenAI or a
    /// compatible server when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is, otherwise `None` (no model configured).
    ///
    /// # Errors
    /// [`ModelError`] when a setting is incomplete.
    pub fn from_env() -> Result<Option<ModelConfig>, ModelError> {
        Self::from_lookup(&var)
    }

    /// [`ModelConfig::from_env`] over any variable source.
    ///
    /// # Errors
    /// As [`ModelConfig::from_env`].
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<ModelConfig>, ModelError> {
        if let Some(endpoint) = lookup(env::AZURE_OPENAI_ENDPOINT) {
            let deployment = lookup(env::AZURE_OPENAI_DEPLOYMENT).ok_or(ModelError::MissingEnv {
                name: env::AZURE_OPENAI_DEPLOYMENT,
                hint: "the name of the chat model deployment (e.g. gpt-4o)",
            })?;
            let auth = match lookup(env::AZURE_OPENAI_API_KEY) {
                Some(key) => AzureAuth::ApiKey(key),
                None => AzureAuth::Entra(
                    dynamic_sessions::credential_from_env()
                        .map_err(|e| ModelError::Credential(e.to_string()))?
                        .credential,
                ),
            };
            let api_version =
                lookup(env::AZURE_OPENAI_API_VERSION).unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned());
            return Ok(Some(ModelConfig::AzureOpenAi { endpoint, deployment, api_version, auth }));
        }
        let api_key = lookup(env::OPENAI_API_KEY);
        let base_url = lookup(env::OPENAI_BASE_URL);
        if api_key.is_some() || base_url.is_some() {
            let model = lookup(env::OPENAI_MODEL).unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned());
            return Ok(Some(ModelConfig::OpenAi { api_key, model, base_url }));
        }
        Ok(None)
    }

    /// The tool-choice policy that suits this model when none is configured: `guided` for an
    /// OpenAI-compatible server of your own (`base_url`: llama.cpp, Ollama, vLLM — usually a small model
    /// that otherwise writes its calls as text), `auto` for OpenAI and Azure OpenAI.
    pub fn default_tool_choice(&self) -> crate::turn::ToolChoicePolicy {
        match self {
            ModelConfig::OpenAi { base_url: Some(_), .. } => crate::turn::ToolChoicePolicy::Guided,
            _ => crate::turn::ToolChoicePolicy::Auto,
        }
    }

    /// The turn options that suit this model ([`ModelConfig::default_tool_choice`]; images only to OpenAI
    /// and Azure OpenAI), without the environment.
    pub fn default_turn_options(&self) -> crate::turn::TurnOptions {
        crate::turn::TurnOptions {
            tool_choice: self.default_tool_choice(),
            images_to_model: !matches!(self, ModelConfig::OpenAi { base_url: Some(_), .. }),
            ..crate::turn::TurnOptions::default()
        }
    }

    /// [`ModelConfig::default_turn_options`], overridden by the environment ([`crate::turn::env`]).
    ///
    /// # Errors
    /// [`crate::turn::InvalidSetting`] for an environment value that does not parse.
    pub fn turn_options(&self) -> Result<crate::turn::TurnOptions, crate::turn::InvalidSetting> {
        crate::turn::TurnOptions::from_env(self.default_turn_options())
    }

    /// A one-line description without secrets, for logs and UIs.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::AzureOpenAi { endpoint, deployment, auth, .. } => {
                let how = match auth {
                    AzureAuth::ApiKey(_) => "API key",
                    AzureAuth::Entra(_) => "Entra ID",
                };
                format!("Azure OpenAI deployment {deployment} at {endpoint} ({how})")
            }
            ModelConfig::OpenAi { model, base_url: None, .. } => format!("OpenAI {model}"),
            ModelConfig::OpenAi { model, base_url: Some(url), .. } => format!("{model} at {url}"),
        }
    }

    /// The chat-completions model for rig.
    ///
    /// # Errors
    /// Never today; fallible for configurations that need validation.
    pub fn completion_model(&self) -> Result<DynModel<Completion>, ModelError> {
        Ok(match self {
            ModelConfig::AzureOpenAi { endpoint, deployment, api_version, auth } => {
                let base = OpenAIConfig::with_key(&AZURE, String::new())
                    .with_base_url(endpoint.trim_end_matches('/'))
                    .with_api_version(api_version.clone());
                match auth {
                    AzureAuth::ApiKey(key) => {
                        OpenAIConfig { api_key: key.clone().into(), ..base }.client().chat(deployment.clone()).into()
                    }
                    AzureAuth::Entra(credential) => {
                        let http = rig_reqwest::shared().with_middleware(EntraBearer {
                            credential: credential.clone(),
                            scope: COGNITIVE_SERVICES_SCOPE.to_owned(),
                        });
                        base.with_auth(Auth::OptionalBearer).connect(http).chat(deployment.clone()).into()
                    }
                }
            }
            ModelConfig::OpenAi { api_key, model, base_url } => {
                let mut config = OpenAIConfig::new(api_key.clone().unwrap_or_default());
                if api_key.is_none() {
                    config = config.with_auth(Auth::OptionalBearer);
                }
                if let Some(url) = base_url {
                    config = config.with_base_url(url.trim_end_matches('/'));
                }
                config.client().chat(model.clone()).into()
            }
        })
    }
}

/// Sets `Authorization: Bearer <token>` from an Entra ID credential before every request, so long
/// conversations never run on an expired token (rig's own Azure bearer is a static string).
#[derive(Clone)]
struct EntraBearer {
    credential: Arc<dyn TokenCredential>,
    scope: String,
}

impl fmt::Debug for EntraBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraBearer").field("scope", &self.scope).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot get an Entra ID token for Azure OpenAI: {0}")]
struct TokenError(String);

impl HttpMiddleware for EntraBearer {
    fn before_request_headers<'a>(
        &'a self,
        _method: &'a Method,
        _uri: &'a Uri,
        headers: &'a mut HeaderMap,
    ) -> WasmBoxedFuture<'a, http_client::Result<()>> {
        Box::pin(async move {
            let token = self
                .credential
                .get_token(&[self.scope.as_str()], None)
                .await
                .map_err(|e| http_client::Error::instance(TokenError(e.to_string())))?;
            let mut value = HeaderValue::try_from(format!("Bearer {}", token.token.secret()))
                .map_err(|e| http_client::Error::instance(TokenError(e.to_string())))?;
            value.set_sensitive(true);
            headers.remove("api-key");
            headers.insert("authorization", value);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<ModelConfig>, ModelError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ModelConfig::from_lookup(&move |n| map.get(n).cloned())
    }

    #[test]
    fn environment_selection() -> Result<(), ModelError> {
        assert!(config(&[])?.is_none());
        let azure = config(&[
            ("AZURE_OPENAI_ENDPOINT", "https://a.openai.azure.com"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"),
            ("AZURE_OPENAI_API_KEY", "k"),
        ])?;
        assert!(
            matches!(azure, Some(ModelConfig::AzureOpenAi { ref api_version, .. }) if api_version == DEFAULT_AZURE_API_VERSION)
        );
        let described = azure.map(|a| a.describe()).unwrap_or_default();
        assert!(described.contains("API key") && !described.contains(" k "), "{described}");
        assert!(matches!(
            config(&[("AZURE_OPENAI_ENDPOINT", "https://a.openai.azure.com")]),
            Err(ModelError::MissingEnv { name: "AZURE_OPENAI_DEPLOYMENT", .. })
        ));
        let local = config(&[("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1"), ("OPENAI_MODEL", "qwen")])?;
        assert!(matches!(local, Some(ModelConfig::OpenAi { api_key: None, .. })));
        Ok(())
    }
}
