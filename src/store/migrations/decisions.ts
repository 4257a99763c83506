import { Migration } from "@mikro-orm/migrations";

/**
 * Issue 14 (human decisions): who may answer, the timeout's default action, who answered
 * and when, whether the default was taken; and an index for one task's history
 * (ListTaskEvents). The SQL was produced by MikroORM's schema generator from
 * src/store/schema.ts; existing rows take the defaults (anyone may answer, no default).
 */

/** Decisions columns for SQLite. */
export class Migration20261201140000Sqlite extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table `confirmations` add column `answerers` text not null default '[]';");
    this.addSql("alter table `confirmations` add column `timeout_action` text not null default '';");
    this.addSql("alter table `confirmations` add column `answered_by` text not null default '';");
    this.addSql("alter table `confirmations` add column `answer_time` bigint null;");
    this.addSql("alter table `confirmations` add column `defaulted` integer not null default false;");
    this.addSql("create index `events_task_sequence_idx` on `events` (`task_id`, `sequence`);");
  }
}

/** Decisions columns for PostgreSQL. */
export class Migration20261201140000Postgres extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      "alter table \"confirmations\" add column \"answerers\" text not null default '[]', add column \"timeout_action\" varchar(255) not null default '', add column \"answered_by\" varchar(255) not null default '', add column \"answer_time\" bigint null, add column \"defaulted\" boolean not null default false;",
    );
    this.addSql("create index \"events_task_sequence_idx\" on \"events\" (\"task_id\", \"sequence\");");
  }
}
