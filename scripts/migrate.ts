import { config } from '#lib/config';
import { migrateDatabase } from '#lib/db/migrate';

// Applies the migrations in drizzle/ to DATABASE_URL.
migrateDatabase(config().DATABASE_URL)
  .then(() => console.log('Migrations applied.'))
  .catch((err) => {
    console.error(`Migration failed: ${(err as Error).message}`);
    process.exit(1);
  });
