import { Migration } from "@mikro-orm/migrations";

/**
 * The initial schema, one class per dialect (the SQL was produced by MikroORM's schema
 * generator from src/store/schema.ts; test/integration/migrations.test.ts checks that the
 * entities and the migrated database still agree).
 */

/** Initial schema for SQLite. */
export class Migration20261129000000Sqlite extends Migration {
  override async up(): Promise<void> {
    this.addSql("create table `confirmations` (`id` text not null, `task_id` text not null, `owner` text not null, `surface_id` text not null, `title` text not null, `components` text not null, `state` text not null, `action` text not null, `answer_values` text null, `request_id` text null, `create_time` bigint not null, `expire_time` bigint null, `resolve_time` bigint null, primary key (`id`));");
    this.addSql("create index `confirmations_state_idx` on `confirmations` (`state`);");
    this.addSql("create unique index `confirmations_task_request_unique` on `confirmations` (`task_id`, `request_id`);");
    this.addSql("create table `events` (`sequence` bigint not null, `time` bigint not null, `task_id` text not null, `owner` text not null, `type` text not null, `payload` text not null, primary key (`sequence`));");
    this.addSql("create index `events_time_idx` on `events` (`time`);");
    this.addSql("create table `tasks` (`id` text not null, `owner` text not null, `kind` text not null, `label` text not null, `status` text not null, `progress` double not null, `checkpoint` text null, `result` text null, `error_message` text not null, `error_details` text null, `cancel_requested` integer not null, `cancel_reason` text not null, `request_id` text null, `pending_confirmation_id` text null, `create_time` bigint not null, `update_time` bigint not null, `end_time` bigint null, `revision` integer not null, primary key (`id`));");
    this.addSql("create unique index `tasks_request_id_unique` on `tasks` (`request_id`);");
    this.addSql("create index `tasks_owner_create_idx` on `tasks` (`owner`, `create_time`, `id`);");
    this.addSql("create index `tasks_create_idx` on `tasks` (`create_time`, `id`);");
    this.addSql("create index `tasks_status_idx` on `tasks` (`status`);");
  }
}

/** Initial schema for PostgreSQL. */
export class Migration20261129000000Postgres extends Migration {
  override async up(): Promise<void> {
    this.addSql("create table \"confirmations\" (\"id\" varchar(255) not null, \"task_id\" varchar(255) not null, \"owner\" varchar(255) not null, \"surface_id\" varchar(255) not null, \"title\" text not null, \"components\" text not null, \"state\" varchar(255) not null, \"action\" varchar(255) not null, \"answer_values\" text null, \"request_id\" varchar(255) null, \"create_time\" bigint not null, \"expire_time\" bigint null, \"resolve_time\" bigint null, constraint \"confirmations_pkey\" primary key (\"id\"));");
    this.addSql("create index \"confirmations_state_idx\" on \"confirmations\" (\"state\");");
    this.addSql("alter table \"confirmations\" add constraint \"confirmations_task_request_unique\" unique (\"task_id\", \"request_id\");");
    this.addSql("create table \"events\" (\"sequence\" bigint not null, \"time\" bigint not null, \"task_id\" varchar(255) not null, \"owner\" varchar(255) not null, \"type\" varchar(255) not null, \"payload\" text not null, constraint \"events_pkey\" primary key (\"sequence\"));");
    this.addSql("create index \"events_time_idx\" on \"events\" (\"time\");");
    this.addSql("create table \"tasks\" (\"id\" varchar(255) not null, \"owner\" varchar(255) not null, \"kind\" varchar(255) not null, \"label\" text not null, \"status\" varchar(255) not null, \"progress\" double precision not null, \"checkpoint\" text null, \"result\" text null, \"error_message\" text not null, \"error_details\" text null, \"cancel_requested\" boolean not null, \"cancel_reason\" text not null, \"request_id\" varchar(255) null, \"pending_confirmation_id\" varchar(255) null, \"create_time\" bigint not null, \"update_time\" bigint not null, \"end_time\" bigint null, \"revision\" int not null, constraint \"tasks_pkey\" primary key (\"id\"));");
    this.addSql("alter table \"tasks\" add constraint \"tasks_request_id_unique\" unique (\"request_id\");");
    this.addSql("create index \"tasks_owner_create_idx\" on \"tasks\" (\"owner\", \"create_time\", \"id\");");
    this.addSql("create index \"tasks_create_idx\" on \"tasks\" (\"create_time\", \"id\");");
    this.addSql("create index \"tasks_status_idx\" on \"tasks\" (\"status\");");
  }
}
