// autoreward studio: ranking, feedback, next iteration, live progress, comparisons.
// Texts from the server are inserted with textContent (never as markup); fragments of HTML
// come only from the studio's own templates, which escape everything from a run.
"use strict";

const token = document.querySelector('meta[name="studio-token"]')?.content || "";
const header = document.getElementById("summary");
const runId = header?.dataset.run;

// ------------------------------------------------------------------ ranking
let ranking = [];  // [{cand, place}] best first

function renderRanking() {
  const list = document.getElementById("ranking");
  if (!list) return;
  list.replaceChildren();
  ranking.forEach((r, k) => {
    const li = document.createElement("li");
    li.value = r.place;
    li.draggable = true;
    li.dataset.k = k;
    li.textContent = `candidate ${r.cand}` + (k > 0 && ranking[k - 1].place === r.place ? " (tied)" : "");
    list.appendChild(li);
  });
  document.querySelectorAll(".place").forEach((el) => {
    const r = ranking.find((x) => String(x.cand) === el.dataset.cand);
    el.textContent = r ? `#${r.place}` : "";
  });
}

function renumber() {  // places after a reorder: keep ties that stay adjacent
  let place = 0;
  ranking.forEach((r, k) => {
    if (!(k > 0 && r.tie)) place = k + 1;
    r.place = place;
  });
}

function addRank(cand, tie) {
  ranking = ranking.filter((r) => r.cand !== cand);
  ranking.push({ cand, tie: tie && ranking.length > 0 });
  renumber();
  renderRanking();
}

document.addEventListener("click", (ev) => {
  const t = ev.target;
  if (!(t instanceof HTMLElement)) return;
  if (t.classList.contains("rank-next")) addRank(Number(t.dataset.cand), false);
  else if (t.classList.contains("rank-tie")) addRank(Number(t.dataset.cand), true);
  else if (t.id === "clear-ranking") { ranking = []; renderRanking(); }
  else if (t.id === "sync-play") syncPlay();
  else if (t.id === "show-diff") showDiff();
  else if (t.classList.contains("frames-button")) frameStrip(t);
});

let dragged = null;
document.addEventListener("dragstart", (ev) => {
  const li = ev.target;
  if (li instanceof HTMLLIElement && li.parentElement?.id === "ranking") {
    dragged = Number(li.dataset.k);
    li.classList.add("dragging");
  }
});
document.addEventListener("dragover", (ev) => {
  if (dragged !== null && ev.target instanceof HTMLLIElement) ev.preventDefault();
});
document.addEventListener("drop", (ev) => {
  const li = ev.target;
  if (dragged === null || !(li instanceof HTMLLIElement)) return;
  ev.preventDefault();
  const [moved] = ranking.splice(dragged, 1);
  moved.tie = false;
  ranking.splice(Number(li.dataset.k), 0, moved);
  dragged = null;
  renumber();
  renderRanking();
});
document.addEventListener("dragend", () => { dragged = null; renderRanking(); });

// ------------------------------------------------------------------ next iteration
document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement) || form.id !== "turn") return;
  ev.preventDefault();
  const notes = {};
  document.querySelectorAll(".note-input").forEach((el) => {
    if (el.value.trim()) notes[el.dataset.cand] = el.value;
  });
  const edits = [];
  document.querySelectorAll(".use-edit:checked").forEach((box) => {
    const code = document.querySelector(`.code-input[data-cand="${box.dataset.cand}"]`).value;
    edits.push({ candidate: Number(box.dataset.cand), code });
  });
  const preferred = document.querySelector('input[name="preferred"]:checked');
  const body = {
    iteration: Number(form.dataset.iteration),
    text: document.getElementById("feedback").value,
    ranking: ranking.map((r) => r.cand),
    ranks: ranking.map((r) => r.place),
    preferred: preferred ? Number(preferred.value) : null,
    notes,
    edits,
  };
  const error = document.getElementById("turn-error");
  error.textContent = "";
  const button = document.getElementById("next");
  button.disabled = true;
  button.textContent = "saving, checking the model…";
  const resp = await fetch(`/runs/${encodeURIComponent(runId)}/next`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Studio-Token": token },
    body: JSON.stringify(body),
  });
  const answer = await resp.json();
  if (!resp.ok) {
    error.textContent = answer.error + (answer.hint ? ` (${answer.hint})` : "");
    button.disabled = false;
    button.textContent = "Next iteration";
    return;
  }
  form.querySelectorAll("textarea, button").forEach((el) => { el.disabled = true; });
  const saved = document.createElement("p");
  saved.className = "saved";
  saved.textContent = `Saved to ${answer.saved}; iteration ${body.iteration + 1} is running.`;
  form.appendChild(saved);
  showJob(answer.job);
});

// ------------------------------------------------------------------ live progress
function showJob(job) {
  const box = document.getElementById("progress");
  if (!box || !job) return;
  box.hidden = false;
  let text = job.state;
  if (job.state === "failed") text += ` (exit ${job.returncode}; see ${job.log} in the run directory)`;
  else if (job.state === "finished" && !job.new_iteration) {
    text += ": the loop ran no new iteration (it stops once the target fitness is reached; " +
      `see ${job.log} in the run directory)`;
  }
  document.getElementById("job-state").textContent = text;
}

