// facegan-live control page: WebRTC video from the server, HTTP JSON for the controls.
"use strict";

const $ = (id) => document.getElementById(id);
const meter = { frames: 0, since: performance.now() };
window.__facegan = { framesDecoded: 0, connected: false };  // read by the browser test
const ACTIONS = {  // what each request does, for a refusal the user can read
  "/edit": "Changing the slider", "/reset": "Resetting the sliders", "/calibrate": "Calibrating",
  "/background": "Changing the background", "/background-image": "Using this background picture",
  "/expression": "Changing the photo's expression",
  "/source": "Using this source photo", "/offer": "Connecting the video",
};

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function post(path, body, isJson = true) {
  let r;
  try {
    r = await fetch(path, {
      method: "POST",
      headers: isJson ? { "Content-Type": "application/json" } : {},
      body: isJson ? JSON.stringify(body) : body,
    });
  } catch (e) {
    say(`${ACTIONS[path]} failed: the server cannot be reached.`, true);
    return null;
  }
  const text = await r.text();
  if (!r.ok) {
    say(`${ACTIONS[path] || path} did not work: ${text.trim() || r.statusText}.`, true);
    return null;
  }
  say("");
  try { return JSON.parse(text); } catch (e) { return {}; }
}

function fmt(v, unit) {
  const n = Number(v);
  return `${Number.isInteger(n) ? n : n.toFixed(2)}${unit}`;
}

function sliderRow(name, label, range, edit) {
  const unit = range.unit;
  const step = unit ? 1 : 0.05;
  const row = document.createElement("tr");
  row.innerHTML = `<th scope="row">${label}</th>
    <td><input type="range" id="gain-${name}" min="${range.gain[0]}" max="${range.gain[1]}" step="0.05"
         value="${edit.gain}" aria-label="${label} gain"> <output id="gain-${name}-value"></output></td>
    <td><input type="range" id="offset-${name}" min="${range.offset[0]}" max="${range.offset[1]}" step="${step}"
         value="${edit.offset}" aria-label="${label} offset"> <output id="offset-${name}-value"></output></td>
    <td><input type="checkbox" id="lock-${name}" ${edit.lock ? "checked" : ""} aria-label="${label} lock"></td>`;
  const show = () => {
    row.querySelector(`#gain-${name}-value`).textContent = `\u00d7${fmt($(`gain-${name}`).value, "")}`;
    row.querySelector(`#offset-${name}-value`).textContent = fmt($(`offset-${name}`).value, unit);
  };
  const send = async () => {
    show();
    const ok = await post("/edit", {
      channel: name,
      gain: parseFloat($(`gain-${name}`).value),
      offset: parseFloat($(`offset-${name}`).value),
      lock: $(`lock-${name}`).checked,
    });
    if (!ok) await syncState();  // show what the server holds, not what was refused
  };
  row.querySelectorAll("input").forEach((el) => el.addEventListener("input", send));
  row.show = show;
  return row;
}

async function loadState() {
  const state = await (await fetch("/state")).json();
  const body = $("sliders");
  body.innerHTML = "";
  for (const name of state.channels) {
    const row = sliderRow(name, state.labels[name], state.ranges[name], state.edits[name]);
    body.appendChild(row);
    row.show();
  }
  showBackground(state);
}

function showBackground(state) {
  const picture = $("background").querySelector('option[value="image"]');
  picture.disabled = !state.has_picture;
  picture.textContent = state.has_picture ? "background picture" : "background picture (upload one first)";
  if (document.activeElement !== $("background")) $("background").value = state.background;
  if (document.activeElement !== $("keep-expression")) $("keep-expression").checked = state.keep_expression;
}

async function syncState() {  // the menu and sliders as the server holds them (another viewer may change them)
  let state;
  try { state = await (await fetch("/state")).json(); } catch (e) { return; }
  showBackground(state);
  for (const name of state.channels) {
    const e = state.edits[name];
    for (const [key, v] of [["gain", e.gain], ["offset", e.offset]]) {
      const el = $(`${key}-${name}`);
      if (el && document.activeElement !== el && Number(el.value) !== v) el.value = v;
    }
    const lock = $(`lock-${name}`);
    if (lock && document.activeElement !== lock) lock.checked = e.lock;
    const row = $(`gain-${name}`) && $(`gain-${name}`).closest("tr");
    if (row && row.show) row.show();
  }
}

async function connect() {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (ev) => { $("video").srcObject = ev.streams[0] || new MediaStream([ev.track]); };
  pc.onconnectionstatechange = () => {
    $("conn").textContent = pc.connectionState;
    window.__facegan.connected = pc.connectionState === "connected";
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {  // no trickle ICE: send the offer with all candidates
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const r = await fetch("/offer", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  if (!r.ok) { $("conn").textContent = `no video: ${(await r.text()).trim()}`; return; }
  await pc.setRemoteDescription(await r.json());
}

function countFrames() {
  const video = $("video");
  const tick = () => {
    meter.frames += 1;
    window.__facegan.framesDecoded += 1;
    video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
}

async function pollStats() {
  const now = performance.now();
  $("fps").textContent = (meter.frames / ((now - meter.since) / 1000)).toFixed(1);
  meter.frames = 0; meter.since = now;
  try {
    const s = await (await fetch("/stats")).json();
    $("server-fps").textContent = s.fps.toFixed(1);
    $("latency").textContent = s.latency_p50_ms.toFixed(0);
    $("status").textContent = s.status;
  } catch (e) { /* server gone: keep the last numbers */ }
  await syncState();
}

async function upload(path, file) {
  if (!file) return;
  say(`${ACTIONS[path]}...`);
  const reply = await post(path, file, false);
  // A source photo that limits the result (glasses, a small or turned face) says so here, not only in the log.
  const notes = (reply && reply.warnings) || [];
  if (reply) say(notes.length ? `${ACTIONS[path]}: done, but ${notes.join("; ")}.` : `${ACTIONS[path]}: done.`);
  await syncState();
}

function wire() {
  $("calibrate").onclick = async () => {
    if (await post("/calibrate", {})) say("Calibrated: your face now is the neutral face.");
  };
  $("reset").onclick = async () => { await post("/reset", {}); await loadState(); };
  $("background").onchange = async (ev) => {
    await post("/background", { mode: ev.target.value });
    ev.target.blur();
    await syncState();
  };
  $("keep-expression").onchange = async (ev) => {
    await post("/expression", { keep: ev.target.checked });
    ev.target.blur();
    await syncState();
  };
  $("background-file").onchange = (ev) => upload("/background-image", ev.target.files[0]);
  $("source-file").onchange = (ev) => upload("/source", ev.target.files[0]);
}

wire();
loadState();
countFrames();
connect();
setInterval(pollStats, 1000);
