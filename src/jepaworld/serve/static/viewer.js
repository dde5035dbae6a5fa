// jepaworld viewer: a client of the same HTTP API as everyone else (/v1/models, /v1/episodes...).
"use strict";

const $ = (id) => document.getElementById(id);
let episode = null;   // the last EpisodeState from the server
let models = {};      // name -> ModelInfo
let running = false;

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

function pngSource(b64) { return "data:image/png;base64," + b64; }

function drawImage(canvas, b64) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => {
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      resolve();
    };
    image.src = pngSource(b64);
  });
}

function drawPath(canvas, points, colour, dashed, size) {
  if (!points || points.length < 1 || points[0].length !== 2) return;
  const ctx = canvas.getContext("2d");
  const scale = canvas.width / size;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = 2;
  ctx.setLineDash(dashed ? [6, 4] : []);
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x * scale, y * scale) : ctx.moveTo(x * scale, y * scale)));
  ctx.stroke();
  const [x, y] = points[points.length - 1];
  ctx.beginPath();
  ctx.arc(x * scale, y * scale, 3, 0, 2 * Math.PI);
  ctx.fill();
  ctx.restore();
}

function chart(canvas, values, { bars = false, colour = "#1565c0", label = "" } = {}) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#5b6475";
  ctx.font = "11px system-ui";
  if (!values || values.length === 0) { ctx.fillText("nothing yet", pad, h / 2); return; }
  const top = Math.max(...values), bottom = bars ? 0 : Math.min(...values);
  const span = top - bottom || 1;
  const x = (i) => pad + (i + 0.5) * (w - pad - 8) / values.length;
  const y = (v) => h - pad + 8 - (v - bottom) / span * (h - pad - 8);
  ctx.fillText(top.toPrecision(3), 2, 12);
  ctx.fillText(bottom.toPrecision(3), 2, h - pad + 8);
  ctx.fillText(label, pad, h - 4);
  ctx.strokeStyle = ctx.fillStyle = colour;
  if (bars) {
    const width = Math.max(1, (w - pad - 8) / values.length - 2);
    values.forEach((v, i) => ctx.fillRect(x(i) - width / 2, y(v), width, h - pad + 8 - y(v)));
  } else {
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
    values.forEach((v, i) => { ctx.beginPath(); ctx.arc(x(i), y(v), 2.5, 0, 2 * Math.PI); ctx.fill(); });
  }
}

function strip(element, frames) {
  element.replaceChildren(...frames.map((b64, i) => {
    const image = document.createElement("img");
    image.src = pngSource(b64);
    image.alt = `frame ${i + 1}`;
    return image;
  }));
}

async function show(state, newFrame) {
  episode = state;
  const size = models[state.model].image_size;
  const now = $("now");
  await drawImage(now, state.frame.data[0]);
  await drawImage($("goal"), state.goal.data[0]);
  if (state.goal_state) drawPath(now, [state.goal_state], "#2e7d32", false, size);
  drawPath(now, state.executed_path, "#1565c0", false, size);
  const plan = state.plan;
  if (plan && plan.planned_path && state.state && !state.done) drawPath(now, [state.state, ...plan.planned_path], "#e65100", true, size);
  if (newFrame) {  // a column: the real frame over what the model had imagined it would be
    const column = document.createElement("div");
    column.className = "pair";
    const real = document.createElement("img");
    real.className = "real";
    real.src = pngSource(state.frame.data[0]);
    real.alt = `real frame ${state.step}`;
    const imagined = document.createElement(state.predicted ? "img" : "span");
    imagined.className = "imagined";
    if (state.predicted) {
      imagined.src = pngSource(state.predicted.data[0]);
      imagined.alt = `imagined frame ${state.step}`;
    }
    column.append(real, imagined);
    $("real").append(column);
  }
  if (plan && plan.imagined) strip($("imagined"), plan.imagined.data);
  else if (!models[state.model].has_decoder) {
    $("imagined").textContent = "No decoder for this model: run `jepaworld train-decoder CHECKPOINT` to see imagined frames.";
  }
  chart($("energy-chart"), plan ? plan.energy_per_iteration : [], { label: "iteration" });
  chart($("surprise-chart"), state.surprise, { bars: true, colour: "#6a1b9a", label: "model step" });
  const parts = [`step ${state.step}/${state.max_steps}`];
  if (plan) parts.push(`energy ${plan.energy.toPrecision(3)}`, `plan ${plan.plan_ms.toFixed(0)} ms`);
  if (plan && (plan.context > 1 || plan.blocks)) parts.push(`from ${plan.context} frame(s)${plan.blocks ? ", blocks" : ""}`);
  if (plan && plan.metric !== "latent") parts.push(`${plan.metric} metric`);
  if (state.surprise.length) parts.push(`surprise ${state.surprise[state.surprise.length - 1].toPrecision(3)}`);
  parts.push(state.success ? "goal reached" : state.done ? "out of steps" : "");
  setStatus(parts.filter(Boolean).join(" · "));
  for (const id of ["plan", "step", "run"]) $(id).disabled = state.done || running;
}

function planRequest() {
  return {
    planner: {
      planner: $("planner").value,
      samples: parseInt($("samples").value, 10),
      iterations: parseInt($("iterations").value, 10),
    },
    context: parseInt($("context").value, 10),
    blocks: $("blocks").checked,
    metric: $("metric").value,
  };
}

async function guarded(action) {
  try { await action(); } catch (error) { setStatus(error.message, true); running = false; $("stop").disabled = true; }
}

$("new").onclick = () => guarded(async () => {
  running = false;
  if (episode) call("DELETE", `/v1/episodes/${episode.episode}`).catch(() => {});
  $("real").replaceChildren();
  $("imagined").replaceChildren();
  const state = await call("POST", "/v1/episodes", { model: $("model").value, seed: parseInt($("seed").value, 10) });
  await show(state, true);
});

$("plan").onclick = () => guarded(async () => {
  await show(await call("POST", `/v1/episodes/${episode.episode}/plan`, planRequest()), false);
});

$("step").onclick = () => guarded(async () => {
  if (!episode.plan) await show(await call("POST", `/v1/episodes/${episode.episode}/plan`, planRequest()), false);
  await show(await call("POST", `/v1/episodes/${episode.episode}/step`), true);
});

$("run").onclick = () => guarded(async () => {
  running = true;
  $("stop").disabled = false;
  if (!episode.plan) await show(await call("POST", `/v1/episodes/${episode.episode}/plan`, planRequest()), false);
  while (running && !episode.done) await show(await call("POST", `/v1/episodes/${episode.episode}/step`), true);
  running = false;
  $("stop").disabled = true;
  await show(episode, false);
});

$("stop").onclick = () => { running = false; };

async function loadModels() {
  const data = await call("GET", "/v1/models");
  models = Object.fromEntries(data.models.map((m) => [m.name, m]));
  $("model").replaceChildren(...data.models.map((m) => {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.env_id}${m.has_decoder ? ", decoder" : ""})`;
    return option;
  }));
  setStatus(`${data.models.length} model(s). Choose a seed and press “New episode”.`);
}

$("token").onchange = () => guarded(loadModels);
guarded(loadModels);