function describe(e) {
  const parts = [e.event.replace("_", " ")];
  if (e.iteration !== undefined) parts.push(`iteration ${e.iteration}`);
  if (e.candidate !== undefined) parts.push(`candidate ${e.candidate}`);
  if (e.phase) parts.push(e.phase);
  if (e.state) parts.push(e.state);
  if (e.steps !== undefined) parts.push(`${e.steps}${e.total_steps ? " / " + e.total_steps : ""} steps`);
  if (e.fitness !== undefined) parts.push(`fitness ${Number(e.fitness).toPrecision(4)}`);
  if (e.reason) parts.push(e.reason);
  return parts.join(" · ");
}

const shown = new Set(document.querySelectorAll("section.iteration").length ?
  [...document.querySelectorAll("section.iteration")].map((s) => s.dataset.iteration) : []);

async function refreshIteration(i) {
  const resp = await fetch(`/runs/${encodeURIComponent(runId)}/iterations/${i}`);
  if (!resp.ok) return;
  const html = await resp.text();
  const tpl = document.createElement("template");
  tpl.innerHTML = html;  // a fragment of the studio's own template (everything escaped)
  const fresh = tpl.content.querySelector("section.iteration");
  const old = document.getElementById(`iter-${i}`);
  const open = old?.querySelector("#turn");
  if (old && open) return;  // never replace the form the person is filling in
  if (old) old.replaceWith(fresh); else document.getElementById("iterations").appendChild(fresh);
  shown.add(String(i));
}

function follow() {
  if (!runId || !window.EventSource) return;
  const source = new EventSource(`/runs/${encodeURIComponent(runId)}/events?offset=${header.dataset.offset}`);
  const list = document.getElementById("events");
  source.addEventListener("progress", (msg) => {
    const e = JSON.parse(msg.data);
    document.getElementById("progress").hidden = false;
    if (e.event === "progress") {
      document.getElementById("phase").textContent = describe(e);
    } else {
      const li = document.createElement("li");
      li.textContent = describe(e);
      list.appendChild(li);
      list.scrollTop = list.scrollHeight;
    }
    if (e.event === "phase") document.getElementById("phase").textContent = `phase: ${e.phase}`;
    const done = e.event === "candidate" && ["trained", "pruned", "failed", "failed_train", "duplicate"].includes(e.state);
    if (e.event === "iteration_start" || done || e.event === "iteration_end") refreshIteration(e.iteration);
  });
  source.addEventListener("job", (msg) => {
    const job = JSON.parse(msg.data);
    showJob(job);
    if (job.state !== "running") {
      document.querySelectorAll("section.iteration").forEach((s) => refreshIteration(s.dataset.iteration));
    }
  });
}
follow();

// ------------------------------------------------------------------ comparisons
function videoOf(value) {
  const [i, j] = value.split(".");
  return document.querySelector(`#iter-${i}-cand-${j} video`);
}

function syncPlay() {
  const box = document.getElementById("compare");
  const a = videoOf(document.getElementById("cmp-a").value);
  const b = videoOf(document.getElementById("cmp-b").value);
  box.replaceChildren();
  box.hidden = false;
  if (!a || !b) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = "Both candidates need a video to be played in sync.";
    box.appendChild(p);
    return;
  }
  const left = a.cloneNode(); const right = b.cloneNode();
  [left, right].forEach((v) => { v.controls = false; v.loop = true; v.muted = true; box.appendChild(v); });
  left.addEventListener("timeupdate", () => {
    if (Math.abs(right.currentTime - left.currentTime) > 0.15) right.currentTime = left.currentTime;
  });
  left.addEventListener("loadeddata", () => { left.currentTime = 0; right.currentTime = 0; });
  Promise.all([left.play(), right.play()]).catch(() => {});
}

async function showDiff() {
  const a = document.getElementById("cmp-a").value;
  const b = document.getElementById("cmp-b").value;
  const resp = await fetch(`/runs/${encodeURIComponent(runId)}/diff?a=${a}&b=${b}`);
  const box = document.getElementById("compare");
  box.replaceChildren();
  box.hidden = false;
  const div = document.createElement("div");
  div.className = "diff-view";
  div.innerHTML = await resp.text();  // the studio's own escaped diff markup
  box.appendChild(div);
}

async function frameStrip(button) {
  const video = button.closest("article").querySelector("video");
  const strip = button.nextElementSibling;
  strip.replaceChildren();
  const copy = video.cloneNode();
  copy.muted = true;
  await new Promise((ok) => { if (copy.readyState >= 1) ok(); else copy.addEventListener("loadedmetadata", ok, { once: true }); });
  const n = 8;
  for (let k = 0; k < n; k++) {
    copy.currentTime = (copy.duration * (k + 0.5)) / n;
    await new Promise((ok) => copy.addEventListener("seeked", ok, { once: true }));
    const canvas = document.createElement("canvas");
    canvas.width = copy.videoWidth; canvas.height = copy.videoHeight;
    canvas.getContext("2d").drawImage(copy, 0, 0);
    canvas.title = `t = ${copy.currentTime.toFixed(1)} s`;
    strip.appendChild(canvas);
  }
}
