import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261201140000Postgres, Migration20261201140000Sqlite } from "./decisions.js";
import { Migration20261129000000Postgres, Migration20261129000000Sqlite } from "./initial.js";
import { Migration20261201000000Postgres, Migration20261201000000Sqlite } from "./leases.js";
import { Migration20261201170000Postgres, Migration20261201170000Sqlite } from "./task-list-owner-status.js";
import { Migration20261201160000Postgres, Migration20261201160000Sqlite } from "./task-list-status.js";
import { Migration20261201150000Postgres, Migration20261201150000Sqlite } from "./task-retention.js";

/** The migrations of each dialect, in order. Names are stable: they are recorded in the database. */
export const MIGRATIONS: Record<"sqlite" | "postgresql", MigrationObject[]> = {
  sqlite: [
    { name: "Migration20261129000000", class: Migration20261129000000Sqlite },
    { name: "Migration20261201000000", class: Migration20261201000000Sqlite },
    { name: "Migration20261201140000", class: Migration20261201140000Sqlite },
    { name: "Migration20261201150000", class: Migration20261201150000Sqlite },
    { name: "Migration20261201160000", class: Migration20261201160000Sqlite },
    { name: "Migration20261201170000", class: Migration20261201170000Sqlite },
  ],
  postgresql: [
    { name: "Migration20261129000000", class: Migration20261129000000Postgres },
    { name: "Migration20261201000000", class: Migration20261201000000Postgres },
    { name: "Migration20261201140000", class: Migration20261201140000Postgres },
    { name: "Migration20261201150000", class: Migration20261201150000Postgres },
    { name: "Migration20261201160000", class: Migration20261201160000Postgres },
    { name: "Migration20261201170000", class: Migration20261201170000Postgres },
  ],
};
