// `provider.httpApi.cors` of serverless.yml, from CORS_ORIGINS: the origins (`https://app.example`) whose web pages
// may call the API, comma-separated. None by default, since the dashboard is served from the API's own origin; then
// there is no CORS at all: API Gateway adds no Access-Control-* header, and neither does serverless-offline (which
// would reflect any origin: local/offline-plugin.js takes its headers back). lib/config.ts validates the variable.

/** The HTTP API's CORS configuration for the configured origins, or false when there are none. */
module.exports = async ({ resolveVariable }) => {
  const origins = String((await resolveVariable("env:CORS_ORIGINS, ''")) ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  if (origins.length === 0) return false;
  return {
    allowedOrigins: origins,
    allowedMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Content-Type', 'X-Api-Key', 'Idempotency-Key'],
    exposedResponseHeaders: ['Location', 'X-Request-Id', 'Retry-After'],
    maxAge: 600,
  };
};
