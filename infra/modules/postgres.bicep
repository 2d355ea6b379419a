// The chat app's conversation store: Azure Database for PostgreSQL flexible server with Microsoft Entra
// authentication only (password authentication is off, so no password exists anywhere). The app's managed
// identity is the server's Entra administrator and signs in with tokens it refreshes itself; the server serves
// this app alone. Reachable from Azure services only (the Container Apps environment has no fixed address).
param name string
param location string
param tags object
@description('Object id of the identity that administers the database (the chat app\'s managed identity).')
param administratorPrincipalId string
@description('Name of that identity: its database role name, and the user in DATABASE_URL.')
param administratorName string
param databaseName string = 'chat'

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    storage: { storageSizeGB: 32, autoGrow: 'Enabled' }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    network: { publicNetworkAccess: 'Enabled' }
    authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Disabled', tenantId: subscription().tenantId }
  }
}

// One operation at a time on a flexible server, and the Entra administrator first: a database made before the
// server has an administrator is owned by the service's own role, and the administrator could not create tables
// in it.
resource administrator 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: administratorPrincipalId
  properties: { principalType: 'ServicePrincipal', principalName: administratorName, tenantId: subscription().tenantId }
}

// 0.0.0.0 to 0.0.0.0 is the service's rule for "Azure services only".
resource azureServices 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: server
  name: 'AllowAzureServices'
  dependsOn: [administrator]
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  dependsOn: [azureServices]
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
