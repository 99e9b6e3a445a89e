// hvroll dashboard: live updates and operator controls. No dependency, no external request.
(function () {
  "use strict";
  const body = document.body;
  const every = Number(body.dataset.refreshS || 0) * 1000;
  const liveState = document.getElementById("live-state");

  async function refresh() {
    // Fetch the page again and swap what changed: the campaign badge and <main>.
    const page = await fetch(location.href, {cache: "no-store", headers: {Accept: "text/html"}});
    if (!page.ok) { return; }
    const doc = new DOMParser().parseFromString(await page.text(), "text/html");
    for (const id of ["main", "campaign-state"]) {
      const fresh = doc.getElementById(id);
      const old = document.getElementById(id);
      if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
    }
    body.dataset.marker = doc.body.dataset.marker || "";
  }

  async function poll() {
    try {
      const r = await fetch("/api/marker", {cache: "no-store"});
      if (r.ok) {
        const marker = (await r.json()).marker;
        if (marker !== body.dataset.marker) {
          await refresh();
          if (liveState) { liveState.textContent = "updated " + new Date().toLocaleTimeString(); }
        }
      }
    } catch (e) {
      if (liveState) { liveState.textContent = "server unreachable, retrying"; }
    }
    setTimeout(poll, every);
  }
  if (every > 0) { setTimeout(poll, every); }

  const controls = document.getElementById("controls");
  if (controls) { controls.addEventListener("submit", function (e) { e.preventDefault(); }); }
  const result = document.getElementById("control-result");
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async function () {
      const action = button.dataset.action;
      if (action === "abort" && !window.confirm("Abort the campaign? Running live migrations are cancelled and nothing new starts.")) {
        return;
      }
      const token = document.getElementById("token").value.trim();
      const r = await fetch("/api/control/" + action, {
        method: "POST", cache: "no-store", headers: {Authorization: "Bearer " + token}});
      if (r.ok) {
        result.textContent = action + " requested";
      } else if (r.status === 403) {
        result.textContent = action + " refused: wrong or missing token";
      } else {
        result.textContent = action + " failed: HTTP " + r.status;
      }
      result.dataset.status = String(r.status);
    });
  }
})();
