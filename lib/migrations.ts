import { config } from '#lib/config';
import { migrateDatabase } from '#lib/db/migrate';
import { loadSecrets } from '#lib/secrets';

/** Applies the migrations in `folder` to the service's database (DATABASE_URL, or its secret once read). */
export async function migrateServiceDatabase(folder: string): Promise<void> {
  await loadSecrets();
  await migrateDatabase(config().DATABASE_URL, { folder });
}
