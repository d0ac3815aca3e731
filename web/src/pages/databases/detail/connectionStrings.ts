import type { Engine } from "../../../api/types";

export interface Credentials {
  username: string;
  password: string;
  host: string;
  port: number;
  database?: string | null;
}

/** Single-quotes a value for a POSIX shell. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Ready-to-paste client commands for the engine. */
export function connectionCommands(engine: Engine, c: Credentials): { tool: string; command: string }[] {
  const db = c.database ?? "";
  const enc = encodeURIComponent;
  switch (engine) {
    case "postgres":
      return [{ tool: "psql", command: `psql ${q(`postgresql://${enc(c.username)}:${enc(c.password)}@${c.host}:${c.port}/${db || "postgres"}`)}` }];
    case "mysql":
    case "mariadb":
      return [{ tool: "mysql", command: `mysql -h ${c.host} -P ${c.port} -u ${q(c.username)} -p${q(c.password)}${db ? ` ${q(db)}` : ""}` }];
    case "mongodb":
      return [{ tool: "mongosh", command: `mongosh ${q(`mongodb://${enc(c.username)}:${enc(c.password)}@${c.host}:${c.port}/${db}?authSource=admin`)}` }];
    case "redis":
      return [{ tool: "redis-cli", command: `redis-cli -h ${c.host} -p ${c.port} --user ${q(c.username)} --pass ${q(c.password)}` }];
    case "elasticsearch":
      return [{ tool: "curl", command: `curl -u ${q(`${c.username}:${c.password}`)} https://${c.host}:${c.port}/` }];
  }
}
