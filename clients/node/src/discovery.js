// Where the daemon's socket is (DESIGN.md §2): the same search the daemon does, minus its
// config file, which a client cannot read.

import path from "node:path";

const ROOT_SOCKET = "/run/sidegate/sidegate.sock";

/**
 * @param {{ socketPath?: string, env?: Record<string, string|undefined>, uid?: number }} [options]
 *   `env` and `uid` default to the process's; tests pass their own.
 * @returns {string}
 */
export function resolveSocketPath(options = {}) {
  if (options.socketPath) return options.socketPath;
  const env = options.env ?? process.env;
  if (env.SIDEGATE_SOCKET) return env.SIDEGATE_SOCKET;
  const uid = options.uid ?? (typeof process.getuid === "function" ? process.getuid() : -1);
  if (uid === 0) return ROOT_SOCKET;
  // systemd sets XDG_RUNTIME_DIR to /run/user/UID for login sessions; the same directory is
  // the best guess when a service manager or sudo dropped the variable.
  const runtimeDir = env.XDG_RUNTIME_DIR || (uid >= 0 ? `/run/user/${uid}` : null);
  if (!runtimeDir) return ROOT_SOCKET;
  return path.join(runtimeDir, "sidegate", "sidegate.sock");
}
