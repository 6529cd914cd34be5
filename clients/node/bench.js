#!/usr/bin/env node
// Round-trip latency and client CPU of a `mock` chat through the Node shim.
//
//   node bench.js /path/to/sidegate.sock [--calls 2000] [--model mock/bench] [--concurrency 1] [--warmup 200]
//
// The daemon must be running with a `mock` provider (latency 0). Each call uses
// `cache: "no-store"`, so every call reaches the mock provider rather than the cache.
// Prints p50/p90/p99/max latency in microseconds and this process's CPU time per call
// (process.cpuUsage: the shim's own cost, JSON and framing included; not the daemon's).

import { Client } from "./src/index.js";

function parseArgs(argv) {
  const args = { socketPath: undefined, calls: 2000, model: "mock/bench", concurrency: 1, warmup: 200 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === "--calls") args.calls = Number(next());
    else if (a === "--model") args.model = next();
    else if (a === "--concurrency") args.concurrency = Number(next());
    else if (a === "--warmup") args.warmup = Number(next());
    else if (a === "-h" || a === "--help") {
      console.log("usage: node bench.js SOCKET [--calls N] [--model M] [--concurrency C] [--warmup W]");
      process.exit(0);
    } else if (!a.startsWith("--") && args.socketPath === undefined) args.socketPath = a;
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function run(client, args, calls, latencies) {
  let next = 0;
  const body = (i) => ({ model: args.model, messages: [{ role: "user", content: `bench call ${i}` }] });
  const worker = async () => {
    while (next < calls) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      const r = await client.chat(body(i), { cache: "no-store" });
      const dt = Number(process.hrtime.bigint() - t0) / 1000;
      if (latencies) latencies.push(dt);
      if (!r.choices || r.choices.length === 0) throw new Error(`unexpected answer: ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const client = new Client({ socketPath: args.socketPath });
  await run(client, args, args.warmup, null);

  const latencies = [];
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run(client, args, args.calls, latencies);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await client.close();

  latencies.sort((a, b) => a - b);
  const fmt = (us) => us.toFixed(1).padStart(10);
  const rows = [
    ["socket", client.socketPath],
    ["model", args.model],
    ["calls", `${args.calls} (concurrency ${args.concurrency}, warmup ${args.warmup})`],
    ["node", process.version],
    ["p50 latency", `${fmt(percentile(latencies, 50))} µs`],
    ["p90 latency", `${fmt(percentile(latencies, 90))} µs`],
    ["p99 latency", `${fmt(percentile(latencies, 99))} µs`],
    ["max latency", `${fmt(latencies[latencies.length - 1])} µs`],
    ["throughput", `${((args.calls / wallUs) * 1e6).toFixed(0).padStart(10)} calls/s`],
    ["client CPU/call", `${fmt((cpu.user + cpu.system) / args.calls)} µs (user ${(cpu.user / args.calls).toFixed(1)}, sys ${(cpu.system / args.calls).toFixed(1)})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
