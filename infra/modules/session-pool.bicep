// The Python code-interpreter session pool: Hyper-V isolation per session, no network egress, sessions
// deleted after 300 idle seconds.
param name string
param location string
param tags object
param maxSessions int

resource pool 'Microsoft.App/sessionPools@2025-01-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    poolManagementType: 'Dynamic'
    containerType: 'PythonLTS'
    scaleConfiguration: { maxConcurrentSessions: maxSessions }
    dynamicPoolConfiguration: {
      lifecycleConfiguration: { lifecycleType: 'Timed', cooldownPeriodInSeconds: 300 }
    }
    sessionNetworkConfiguration: { status: 'EgressDisabled' }
  }
}

output name string = pool.name
output poolManagementEndpoint string = pool.properties.poolManagementEndpoint
