/**
 * The data move between module databases (`switchyard data copy` / `data verify`): any
 * module's tables, found by introspection, copied in key order and batches from SQLite to
 * PostgreSQL or back, restartable, and verified by per-table checksums.
 */
export { CopyError, TargetNotEmptyError } from "./errors.ts";
export { moduleDatabase, describeDatabase, redact } from "./endpoint.ts";
export { prepareModuleCopy, type ModuleCopySpec, type ModuleCopyOptions, type PreparedCopy, type CopyStart } from "./copy-module.ts";
export { verifyModule, formatVerification, type TableVerification } from "./verify-module.ts";
export { createReporter, SILENT, LINE_INTERVAL_MS, type CopyReporter, type ProgressMode, type TextOut } from "./reporter.ts";
export { PROGRESS_TABLE } from "./plan.ts";
