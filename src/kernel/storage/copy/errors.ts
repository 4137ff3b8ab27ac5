/**
 * A data move that cannot go on: the message says why and what to do. `switchyard data` exits
 * 1 on it (see {@link TargetNotEmptyError} for exit 4).
 */
export class CopyError extends Error {
  override readonly name: string = "CopyError";
}

/** The target already holds data of a module and `--replace` was not given: `switchyard data copy` exits 4. */
export class TargetNotEmptyError extends CopyError {
  override readonly name = "TargetNotEmptyError";
}
