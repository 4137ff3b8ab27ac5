#!/usr/bin/env node
// Installs (as root) or names the Debian packages the split topology needs; see system-deps.mjs.
import { ensureSystemDeps } from "./system-deps.mjs";
ensureSystemDeps();
