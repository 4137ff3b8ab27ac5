/**
 * Real infrastructure servers started from Debian's packages on free loopback ports in temp
 * dirs: nats-server (JetStream on), etcd, PostgreSQL. Used by the split-mode tests and by
 * `npm run start:split`. Everything binds 127.0.0.1 only; `stop()` kills the process and
 * deletes its directory.
 */
export { startNats, type NatsServer } from "./nats.ts";
export { startEtcd, type EtcdServer } from "./etcd.ts";
export { startPostgres, type PostgresServer } from "./postgres.ts";
