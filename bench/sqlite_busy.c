/* Preloaded into Kamailio by bench/signaling.sh: gives every SQLite connection that Kamailio
 * 5.6's db_sqlite opens a busy timeout (BENCH_SQLITE_BUSY_MS, 5000 ms unless set), which that
 * version has no parameter for. Without one, a process that finds the file locked by another
 * writer fails its statement at once with SQLITE_BUSY and the CDR or topos row is lost.
 * BENCH_SQLITE_SYNC, when set (e.g. NORMAL), is run as PRAGMA synchronous on each connection. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct sqlite3 sqlite3;

int sqlite3_open_v2(const char *name, sqlite3 **db, int flags, const char *vfs)
{
	/* db_sqlite.so links libsqlite3, so it is loaded by the time db_sqlite opens a file. */
	void *lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_NOLOAD);
	int (*open_v2)(const char *, sqlite3 **, int, const char *) = lib ? dlsym(lib, "sqlite3_open_v2") : NULL;
	int (*busy_timeout)(sqlite3 *, int) = lib ? dlsym(lib, "sqlite3_busy_timeout") : NULL;
	int (*exec)(sqlite3 *, const char *, void *, void *, char **) = lib ? dlsym(lib, "sqlite3_exec") : NULL;
	if (!open_v2 || !busy_timeout || !exec)
		return 1; /* SQLITE_ERROR */
	int rc = open_v2(name, db, flags, vfs);
	if (rc == 0 && *db) {
		const char *ms = getenv("BENCH_SQLITE_BUSY_MS");
		busy_timeout(*db, ms ? atoi(ms) : 5000);
		const char *sync = getenv("BENCH_SQLITE_SYNC");
		if (sync && *sync) {
			char pragma[64];
			snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", sync);
			exec(*db, pragma, NULL, NULL, NULL);
		}
	}
	return rc;
}
