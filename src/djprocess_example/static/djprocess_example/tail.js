// Live tail of a process's log: polls the cursor endpoint (logs_after) and appends new lines
// until the run has ended. Every value goes into the page as text (textContent), never HTML.
(function () {
  "use strict";
  var table = document.getElementById("log");
  if (!table || table.dataset.tailState !== "following") { return; }
  var url = table.dataset.tailUrl;
  var after = Number(table.dataset.after || "0");
  var body = document.getElementById("log-lines");
  var note = document.getElementById("tail-note");
  var MAX_ROWS = 2000, INTERVAL = 500, finishedSeen = 0;

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className === "pre") {
      var pre = document.createElement("pre");
      pre.className = "djp-pre";
      pre.textContent = text;
      td.appendChild(pre);
    } else {
      if (className) { td.className = className; }
      td.textContent = text;
    }
    tr.appendChild(td);
  }

  function append(lines) {
    lines.forEach(function (line) {
      var tr = document.createElement("tr");
      tr.className = "djp-level-" + String(line.level).toLowerCase();
      cell(tr, String(line.sequence));
      cell(tr, line.created, "djp-time");
      cell(tr, line.level);
      cell(tr, line.message, "pre");
      body.appendChild(tr);
      after = line.sequence;
    });
    while (body.rows.length > MAX_ROWS) { body.deleteRow(0); }
  }

  function show(state, actions) {
    var badge = document.getElementById("status");
    badge.textContent = state.status_display;
    badge.dataset.status = state.status;
    badge.className = "level-item tag is-medium " + state.status_class;
    var bar = document.getElementById("progress");
    if (state.progress_total !== null) {
      bar.max = state.progress_total;
      bar.value = state.progress_current;
    }
    bar.textContent = state.progress_text;
    document.getElementById("progress-text").textContent = state.progress_text || "–";
    document.getElementById("duration").textContent = state.duration || "–";
    document.getElementById("started").textContent = state.started || "–";
    document.getElementById("ended").textContent = state.ended || "–";
    document.querySelectorAll("form[data-action]").forEach(function (form) {
      form.hidden = actions.indexOf(form.dataset.action) < 0;
    });
  }

  function poll() {
    fetch(url + "?after=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        append(data.lines);
        show(data.state, data.actions);
        // Stop after two polls in a row saw the run over: the second read every line
        // committed before the first saw it finished.
        finishedSeen = data.state.finished && !data.more ? finishedSeen + 1 : 0;
        if (finishedSeen >= 2) {
          table.dataset.tailState = "ended";
          note.textContent = "The run has ended (" + data.state.status_display + ").";
          return;
        }
        setTimeout(poll, data.more ? 0 : INTERVAL);
      })
      .catch(function (error) {
        note.textContent = "Tail interrupted (" + error.message + "); retrying…";
        setTimeout(poll, INTERVAL * 4);
      });
  }
  poll();
}());
