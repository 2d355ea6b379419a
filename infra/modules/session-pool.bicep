// The code-interpreter session pool (Python, JavaScript or shell): Hyper-V isolation per session, no network
// egress, sessions deleted after 300 idle seconds. NodeLTS and Shell pools need the 2025-10-02-preview API.
param name string
param location string
param tags object
param maxSessions int
@allowed(['PythonLTS', 'NodeLTS', 'Shell'])
param containerType string = 'PythonLTS'
@description('Serve the pool\'s own MCP endpoint (x-ms-apikey authentication).')
param mcpEnabled bool = false

resource pool 'Microsoft.App/sessionPools@2025-10-02-preview' = {
  name: name
  location: location
  tags: tags
  properties: {
    poolManagementType: 'Dynamic'
    containerType: containerType
    scaleConfiguration: { maxConcurrentSessions: maxSessions }
    dynamicPoolConfiguration: {
      lifecycleConfiguration: { lifecycleType: 'Timed', cooldownPeriodInSeconds: 300 }
    }
    sessionNetworkConfiguration: { status: 'EgressDisabled' }
    mcpServerSettings: { isMcpServerEnabled: mcpEnabled, isMcpServerApiKeyDisabled: false }
  }
}

output name string = pool.name
output poolManagementEndpoint string = pool.properties.poolManagementEndpoint
output mcpServerEndpoint string = mcpEnabled ? pool.properties.mcpServerSettings.mcpServerEndpoint : ''
