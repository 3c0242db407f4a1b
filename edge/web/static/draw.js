/* FieldCoach screen: SVG drawings (skeletons, phase bars, keyframe strip, joint-angle plot).
   Data only ever reaches the page through textContent and SVG attributes, never as HTML. */
"use strict";

const FCDraw = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = { left: "#0030a0", right: "#b00020", centre: "#000", band: "#c9d6ff", grid: "#9a9a9a" };

  function svg(tag, attrs, children) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children || []) el.appendChild(c);
    return el;
  }

  function text(x, y, str, attrs) {
    const t = svg("text", Object.assign({ x, y }, attrs || {}));
    t.textContent = str;
    return t;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  function side(name) {
    if (name.startsWith("left_")) return "left";
    if (name.startsWith("right_")) return "right";
    return "centre";
  }

  /* Skeleton: points are [x, y] in screen units already (or null = not seen). */
  function skeleton(group, pts, meta, opts) {
    const o = Object.assign({ width: 8, joint: 7 }, opts || {});
    for (const [a, b] of meta.edges) {
      const p = pts[a], q = pts[b];
      if (!p || !q) continue;
      const sa = side(meta.joints[a]), sb = side(meta.joints[b]);
      const col = sa === sb ? COLORS[sa] : COLORS.centre;
      group.appendChild(svg("line", { x1: p[0], y1: p[1], x2: q[0], y2: q[1], stroke: col,
        "stroke-width": o.width, "stroke-linecap": "round" }));
    }
    pts.forEach((p, i) => {
      if (!p) return;
      group.appendChild(svg("circle", { cx: p[0], cy: p[1], r: i === 0 ? o.joint * 1.8 : o.joint,
        fill: COLORS[side(meta.joints[i])] }));
    });
  }

  /* Live view into an <svg viewBox="0 0 800 500">: side view in metres, or image coordinates. */
  function live(svgEl, frame, meta) {
    clear(svgEl);
    const W = 800, H = 500;
    if (!frame || !frame.points) {
      svgEl.appendChild(text(W / 2, H / 2, "no one in view", { "text-anchor": "middle", "font-size": 40, "font-weight": 800, fill: "#333" }));
      return;
    }
    let pts;
    if (frame.view === "image") {
      pts = frame.points.map(p => (p ? [p[0] * W, p[1] * H] : null));
    } else {
      const seen = frame.points.filter(Boolean);
      const hips = [frame.points[11], frame.points[12]].filter(Boolean);
      const cu = hips.length ? hips.reduce((s, p) => s + p[0], 0) / hips.length
        : seen.reduce((s, p) => s + p[0], 0) / Math.max(1, seen.length);
      const scale = H / 2.4;  // 2.4 m of height fill the picture
      const floorY = H - 0.15 * scale;
      svgEl.appendChild(svg("line", { x1: 0, y1: floorY, x2: W, y2: floorY, stroke: "#555", "stroke-width": 4 }));
      pts = frame.points.map(p => (p ? [W / 2 + (p[0] - cu) * scale, floorY - p[1] * scale] : null));
    }
    skeleton(svgEl, pts, meta, { width: 10, joint: 8 });
  }

  /* Phase bars: [{name, score|null}] -> horizontal bars 0..100. */
  function phaseBars(container, phases) {
    clear(container);
    if (!phases || !phases.length) {
      const p = document.createElement("p"); p.className = "muted"; p.textContent = "Phase scores not computed.";
      container.appendChild(p); return;
    }
    const rowH = 58, W = 440, labelW = 188, barW = W - labelW - 62;
    const root = svg("svg", { viewBox: `0 0 ${W} ${rowH * phases.length}`, role: "img", "aria-label": "phase scores" });
    phases.forEach((ph, i) => {
      const y = i * rowH;
      root.appendChild(text(0, y + 38, ph.name.replace(/_/g, " "), { "font-size": 26, "font-weight": 800 }));
      root.appendChild(svg("rect", { x: labelW, y: y + 12, width: barW, height: 36, fill: "#fff", stroke: "#000", "stroke-width": 3, rx: 6 }));
      if (ph.score !== null && ph.score !== undefined) {
        const w = Math.max(0, Math.min(100, ph.score)) / 100 * barW;
        const col = ph.score >= 75 ? "#005a1e" : ph.score >= 50 ? "#003f8a" : "#a00000";
        root.appendChild(svg("rect", { x: labelW, y: y + 12, width: w, height: 36, fill: col, rx: 6, class: "phase-bar" }));
        root.appendChild(text(W - 2, y + 42, Math.round(ph.score), { "text-anchor": "end", "font-size": 32, "font-weight": 900 }));
      } else {
        root.appendChild(text(W - 2, y + 42, "—", { "text-anchor": "end", "font-size": 32, "font-weight": 900 }));
      }
    });
    container.appendChild(root);
  }

  /* Keyframe strip: [{name, t, pose}] with poses in metres (u, v), hip-centred. */
  function keyframeStrip(container, keyframes, meta) {
    clear(container);
    const withPose = (keyframes || []).filter(k => k.pose);
    if (!withPose.length) {
      const p = document.createElement("p"); p.className = "muted"; p.textContent = "Keyframes not computed.";
      container.appendChild(p); return;
    }
    let umax = 0.6, vmax = 1.9, vmin = 0;
    for (const k of withPose) for (const p of k.pose) if (p) {
      umax = Math.max(umax, Math.abs(p[0])); vmax = Math.max(vmax, p[1]); vmin = Math.min(vmin, p[1]);
    }
    const W = 150, H = 190, pad = 10;
    const scale = Math.min((W - 2 * pad) / (2 * umax), (H - 2 * pad) / (vmax - vmin + 0.05));
    for (const k of withPose) {
      const fig = document.createElement("figure");
      fig.className = "keyframe";
      const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": k.name });
      const floorY = H - pad - (0 - vmin) * scale;
      root.appendChild(svg("line", { x1: 0, y1: floorY, x2: W, y2: floorY, stroke: "#777", "stroke-width": 2 }));
      const pts = k.pose.map(p => (p ? [W / 2 + p[0] * scale, floorY - p[1] * scale] : null));
      skeleton(root, pts, meta, { width: 4, joint: 3.5 });
      fig.appendChild(root);
      const cap = document.createElement("figcaption");
      cap.textContent = `${k.name.replace(/_/g, " ")} · ${k.t.toFixed(2)} s`;
      fig.appendChild(cap);
      container.appendChild(fig);
    }
  }

  /* Joint-angle plot: curve against the reference band, keyframes and normal ranges marked. */
  function anglePlot(container, c) {
    clear(container);
    if (!c) {
      const p = document.createElement("p"); p.className = "muted"; p.textContent = "No skeleton to plot.";
      container.appendChild(p); return;
    }
    const W = 1000, L = 84, R = 20, B = 54, ROW = 27;
    const tmax = c.t[c.t.length - 1] || 1;
    // keyframe labels: each goes to the first row where it does not overlap the previous label
    const xs = t => L + (t / tmax) * (W - L - R);
    const rowEnds = [];
    const labels = c.keyframes.slice().sort((a, b) => a.t - b.t).map(k => {
      const name = k.name.replace(/_/g, " "), w = name.length * 15 + 16;  // bold 23 px: about 14.5 px a character
      const left = Math.min(Math.max(xs(k.t) - w / 2, 0), W - w);
      let row = rowEnds.findIndex(end => left > end);
      if (row < 0) { row = rowEnds.length; rowEnds.push(0); }
      rowEnds[row] = left + w;
      return { k, name, cx: left + w / 2, row };
    });
    const T = 24 + Math.max(1, rowEnds.length) * ROW, H = T + 330;
    const vals = c.angle.concat(c.band_low || [], c.band_high || []).filter(v => v !== null);
    for (const r of c.ranges) vals.push(r.low, r.high);
    let lo = vals.length ? Math.min(...vals) : 0, hi = vals.length ? Math.max(...vals) : 180;
    lo = Math.max(0, Math.floor((lo - 10) / 20) * 20); hi = Math.min(190, Math.ceil((hi + 10) / 20) * 20);
    const x = t => L + (t / tmax) * (W - L - R);
    const y = v => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${c.joint} angle over time` });
    for (let v = lo; v <= hi; v += 20) {
      root.appendChild(svg("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), stroke: COLORS.grid, "stroke-width": 1 }));
      root.appendChild(text(L - 8, y(v) + 9, `${v}°`, { "text-anchor": "end", "font-size": 25 }));
    }
    const step = tmax > 4 ? 1 : 0.5;
    for (let t = 0; t <= tmax + 1e-9; t += step) {
      root.appendChild(text(x(t), H - 14, `${t.toFixed(step < 1 ? 1 : 0)} s`, { "text-anchor": "middle", "font-size": 25 }));
    }
    if (c.band_low && c.band_high) {
      // one polygon per run of frames where the band exists
      let run = [];
      const flush = () => {
        if (run.length > 1) {
          const top = run.map(i => `${x(c.t[i])},${y(c.band_high[i])}`);
          const bot = run.slice().reverse().map(i => `${x(c.t[i])},${y(c.band_low[i])}`);
          root.appendChild(svg("polygon", { points: top.concat(bot).join(" "), fill: COLORS.band, class: "band" }));
        }
        run = [];
      };
      c.t.forEach((_, i) => { if (c.band_low[i] !== null && c.band_high[i] !== null) run.push(i); else flush(); });
      flush();
    }
    for (const lab of labels) {
      const ly = T - 8 - (rowEnds.length - 1 - lab.row) * ROW;
      root.appendChild(svg("line", { x1: x(lab.k.t), y1: ly + 4, x2: x(lab.k.t), y2: H - B, stroke: "#000", "stroke-width": 2, "stroke-dasharray": "8 6", class: "kf-line" }));
      root.appendChild(text(lab.cx, ly, lab.name, { "text-anchor": "middle", "font-size": 23, "font-weight": 700 }));
    }
    for (const r of c.ranges) {
      root.appendChild(svg("line", { x1: x(r.t), y1: y(r.low), x2: x(r.t), y2: y(r.high), stroke: "#005a1e", "stroke-width": 12, "stroke-linecap": "butt", class: "range" }));
    }
    let seg = [];
    const flushSeg = () => {
      if (seg.length > 1) root.appendChild(svg("polyline", { points: seg.join(" "), fill: "none", stroke: "#000", "stroke-width": 5, "stroke-linejoin": "round", class: "curve" }));
      seg = [];
    };
    c.angle.forEach((v, i) => { if (v === null) flushSeg(); else seg.push(`${x(c.t[i])},${y(v)}`); });
    flushSeg();
    container.appendChild(root);
  }

  return { svg, text, clear, live, phaseBars, keyframeStrip, anglePlot };
})();
