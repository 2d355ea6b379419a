// The chat app: external ingress on port 8000, the managed identity for the pool, Azure OpenAI, PostgreSQL and
// the registry; every variable the app reads is set here. Several replicas: conversations live in PostgreSQL,
// which the identity signs in to with Entra ID tokens (DATABASE_URL names the user and carries no password).
param name string
param location string
param tags object
param environmentId string
param identityId string
param identityClientId string
param registryServer string
param exists bool
param poolManagementEndpoint string
param openAiEndpoint string
param openAiDeployment string
param openAiApiVersion string
param databaseHost string
param databaseName string
@description('The identity\'s database role name.')
param databaseUser string
param maxReplicas int

@secure()
param chatAppSecret string

var port = 8000

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'web' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: { external: true, targetPort: port, transport: 'auto', allowInsecure: false }
      registries: [{ server: registryServer, identity: identityId }]
      secrets: [{ name: 'chat-app-secret', value: chatAppSecret }]
    }
    template: {
      containers: [
        {
          name: 'web'
          image: exists ? existingApp!.properties.template.containers[0].image : 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
          resources: { cpu: json('1.0'), memory: '2Gi' }
          env: [
            { name: 'CHAT_APP_BIND', value: '0.0.0.0:${port}' }
            { name: 'POOL_MANAGEMENT_ENDPOINT', value: poolManagementEndpoint }
            { name: 'AZURE_CLIENT_ID', value: identityClientId }
            { name: 'AZURE_OPENAI_ENDPOINT', value: openAiEndpoint }
            { name: 'AZURE_OPENAI_DEPLOYMENT', value: openAiDeployment }
            { name: 'AZURE_OPENAI_API_VERSION', value: openAiApiVersion }
            { name: 'CHAT_APP_SECRET', secretRef: 'chat-app-secret' }
            { name: 'DATABASE_URL', value: 'postgres://${databaseUser}@${databaseHost}:5432/${databaseName}?sslmode=verify-full' }
            { name: 'DATABASE_AUTH', value: 'entra' }
            { name: 'DATABASE_MAX_CONNECTIONS', value: '3' }
            { name: 'CHAT_APP_SECURE_COOKIES', value: 'true' }
            { name: 'CHAT_APP_LOG_FORMAT', value: 'json' }
            { name: 'RUST_LOG', value: 'chat_app=info,dynamic_sessions=info,tower_http=info' }
          ]
          probes: [
            { type: 'Liveness', httpGet: { path: '/healthz', port: port }, periodSeconds: 30 }
            { type: 'Readiness', httpGet: { path: '/readyz', port: port }, periodSeconds: 15 }
          ]
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: maxReplicas
        rules: [{ name: 'http', http: { metadata: { concurrentRequests: '50' } } }]
      }
    }
  }
}

output name string = app.name
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'
