// facegan-live control page: WebRTC video from the server, HTTP JSON for the controls.
"use strict";

const $ = (id) => document.getElementById(id);
const meter = { frames: 0, since: performance.now() };
window.__facegan = { framesDecoded: 0, connected: false };  // read by the browser test

async function post(path, body, isJson = true) {
  const r = await fetch(path, {
    method: "POST",
    headers: isJson ? { "Content-Type": "application/json" } : {},
    body: isJson ? JSON.stringify(body) : body,
  });
  const text = await r.text();
  $("message").textContent = r.ok ? "" : `${path}: ${r.status} ${text}`;
  return r.ok;
}

function sliderRow(name, edit) {
  const isAngle = ["yaw", "pitch", "roll"].includes(name);
  const row = document.createElement("tr");
  const off = isAngle ? { min: -45, max: 45, step: 1 } : { min: -1, max: 1, step: 0.05 };
  row.innerHTML = `<td>${name}</td>
    <td><input type="range" id="gain-${name}" min="0" max="3" step="0.05" value="${edit.gain}"></td>
    <td><input type="range" id="offset-${name}" min="${off.min}" max="${off.max}" step="${off.step}" value="${edit.offset}"></td>
    <td><input type="checkbox" id="lock-${name}" ${edit.lock ? "checked" : ""}></td>`;
  const send = () => post("/edit", {
    channel: name,
    gain: parseFloat($(`gain-${name}`).value),
    offset: parseFloat($(`offset-${name}`).value),
    lock: $(`lock-${name}`).checked,
  });
  row.querySelectorAll("input").forEach((el) => el.addEventListener("input", send));
  return row;
}

async function loadState() {
  const state = await (await fetch("/state")).json();
  const body = $("sliders");
  body.innerHTML = "";
  for (const name of state.channels) body.appendChild(sliderRow(name, state.edits[name]));
  $("background").value = state.background;
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
  if (!r.ok) { $("conn").textContent = `offer refused: ${r.status}`; return; }
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
}

function wire() {
  $("calibrate").onclick = () => post("/calibrate", {});
  $("reset").onclick = async () => { await post("/reset", {}); await loadState(); };
  $("background").onchange = (ev) => post("/background", { mode: ev.target.value });
  $("background-file").onchange = (ev) => ev.target.files[0] && post("/background-image", ev.target.files[0], false);
  $("source-file").onchange = (ev) => ev.target.files[0] && post("/source", ev.target.files[0], false);
}

wire();
loadState();
countFrames();
connect();
setInterval(pollStats, 1000);
