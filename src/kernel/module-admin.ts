import type { Hono } from "hono";
import { MODULE_CONTROL_STATUS, ModuleControlError, type ModuleControl } from "./module-control.ts";

/** Code of a pause whose drain outlasted DRAIN_TIMEOUT_MS (HTTP 500; see {@link moduleAdminRoutes}). */
export const DRAIN_TIMEOUT = "DRAIN_TIMEOUT";

/**
 * The operations routes that pause and resume this process's modules (`module-control.ts`),
 * added behind the admin-token check of the operations listener (ops-http.ts) of every process
 * that runs modules (monolith, gateway with modules, module-only):
 * - `GET /admin/modules` → `{ modules: [{ name, state, instanceId, drained }] }`;
 * - `POST /admin/modules/:name/pause` → 200 `{ module }` once the module is quiescent; 500
 *   `DRAIN_TIMEOUT` with `{ module, errors }` when its in-flight work outlasted DRAIN_TIMEOUT_MS
 *   (the module is paused, its store closed under that work: do not copy its data until
 *   `GET /admin/modules` shows it `drained`, or resume it);
 * - `POST /admin/modules/:name/resume[?force=true]` → 200 `{ module }` once it runs and is
 *   registered again (refused while another instance serves the module, unless `force`).
 * Refusals answer `{ errors: [{ message, extensions: { code } }] }` (the shape of every admin
 * refusal) with 404 `UNKNOWN_MODULE` or 409 `ALREADY_PAUSED` / `NOT_PAUSED` / `IN_TRANSITION` /
 * `NOT_STARTED` / `TAKEN_OVER` (module-control.ts `MODULE_CONTROL_STATUS`); a
 * resume whose start fails answers 500 `MODULE_START_FAILED` (the module stays paused), an
 * unexpected pause failure 500 `MODULE_PAUSE_FAILED`.
 */
export function moduleAdminRoutes(control: ModuleControl): (app: Hono) => void {
  return (app) => {
    app.get("/admin/modules", (c) => c.json({ modules: control.list() }));
    const act = (verb: "pause" | "resume") =>
      app.post(`/admin/modules/:name/${verb}`, async (c) => {
        try {
          const name = c.req.param("name");
          const module =
            verb === "pause" ? await control.pause(name) : await control.resume(name, { force: c.req.query("force") === "true" });
          if (!module.drained) {
            const message = `module ${name} is paused, but requests or event handlers were still running after DRAIN_TIMEOUT_MS and its store was closed under them: do not copy its data until GET /admin/modules shows it drained, or resume it`;
            return c.json({ module, errors: [{ message, extensions: { code: DRAIN_TIMEOUT } }] }, 500);
          }
          return c.json({ module });
        } catch (err) {
          if (err instanceof ModuleControlError)
            return c.json({ errors: [{ message: err.message, extensions: { code: err.code } }] }, MODULE_CONTROL_STATUS[err.code]);
          const message = err instanceof Error ? err.message : String(err);
          const code = verb === "pause" ? "MODULE_PAUSE_FAILED" : "MODULE_START_FAILED";
          return c.json({ errors: [{ message: `${verb} failed: ${message}`, extensions: { code } }] }, 500);
        }
      });
    act("pause");
    act("resume");
  };
}
