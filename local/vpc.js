// `provider.vpc` of serverless.yml: the functions run in the stage's VPC when its vpcSubnetIds and
// vpcSecurityGroupIds parameters (comma-separated ids) are given, for a database that is not publicly reachable; with
// neither, outside any VPC. The Serverless Framework then adds the role's network interface permissions.

const list = (value) =>
  String(value ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);

module.exports = async ({ resolveVariable }) => {
  const subnetIds = list(await resolveVariable("param:vpcSubnetIds, ''"));
  const securityGroupIds = list(await resolveVariable("param:vpcSecurityGroupIds, ''"));
  // Empty lists (the configuration schema wants both keys): local/package-plugin.js then drops provider.vpc, so that
  // the functions get no VpcConfig and the role no network interface permissions.
  if (subnetIds.length === 0 && securityGroupIds.length === 0) return { subnetIds: [], securityGroupIds: [] };
  if (subnetIds.length === 0 || securityGroupIds.length === 0) {
    throw new Error('A VPC needs both vpcSubnetIds and vpcSecurityGroupIds (comma-separated ids), or neither');
  }
  return { subnetIds, securityGroupIds };
};
