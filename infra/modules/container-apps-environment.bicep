// The Container Apps environment, with workload profiles (custom-container session pools need them). Logs go
// to Log Analytics through diagnostic settings: no workspace key is handled anywhere.
param name string
param location string
param tags object
param logAnalyticsWorkspaceId string

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: { destination: 'azure-monitor' }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
      { name: 'dedicated', workloadProfileType: 'D4', minimumCount: 0, maximumCount: 3 }
    ]
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs-to-workspace'
  scope: environment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
  }
}

output id string = environment.id
output name string = environment.name
