// The Explain view: POST /api/explain (a painting, optionally a finished result), follow the job, show the
// sheet. Independent of app.js: it only shares the job routes.
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("explain-form");
  if (!form) return;
  const status = (text) => { $("explain-status").textContent = text; };
  const fail = (text) => { const e = $("explain-error"); e.textContent = text; e.hidden = false; };

  async function follow(id) {
    for (;;) {
      const r = await fetch(`/api/jobs/${id}`);
      if (!r.ok) { fail(`The job could not be read (${r.status}).`); return; }
      const job = await r.json();
      const p = job.progress || {};
      if (job.state === "done") {
        status("Done.");
        const img = $("explain-sheet");
        img.src = `${job.result}?t=${Date.now()}`;
        img.hidden = false;
        const link = $("explain-json");
        link.href = job.sidecar;
        link.hidden = false;
        $("explain-start").disabled = false;
        return;
      }
      if (job.state === "failed" || job.state === "cancelled") {
        fail(job.error || `The job was ${job.state}.`);
        $("explain-start").disabled = false;
        return;
      }
      status(p.iteration ? `${p.stage || "working"}: step ${p.iteration} of ${p.total_iterations}` : `Job ${job.state}…`);
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("explain-error").hidden = true;
    $("explain-sheet").hidden = true;
    $("explain-json").hidden = true;
    const fd = new FormData();
    const painting = $("explain-painting").files[0];
    if ($("explain-bundled").checked) fd.append("painting_bundled", "starry-night");
    else if (painting) fd.append("painting", painting);
    else { fail("Choose a painting, or use the bundled one."); return; }
    const result = $("explain-result").files[0];
    if (result) fd.append("result", result);
    fd.append("size", $("explain-size").value || "256");
    $("explain-start").disabled = true;
    status("Uploading…");
    const r = await fetch("/api/explain", { method: "POST", body: fd });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      fail(typeof body.detail === "string" ? body.detail : `The server answered ${r.status}.`);
      $("explain-start").disabled = false;
      return;
    }
    follow(body.id);
  });
})();
