import type { MiddlewareObj } from '@middy/core';
import { applySecrets, config, SECRET_SETTINGS, type SecretSetting } from '#lib/config';

/*
 * A deployed stage keeps DATABASE_URL and API_KEYS in SSM SecureString parameters; its functions' environment holds
 * only their names (DATABASE_URL_PARAMETER, API_KEYS_PARAMETER). Every invocation awaits loadSecrets() first (the
 * middleware below): the first one of a container reads the parameters (one SSM GetParameters call), later ones take
 * them from Powertools' cache until SECRETS_MAX_AGE_S has passed, then read them again, so a rotated API key takes
 * effect within that time (a container's database pool keeps the connection it opened). Locally (no names set)
 * nothing is read: the two settings come from the environment as before.
 */

/** Reads the secrets this process's settings name (cached for SECRETS_MAX_AGE_S) and puts them into config(). */
export async function loadSecrets(): Promise<void> {
  const settings = config();
  const wanted = (Object.entries(SECRET_SETTINGS) as [SecretSetting, keyof typeof settings][])
    .map(([setting, parameter]) => [setting, settings[parameter]] as const)
    .filter((entry): entry is readonly [SecretSetting, string] => typeof entry[1] === 'string');
  if (wanted.length === 0) return;
  const names = Object.fromEntries(wanted.map(([, name]) => [name, {}]));
  // throwOnError: a parameter that is missing or cannot be read fails the invocation, naming it.
  // Imported here, not at the top: a local run (no names) never loads Powertools' SSM provider and the SDK's client,
  // and a cold start loads them only as it reads the secrets.
  const { getParametersByName } = await import('@aws-lambda-powertools/parameters/ssm');
  const values = await getParametersByName(names, { decrypt: true, maxAge: settings.SECRETS_MAX_AGE_S, throwOnError: true });
  applySecrets(Object.fromEntries(wanted.map(([setting, name]) => [setting, String(values[name] ?? '')])));
}

/** A middy middleware that loads the secrets before the handler (and before the other middlewares' `before`). */
export const secretsMiddleware = (): MiddlewareObj => ({
  before: async () => {
    await loadSecrets();
  },
});
