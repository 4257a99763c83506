import { Migration } from "@mikro-orm/migrations";

/**
 * ListTasks with a status filter pages newest first: an index on `tasks` (status,
 * create_time, id) lets it read one page in order instead of sorting every task of the
 * status (80,000 running ones of a million took a temp B-tree per page; bench/million.ts).
 * It also serves every lookup by status alone (the start-up read of the unfinished tasks),
 * so it replaces `tasks_status_idx`, whose column it leads with. The SQL is in the form
 * MikroORM's schema generator writes; test/integration/store.test.ts checks that the
 * entities of src/store/schema.ts and the migrated database agree.
 */

/** SQLite. */
export class Migration20261201160000Sqlite extends Migration {
  override async up(): Promise<void> {
    this.addSql("create index `tasks_status_create_idx` on `tasks` (`status`, `create_time`, `id`);");
    this.addSql("drop index `tasks_status_idx`;");
  }
}

/** PostgreSQL. */
export class Migration20261201160000Postgres extends Migration {
  override async up(): Promise<void> {
    this.addSql("create index \"tasks_status_create_idx\" on \"tasks\" (\"status\", \"create_time\", \"id\");");
    this.addSql("drop index \"tasks_status_idx\";");
  }
}
