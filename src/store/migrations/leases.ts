import { Migration } from "@mikro-orm/migrations";

/**
 * Leases, attempts and claims (issue 13): five columns of `tasks` (SQL from MikroORM's schema
 * generator against src/store/schema.ts; test/integration/store.test.ts checks that the
 * entities and the migrated database agree). Existing rows become attempt 1 without a lease.
 */

/** Lease columns for SQLite. */
export class Migration20261201000000Sqlite extends Migration {
  override async up(): Promise<void> {
    this.addSql("alter table `tasks` add column `attempt` integer not null default 1;");
    this.addSql("alter table `tasks` add column `lease_duration` bigint null;");
    this.addSql("alter table `tasks` add column `lease_expire_time` bigint null;");
    this.addSql("alter table `tasks` add column `stall_time` bigint null;");
    this.addSql("alter table `tasks` add column `claim_request_id` text null;");
  }
}

/** Lease columns for PostgreSQL. */
export class Migration20261201000000Postgres extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      "alter table \"tasks\" add column \"attempt\" int not null default 1, add column \"lease_duration\" bigint null, add column \"lease_expire_time\" bigint null, add column \"stall_time\" bigint null, add column \"claim_request_id\" varchar(255) null;",
    );
  }
}
