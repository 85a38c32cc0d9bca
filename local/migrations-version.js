// A property of the DatabaseMigrations custom resource (serverless.yml): a digest of drizzle's migration journal,
// so that CloudFormation updates the resource, and the migrate function runs, whenever a migration is added.

const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const path = require('node:path');

module.exports = () =>
  createHash('sha256')
    .update(readFileSync(path.join(__dirname, '..', 'drizzle', 'meta', '_journal.json')))
    .digest('hex')
    .slice(0, 16);
