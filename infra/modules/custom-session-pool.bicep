// Optional: a custom-container session pool running the project's emulator image, one session per container
// (each container is its own Hyper-V sandbox). Deployed by infra/hooks/postprovision.sh after the image is built
// in the registry. The container listens on the pool's ingress target port.
param name string
param location string = resourceGroup().location
param environmentId string
param image string
param registryServer string
param identityId string
param identityPrincipalId string
param maxSessions int = 20
param readySessions int = 2

@description('The port the emulator image listens on (see crates/emulator/Dockerfile).')
param targetPort int = 8080

resource pool 'Microsoft.App/sessionPools@2025-01-01' = {
  name: name
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environmentId
    poolManagementType: 'Dynamic'
    containerType: 'CustomContainer'
    scaleConfiguration: { maxConcurrentSessions: maxSessions, readySessionInstances: readySessions }
    dynamicPoolConfiguration: {
      lifecycleConfiguration: { lifecycleType: 'Timed', cooldownPeriodInSeconds: 300 }
    }
    sessionNetworkConfiguration: { status: 'EgressDisabled' }
    customContainerTemplate: {
      containers: [
        {
          name: 'session'
          image: image
          resources: { cpu: 1, memory: '2Gi' }
        }
      ]
      ingress: { targetPort: targetPort }
      registryCredentials: { server: registryServer, identity: identityId }
    }
  }
}

var sessionExecutorRoleId = '0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0'

resource executor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(pool.id, identityPrincipalId, sessionExecutorRoleId)
  scope: pool
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sessionExecutorRoleId)
  }
}

output poolManagementEndpoint string = pool.properties.poolManagementEndpoint
