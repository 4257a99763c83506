import { Migration } from "@mikro-orm/migrations";

/**
 * ListTasks with both an owner and a status filter (the monitor's filtered view) pages
 * newest first through an index on `tasks` (owner, status, create_time, id); the owner's
 * index alone reads every task of the owner until a page of that status is found (at a
 * million tasks, 2.9× the server CPU per page of 5,000; bench/million.ts). The SQL is in the
 * form MikroORM's schema generator writes; test/integration/store.test.ts checks that the
 * entities of src/store/schema.ts and the migrated database agree.
 */

/** SQLite. */
export class Migration20261201170000Sqlite extends Migration {
  override async up(): Promise<void> {
    this.addSql("create index `tasks_owner_status_create_idx` on `tasks` (`owner`, `status`, `create_time`, `id`);");
  }
}

/** PostgreSQL. */
export class Migration20261201170000Postgres extends Migration {
  override async up(): Promise<void> {
    this.addSql("create index \"tasks_owner_status_create_idx\" on \"tasks\" (\"owner\", \"status\", \"create_time\", \"id\");");
  }
}
