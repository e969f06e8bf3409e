/**
 * The page cache of each SQLite connection (the relay's outbox, every chunk store, a file-backed
 * deduplicator). better-sqlite3 builds SQLite with a 16 MiB one (SQLITE_DEFAULT_CACHE_SIZE=-16000
 * in its deps/defines.gypi, against SQLite's own 2 MiB), and a connection keeps that much in
 * memory once its database has grown past it. The simulated site opens nine (the outbox, the
 * phone's store and six neighbours'), whose stores pass 16 MiB within hours of backups: up to
 * 144 MiB of resident memory, more than a Pi's budget for the whole service. Their pages are
 * written once and read seldom (a restore, a repair, the next uplink window), so SQLite's default
 * is enough; the operating system's file cache serves the rest.
 */
import type Database from 'better-sqlite3';

export const PAGE_CACHE_KIB = 2048;

/** Sets the connection's page cache to PAGE_CACHE_KIB (a negative cache_size is in KiB). */
export function limitPageCache(db: Database.Database): void {
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
}
