// The package version, sent in HELLO as `sidegate-node/VERSION`; test/unit.test.js keeps it
// equal to package.json's.
export const VERSION = "0.1.0";
