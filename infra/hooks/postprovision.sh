#!/bin/sh
# azd postprovision hook. With ENABLE_POOL_MCP=true it fetches the pool MCP server's API key into the azd
# environment (POOL_MCP_API_KEY; never a deployment output). With ENABLE_CUSTOM_POOL=true it builds the emulator image as a session-pool image
# with the registry's own build (no local Docker) and deploys the optional custom-container session pool,
# which runs one session per container. azd passes the Bicep outputs in the environment.
set -eu

if [ -n "${POOL_MCP_ENDPOINT:-}" ]; then
    key=$(az rest --method POST \
        --uri "https://management.azure.com/subscriptions/${AZURE_SUBSCRIPTION_ID}/resourceGroups/${AZURE_RESOURCE_GROUP}/providers/Microsoft.App/sessionPools/${SESSION_POOL_NAME}/fetchMCPServerCredentials" \
        --uri-parameters api-version=2025-10-02-preview \
        --query apiKey --output tsv)
    azd env set POOL_MCP_API_KEY "${key}"
    echo "Pool MCP endpoint: ${POOL_MCP_ENDPOINT} (its key is in the azd environment: azd env get-value POOL_MCP_API_KEY)"
else
    echo "Pool MCP endpoint: off (turn it on with: azd env set ENABLE_POOL_MCP true && azd provision)."
fi

if [ "${ENABLE_CUSTOM_POOL:-false}" != "true" ]; then
    echo "Custom-container session pool: skipped (enable with: azd env set ENABLE_CUSTOM_POOL true && azd provision)."
    exit 0
fi

tag="session-pool:$(date -u +%Y%m%d%H%M%S)"
echo "Building ${tag} in ${AZURE_CONTAINER_REGISTRY_NAME} (crates/emulator/Dockerfile)..."
az acr build --registry "${AZURE_CONTAINER_REGISTRY_NAME}" --image "${tag}" --file crates/emulator/Dockerfile .

echo "Deploying the custom-container session pool..."
endpoint=$(az deployment group create \
    --resource-group "${AZURE_RESOURCE_GROUP}" \
    --name custom-session-pool \
    --template-file infra/modules/custom-session-pool.bicep \
    --parameters \
        name="csp-${AZURE_ENV_NAME}" \
        location="${AZURE_LOCATION}" \
        environmentId="${AZURE_CONTAINER_ENVIRONMENT_ID}" \
        image="${AZURE_CONTAINER_REGISTRY_ENDPOINT}/${tag}" \
        registryServer="${AZURE_CONTAINER_REGISTRY_ENDPOINT}" \
        identityId="${AZURE_MANAGED_IDENTITY_ID}" \
        identityPrincipalId="${AZURE_MANAGED_IDENTITY_PRINCIPAL_ID}" \
    --query properties.outputs.poolManagementEndpoint.value --output tsv)
azd env set CUSTOM_POOL_MANAGEMENT_ENDPOINT "${endpoint}"
echo "Custom-container session pool: ${endpoint}"
