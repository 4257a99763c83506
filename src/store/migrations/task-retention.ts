import { Migration } from "@mikro-orm/migrations";

/**
 * Task retention (--task-retention-age-ms) finds finished tasks by end time: an index on
 * `tasks.end_time`, one class per dialect (SQL from MikroORM's schema generator).
 */

/** SQLite. */
export class Migration20261201150000Sqlite extends Migration {
  override async up(): Promise<void> {
    this.addSql("create index `tasks_end_idx` on `tasks` (`end_time`);");
  }
}

/** PostgreSQL. */
export class Migration20261201150000Postgres extends Migration {
  override async up(): Promise<void> {
    this.addSql("create index \"tasks_end_idx\" on \"tasks\" (\"end_time\");");
  }
}
