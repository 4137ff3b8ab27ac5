import { freePort } from "../../scripts/devservers/proc.ts";

/** A TCP port that was free on 127.0.0.1 a moment ago (see the kernel's dev servers: picked below the ephemeral range). */
export { freePort };
