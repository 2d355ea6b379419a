//! The few Azure Resource Manager calls a pool's users make, shaped as ARM answers them: `GET` the pool
//! resource (its `poolManagementEndpoint` and `mcpServerSettings.mcpServerEndpoint`), and the MCP server's
//! credentials: `POST .../fetchMCPServerCredentials` (and `rotateMcpServerCredentials`, which the documentation
//! calls `regenerateCredentials`) answer `{"apiKey": ...}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::error::ApiError;
use crate::mcp::ENDPOINT_PATH;
use crate::pool::SessionPool;

/// The resource path's parts.
#[derive(Debug, Deserialize)]
pub(crate) struct Resource {
    subscription: String,
    group: String,
    pool: String,
}

/// The resource path's pool and action (the subscription and group may be any).
#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    pool: String,
    action: String,
}

fn find<'a>(state: &'a AppState, name: &str) -> Result<&'a SessionPool, ApiError> {
    state.inner.pools.find(name).ok_or_else(|| {
        ApiError::not_found(
            "ResourceNotFound",
            format!("The session pool '{name}' was not found: the emulator's pools are its default pool and those --pool names."),
        )
    })
}

/// The data-plane endpoint of a pool, as ARM reports it.
fn management_endpoint(state: &AppState, headers: &HeaderMap, r: &Resource) -> String {
    state.absolute_url(
        headers,
        &format!("/subscriptions/{}/resourceGroups/{}/sessionPools/{}", r.subscription, r.group, r.pool),
    )
}

/// `GET .../providers/Microsoft.App/sessionPools/{pool}`: the pool resource.
pub(crate) async fn get_pool(
    State(state): State<AppState>,
    Path(resource): Path<Resource>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = find(&state, &resource.pool)?;
    let endpoint = management_endpoint(&state, &headers, &resource);
    let enabled = state.inner.mcp.is_some();
    let config = pool.config();
    Ok(axum::Json(json!({
        "id": format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.App/sessionPools/{}",
            resource.subscription, resource.group, pool.kind().spec.name
        ),
        "name": pool.kind().spec.name,
        "type": "Microsoft.App/sessionPools",
        "location": "local",
        "properties": {
            "provisioningState": "Succeeded",
            "poolManagementType": "Dynamic",
            "containerType": pool.kind().spec.container_type.to_string(),
            "poolManagementEndpoint": endpoint,
            "scaleConfiguration": {"maxConcurrentSessions": config.max_sessions, "readySessionInstances": config.ready_sessions},
            "dynamicPoolConfiguration": {
                "lifecycleConfiguration": {"lifecycleType": "Timed", "cooldownPeriodInSeconds": config.cooldown.as_secs()}
            },
            "sessionNetworkConfiguration": {"status": "EgressDisabled"},
            "mcpServerSettings": {
                "isMcpServerEnabled": enabled,
                "isMcpServerApiKeyDisabled": false,
                "mcpServerEndpoint": enabled.then(|| format!("{endpoint}{ENDPOINT_PATH}")),
            },
        },
    }))
    .into_response())
}

/// `POST .../sessionPools/{pool}/{action}`: the MCP server's credentials.
pub(crate) async fn pool_action(State(state): State<AppState>, Path(path): Path<Action>) -> Result<Response, ApiError> {
    let pool = find(&state, &path.pool)?;
    let action = path.action.to_ascii_lowercase();
    let fetch = action == "fetchmcpservercredentials";
    let rotate = matches!(action.as_str(), "rotatemcpservercredentials" | "regeneratecredentials");
    if !fetch && !rotate {
        return Err(ApiError::not_found(
            "InvalidResourceType",
            format!(
                "No action '{}' on a session pool here: fetchMCPServerCredentials and rotateMcpServerCredentials are.",
                path.action
            ),
        ));
    }
    let Some(mcp) = state.inner.mcp.as_ref() else {
        return Err(ApiError::bad_request(
            "SessionMCPServerNotEnabled",
            format!(
                "The MCP server of the session pool '{}' is not enabled: start the emulator with --mcp.",
                pool.kind().spec.name
            ),
        ));
    };
    let key = if rotate {
        mcp.rotate().map_err(|e| ApiError::internal("cannot write the new MCP API key", e))?
    } else {
        mcp.key()
    };
    Ok((StatusCode::OK, axum::Json(json!({"apiKey": key}))).into_response())
}
