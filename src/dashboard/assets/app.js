// sidegate's dashboard: polls /ui/data and draws it with its own small SVG charts. No
// external code; read-only. The page's query (e.g. ?key=...) is passed on to the data request.
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d", "#4b5563"];
  const POLL_MS = 5000;
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  const sum = (a) => a.reduce((x, y) => x + (y || 0), 0);
  const usd = (x) => (x === 0 ? "0" : x >= 1 ? x.toFixed(2) : x >= 0.01 ? x.toFixed(4) : x.toFixed(6));
  const ms = (x) => (x == null ? "-" : x.toFixed(1) + " ms");
  const hhmm = (unix) => new Date(unix * 1000).toTimeString().slice(0, 5);
  const when = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : "-");
  function bytes(b) {
    if (b == null) return "?";
    return b < 1e3 ? b + " B" : b < 1e6 ? (b / 1e3).toFixed(1) + " kB" : (b / 1e6).toFixed(1) + " MB";
  }
  function niceMax(m) {
    if (m <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(m)));
    for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= m) return f * p;
    return 10 * p;
  }

  // A line chart of per-minute series: {name: [values, oldest first]}; a legend gives each
  // series' total over the hour (data-total), the numbers the browser test reads.
  function chart(fig, groups, firstMinute, money) {
    for (const old of fig.querySelectorAll("svg, ul")) old.remove();
    const names = Object.keys(groups);
    const W = 420, H = 150, L = 44, B = 18, T = 6, R = 6;
    const n = names.length ? groups[names[0]].length : 60;
    const max = niceMax(Math.max(0, ...names.flatMap((k) => groups[k].map((v) => v || 0))));
    const x = (i) => L + (i * (W - L - R)) / Math.max(1, n - 1);
    const y = (v) => H - B - ((v || 0) * (H - B - T)) / max;
    const s = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
    for (const v of [0, max / 2, max]) {
      s.append(svgEl("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      const t = svgEl("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
      t.textContent = money ? usd(v) : String(Math.round(v * 100) / 100);
      s.append(t);
    }
    for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
      const t = svgEl("text", { x: x(i), y: H - 4, "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" });
      t.textContent = hhmm((firstMinute + i) * 60);
      s.append(t);
    }
    const legend = el("ul", { class: "legend" });
    names.forEach((name, k) => {
      const color = COLORS[k % COLORS.length];
      const values = groups[name];
      const total = sum(values);
      const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      s.append(svgEl("polyline", { points: pts, fill: "none", stroke: color, "stroke-width": 1.6, "data-series": name, "data-total": total }));
      const swatch = el("i");
      swatch.style.background = color;
      legend.append(el("li", { "data-series": name, "data-total": String(total) }, swatch, `${name} ${money ? usd(total) : total}`));
    });
    if (!names.length) legend.append(el("li", { class: "muted" }, "no traffic in the last hour"));
    fig.append(s, legend);
  }

  // A small line of per-minute values; null (no request that minute) breaks the line.
  function spark(values, color) {
    const W = 120, H = 24;
    const max = Math.max(0, ...values.filter((v) => v != null)) || 1;
    const s = svgEl("svg", { class: "spark", width: W, height: H, viewBox: `0 0 ${W} ${H}` });
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        const [cx, cy] = run[0].split(",");
        s.append(svgEl("circle", { cx, cy, r: 2, fill: color }));
      } else if (run.length) {
        s.append(svgEl("polyline", { points: run.join(" "), fill: "none", stroke: color, "stroke-width": 1.4 }));
      }
      run = [];
    };
    values.forEach((v, i) => {
      if (v == null) return flush();
      run.push(`${(2 + (i * (W - 4)) / Math.max(1, values.length - 1)).toFixed(1)},${(H - 2 - (v * (H - 4)) / max).toFixed(1)}`);
    });
    flush();
    const last = [...values].reverse().find((v) => v != null);
    const title = svgEl("title");
    title.textContent = last == null ? "no requests in the last hour" : `last: ${ms(last)}, max: ${ms(max)}`;
    s.append(title);
    return s;
  }

  function pick(groups, field) {
    const out = {};
    for (const [name, t] of Object.entries(groups)) out[name] = t[field];
    return out;
  }

  function tiles(st, h) {
    const hourRequests = sum(Object.values(h.callers).map((t) => sum(t.requests)));
    const hourCost = sum(Object.values(h.callers).map((t) => sum(t.cost_usd)));
    const c = st.cache;
    const items = [
      ["requests", st.requests.total, "requests since start"],
      ["failed", st.requests.failed, "failed since start"],
      ["in-flight", st.requests.in_flight, "in flight"],
      ["hour-requests", hourRequests, "requests, last hour"],
      ["hour-cost", "$" + usd(hourCost), "cost, last hour"],
      ["cache-hit-ratio", (c.hit_ratio * 100).toFixed(1) + "%", `cache hits (${c.hits} of ${c.hits + c.misses})`],
      ["uptime", st.uptime_s + " s", `up, rss ${bytes(st.rss_bytes)}`],
    ];
    $("tiles").replaceChildren(...items.map(([id, v, label]) => el("div", { class: "tile", id: "tile-" + id }, el("b", {}, v), el("span", {}, label))));
  }

  function config(st) {
    const cfg = st.config, r = cfg.last_reload;
    const rows = [["source", cfg.source], ["version", cfg.version], ["loaded", when(cfg.loaded_at)],
      ["last reload", r ? `${r.result} (${r.cause}) at ${when(r.at)}` : "none since start"]];
    $("config").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { id: "config-" + k.replace(" ", "-") }, v)]));
    $("reload-errors").replaceChildren(...(r && r.result === "failed" ? r.errors : []).map((e) => el("li", {}, e)));
  }

  function deployments(st, h) {
    const rows = st.deployments.map((d) => {
      const hist = h.deployments[d.name] || { requests: [], latency_ms: [], ttft_ms: [] };
      const breaker = d.open_for_ms != null ? `${d.breaker} ${(d.open_for_ms / 1000).toFixed(1)}s` : d.breaker;
      return el("tr", { "data-deployment": d.name },
        el("td", {}, d.name), el("td", {}, d.provider),
        el("td", { class: "breaker" }, el("span", { class: "badge " + d.breaker }, breaker)),
        el("td", { class: "num error-rate" }, (d.error_rate * 100).toFixed(0) + "%"),
        el("td", { class: "num" }, d.in_flight),
        el("td", { class: "num requests" }, sum(hist.requests)),
        el("td", { class: "latency" }, spark(hist.latency_ms, COLORS[0]), " ", ms(d.latency_ms)),
        el("td", { class: "ttft" }, spark(hist.ttft_ms, COLORS[1]), " ", ms(d.ttft_ms)));
    });
    $("deployments").tBodies[0].replaceChildren(...rows);
  }

  function callers(h) {
    const rows = Object.entries(h.callers).map(([name, t]) => el("tr", { "data-caller": name },
      el("td", {}, name), el("td", { class: "num requests" }, sum(t.requests)),
      el("td", { class: "num errors" }, sum(t.errors)), el("td", { class: "num cost" }, usd(sum(t.cost_usd)))));
    $("callers").tBodies[0].replaceChildren(...rows);
  }

  function cache(c) {
    const rows = [["hits", c.hits], ["misses", c.misses], ["bypass", c.bypass], ["coalesced", c.coalesced],
      ["hit ratio", (c.hit_ratio * 100).toFixed(1) + "%"],
      ["memory", `${c.memory.entries} entries, ${bytes(c.memory.bytes)} of ${bytes(c.memory.max_bytes)}, ${c.memory.hits} hits`],
      ["disk", c.disk.state === "open" ? `${c.disk.entries} entries, ${bytes(c.disk.bytes)}, ${c.disk.hits} hits` : c.disk.state + (c.disk.error ? ": " + c.disk.error : "")],
      ["redis", c.redis.state + (c.redis.hits != null ? `, ${c.redis.hits} hits, ${c.redis.misses} misses` : "")]];
    $("cache").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { id: "cache-" + k.replace(" ", "-") }, v)]));
  }

  // The newest `sidegate eval` runs, one row per variant; the run's number opens its report.
  function evals(e) {
    const rows = [];
    for (const run of e.runs) {
      const file = String(run.file).split("/").pop();
      run.variants.forEach((v, i) => rows.push(el("tr", { "data-run": run.run, "data-variant": v.name },
        el("td", {}, i ? "" : el("a", { href: `/ui/eval/${run.run}${location.search}` }, "#" + run.run)),
        el("td", { title: run.file }, i ? "" : file), el("td", { class: "status" }, i ? "" : run.status),
        el("td", {}, v.name), el("td", { class: "num items" }, v.items),
        el("td", { class: "num score" }, v.score_mean == null ? "-" : v.score_mean.toFixed(3)),
        el("td", { class: "num pass" }, v.pass_rate == null ? "-" : (v.pass_rate * 100).toFixed(0) + "%"),
        el("td", { class: "num" }, ms(v.latency_p50_ms)), el("td", { class: "num" }, ms(v.latency_p95_ms)),
        el("td", { class: "num cost" }, usd(v.cost_usd || 0)))));
    }
    $("evals").tBodies[0].replaceChildren(...rows);
    $("evals-note").textContent = e.error ? "cannot read the eval store: " + e.error
      : e.runs.length ? "" : "no `sidegate eval` run yet" + (e.store ? ` (${e.store})` : " (no state directory)");
  }

  function render(d) {
    const st = d.status, h = d.history;
    $("version").textContent = `${st.version}, pid ${st.pid}`;
    $("updated").textContent = "updated " + new Date(d.now * 1000).toLocaleTimeString();
    tiles(st, h);
    config(st);
    deployments(st, h);
    callers(h);
    cache(st.cache);
    evals(d.evals);
    const f = h.first_minute;
    chart($("chart-caller-requests"), pick(h.callers, "requests"), f, false);
    chart($("chart-caller-cost"), pick(h.callers, "cost_usd"), f, true);
    chart($("chart-route-requests"), pick(h.routes, "requests"), f, false);
    chart($("chart-route-cost"), pick(h.routes, "cost_usd"), f, true);
    chart($("chart-model-requests"), pick(h.models, "requests"), f, false);
    chart($("chart-model-cost"), pick(h.models, "cost_usd"), f, true);
    chart($("chart-cache"), h.cache, f, false);
    document.body.dataset.rendered = String(d.now);
  }

  async function tick() {
    try {
      const r = await fetch("/ui/data" + location.search, { cache: "no-store" });
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw new Error(`${r.status}: ${(body.error && body.error.message) || r.statusText}`);
      }
      render(await r.json());
      $("error").hidden = true;
    } catch (e) {
      $("error").textContent = "cannot read /ui/data: " + e.message;
      $("error").hidden = false;
    } finally {
      setTimeout(tick, POLL_MS);
    }
  }
  tick();
})();
