// Everything the chat app needs on Azure: a Python code-interpreter session pool (no egress), Azure OpenAI with
// a chat model, PostgreSQL for the conversations, a registry, monitoring, and the app itself (several replicas),
// all keyless: one user-assigned managed identity holds the Session Executor, OpenAI User and AcrPull roles and
// is the database's Entra administrator. No output carries a key or secret, and no password exists.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; resources are named after it.')
param environmentName string

@minLength(1)
@description('Region of the resources (one where dynamic sessions are available).')
param location string

@description('Region of the Azure OpenAI account (model availability differs by region).')
param openAiLocation string = location

@description('Chat model to deploy.')
param chatModelName string = 'gpt-4o'

@description('Version of the chat model.')
param chatModelVersion string = '2024-08-06'

@description('Capacity of the chat deployment, in thousands of tokens per minute.')
param chatModelCapacity int = 30

@description('Azure OpenAI data-plane api-version the app uses.')
param openAiApiVersion string = '2024-10-21'

@minValue(1)
@maxValue(600)
@description('Maximum concurrent sessions in the code-interpreter pool.')
param maxSessions int = 100

@allowed(['PythonLTS', 'NodeLTS', 'Shell'])
@description('What the code-interpreter pool runs: Python (PythonLTS), JavaScript on Node.js (NodeLTS), or shell commands only (Shell). The app reads it from the pool and follows it.')
param poolContainerType string = 'PythonLTS'

@description('Turn on the pool\'s own MCP server (platform-managed, preview): its endpoint becomes the POOL_MCP_ENDPOINT output, and the post-provision hook fetches its API key into the azd environment (POOL_MCP_API_KEY), never into an output.')
param enablePoolMcp bool = false

@description('Object id of the person running azd; gets the pool and OpenAI roles too, for running the app locally against Azure.')
param principalId string = ''

@description('Whether the web app exists already (azd sets this), so a provision keeps its deployed image.')
param webAppExists bool = false

@secure()
@minLength(32)
@description('Key for the app\'s cookie signatures and session identifiers, the same on every replica and every provision (the preprovision hook makes it once and keeps it in the azd environment): a new key would orphan every conversation.')
param chatAppSecret string

@minValue(1)
@maxValue(5)
@description('Most replicas of the chat app (they share the conversations in PostgreSQL). Each opens at most 3 database connections (DATABASE_MAX_CONNECTIONS); the Burstable B1ms server allows 35, and a revision swap briefly runs old and new replicas together: 5 and 5 make 30.')
param maxWebReplicas int = 3

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: { name: 'log-${token}', location: location, tags: tags }
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: { name: 'id-${token}', location: location, tags: tags }
}

module registry 'modules/registry.bicep' = {
  scope: rg
  name: 'registry'
  params: { name: 'cr${token}', location: location, tags: tags }
}

module environment 'modules/container-apps-environment.bicep' = {
  scope: rg
  name: 'container-apps-environment'
  params: { name: 'cae-${token}', location: location, tags: tags, logAnalyticsWorkspaceId: monitoring.outputs.workspaceId }
}

module openAi 'modules/openai.bicep' = {
  scope: rg
  name: 'openai'
  params: {
    name: 'oai-${token}'
    location: openAiLocation
    tags: tags
    deploymentName: chatModelName
    modelName: chatModelName
    modelVersion: chatModelVersion
    capacity: chatModelCapacity
  }
}

module sessionPool 'modules/session-pool.bicep' = {
  scope: rg
  name: 'session-pool'
  params: {
    name: 'sp-${token}'
    location: location
    tags: tags
    maxSessions: maxSessions
    containerType: poolContainerType
    mcpEnabled: enablePoolMcp
  }
}

module roles 'modules/role-assignments.bicep' = {
  scope: rg
  name: 'role-assignments'
  params: {
    principalId: identity.outputs.principalId
    userPrincipalId: principalId
    registryName: registry.outputs.name
    openAiName: openAi.outputs.name
    sessionPoolName: sessionPool.outputs.name
  }
}

module postgres 'modules/postgres.bicep' = {
  scope: rg
  name: 'postgres'
  params: {
    name: 'psql-${token}'
    location: location
    tags: tags
    administratorPrincipalId: identity.outputs.principalId
    administratorName: identity.outputs.name
  }
}

module web 'modules/chat-app.bicep' = {
  scope: rg
  name: 'chat-app'
  dependsOn: [roles]
  params: {
    name: 'ca-web-${token}'
    location: location
    tags: tags
    environmentId: environment.outputs.id
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    registryServer: registry.outputs.loginServer
    exists: webAppExists
    poolManagementEndpoint: sessionPool.outputs.poolManagementEndpoint
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeployment: openAi.outputs.deploymentName
    openAiApiVersion: openAiApiVersion
    chatAppSecret: chatAppSecret
    databaseHost: postgres.outputs.host
    databaseName: postgres.outputs.databaseName
    databaseUser: identity.outputs.name
    maxReplicas: maxWebReplicas
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_ENVIRONMENT_ID string = environment.outputs.id
output AZURE_CONTAINER_ENVIRONMENT_NAME string = environment.outputs.name
output AZURE_MANAGED_IDENTITY_ID string = identity.outputs.id
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output POOL_MANAGEMENT_ENDPOINT string = sessionPool.outputs.poolManagementEndpoint
output SESSION_POOL_NAME string = sessionPool.outputs.name
output POOL_MCP_ENDPOINT string = sessionPool.outputs.mcpServerEndpoint
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_DEPLOYMENT string = openAi.outputs.deploymentName
output AZURE_OPENAI_API_VERSION string = openAiApiVersion
output POSTGRES_HOST string = postgres.outputs.host
output SERVICE_WEB_NAME string = web.outputs.name
output SERVICE_WEB_URI string = web.outputs.uri
